"""The untrusted side of a check: runs inside the sandbox, in the same process as student code.

Nothing here is secret and nothing it writes is believed: the trusted judge re-validates every
result and recomputes every reference. This file and `probes.py` are copied into the sandbox's work
folder; they import nothing from `autograder` (the instructor's tree is not visible in here).

Arguments: CHANNEL_FD UID WORK [PRELOAD]. Protocol:
  0. if UID is given (the grader runs as root), become that unprivileged uid before anything else;
  1. import torch, the probes and PRELOAD (comma-separated modules: the slow part) while the trusted
     side prepares the job, or before anyone knows whose job it will be (a runner started ahead of need);
  2. read one line from stdin: the job file's name in WORK/in; load it (weights_only anyway); copy
     WORK/in/submission to WORK/submission (writable, size-capped); start IPython if a notebook
     answer will need the notebook run;
  3. on the channel: "ready", then per case "start KEY", "result KEY LENGTH" + the torch.save bytes
     of its outcome, "done KEY"; "end" after the last. The trusted watchdog kills us if a case
     overstays its time.
"""
import os
import sys

CHANNEL = int(sys.argv[1])
if sys.argv[2]:
    # First, before any import that could run code from the submission: no root beyond this line.
    uid = int(sys.argv[2])
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import traceback  # noqa: E402

import numpy  # noqa: F401,E402  (imported before any student code can shadow it)
import torch  # noqa: E402

WORK = os.path.abspath(sys.argv[3])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # probes.py beside this file
import fixtures  # noqa: E402
import lazy_dynamo  # noqa: E402
import probes  # noqa: E402
import seal  # noqa: E402

lazy_dynamo.install()   # torch.optim's first step no longer imports torch._dynamo (~1.2 s): see lazy_dynamo.py

probes.ISOLATED = WORK == "/sandbox"
THIS = sys.modules[__name__]   # IPython later puts its own module at sys.modules["__main__"]   # the trusted side passes that folder only under bubblewrap


class Context:
    """What a probe may ask for: the student's modules, loaded from the submission by path."""

    def __init__(self, submission):
        self.submission = submission
        self._package = None

    def module(self, name):
        if self._package is None:
            init = os.path.join(self.submission, "course_pkg", "__init__.py")
            if not os.path.isfile(init):
                raise ImportError("the submission has no course_pkg/__init__.py")
            # Loaded by path so nothing beside the package (a submitted torch.py, say) is importable.
            spec = importlib.util.spec_from_file_location(
                "course_pkg", init, submodule_search_locations=[os.path.dirname(init)])
            package = importlib.util.module_from_spec(spec)
            sys.modules["course_pkg"] = package
            spec.loader.exec_module(package)
            self._package = package
        return importlib.import_module(f"course_pkg.{name}")

    def resolve(self, target):
        module, _, attr = target.rpartition(".")
        return getattr(self.module(module), attr)


def run_case(ctx, case, _seed=torch.manual_seed, _grad_mode=torch._C._set_grad_enabled):
    # Each case starts with autograd on, whatever an earlier case's student code left switched off
    # (torch.set_grad_enabled(False) as a statement): the leak costs the exercise that made it (its probe
    # records grad mode after the call), not the next one.
    _seed(case.get("seed", 0))
    _grad_mode(True)
    module, _, name = case["probe"].rpartition(".")   # "probes_detach.to_numpy" lives in probes_detach.py
    try:
        probe = getattr(importlib.import_module(module) if module else probes, name)
    except (ImportError, AttributeError) as e:        # the trusted side checks names first: not expected
        return {"status": "raised", "error": f"the grader asked for an unknown probe {case['probe']!r}: {e}"}
    try:
        return {"status": "ok", **probe(ctx, **case["params"])}
    except NotImplementedError as e:
        if probes.unwritten(e):
            return {"status": "not_implemented", "error": str(e)[:probes.MAX_TEXT]}
        return {"status": "raised", "error": student_traceback(e)}   # torch's own "not implemented for 'Long'"
    except BaseException as e:   # SystemExit and KeyboardInterrupt from student code included
        return {"status": "raised", "error": student_traceback(e)}
    finally:
        if os.getpid() != probes.PID:
            os._exit(0)   # a process the student code forked has come back here: it has nothing to say


GRADER_FILES = os.path.dirname(os.path.abspath(__file__))


def student_traceback(e):
    """The traceback a student can act on: their frames and torch's, never the grader's own (this
    folder's probes and runner, the op tracer's __torch_function__)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.dirname(os.path.abspath(f.filename)) != GRADER_FILES and f.name != "__torch_function__"]
    shown = "".join(traceback.format_list(frames[-5:]))
    text = ("Traceback (most recent call last):\n" + shown if shown else "") + \
        "".join(traceback.format_exception_only(type(e), e))
    return text[-probes.MAX_TEXT:]


def encode(result, _save=torch.save, _bytes_io=io.BytesIO):
    buffer = _bytes_io()
    try:
        _save(result, buffer)
    except BaseException as e:
        buffer = _bytes_io()
        _save({"status": "raised", "error": f"the result could not be saved: {e!r}"[:probes.MAX_TEXT]}, buffer)
    return buffer.getvalue()


def send(data, _write=os.write, _view=memoryview, _channel=CHANNEL):
    view = _view(data)
    while view:
        view = view[_write(_channel, view):]


def warm_up():
    """Pay one-time costs (a torch function mode's first use, the lessons' probes, PRELOAD) before
    the job arrives. Everything here runs before "ready": if it fails, the sandbox is broken."""
    fonts = os.path.join(WORK, "in", "matplotlib")
    if os.path.isdir(fonts):
        # The trusted side's matplotlib font list: without it, pyplot's import rebuilds one (~0.1 s) in
        # this sandbox's empty HOME. Copied where matplotlib looks, as this HOME is the only writable one.
        shutil.copytree(fonts, os.path.join(os.path.expanduser("~"), ".cache", "matplotlib"), dirs_exist_ok=True)
    with probes.OpLog():
        torch.ones(2).add(1)
    encode({"value": probes.record(torch.ones(2, requires_grad=True) * 2)})   # pickling caches __slotnames__ now
    for name in sorted(os.listdir(os.path.dirname(os.path.abspath(__file__)))):
        if name.startswith("probes_") and name.endswith(".py"):
            importlib.import_module(name[:-3])    # the whole probe layer loads before "ready"
    for name in filter(None, (sys.argv[4] if len(sys.argv) > 4 else "").split(",")):
        importlib.import_module(name)


def main():
    warm_up()
    send(b"ready\n")
    job_name = os.path.basename(sys.stdin.readline().strip())
    job = torch.load(os.path.join(WORK, "in", job_name), weights_only=True)
    # The submission arrives with the job (a runner may be started before anyone knows whose it is).
    submission = os.path.join(WORK, "submission")
    shutil.rmtree(submission, ignore_errors=True)     # a restart without bubblewrap finds the old copy
    if os.path.isdir(os.path.join(WORK, "in", "submission")):
        shutil.copytree(os.path.join(WORK, "in", "submission"), submission)
    else:
        os.makedirs(submission, exist_ok=True)
    if probes.answers_to_run(submission, job["cases"]):
        probes.notebook_shell()         # before any student code (see notebook_shell), and before the seal:
                                        # IPython puts its own module at sys.modules["__main__"]
    lesson_probes = [m for name, m in sorted(sys.modules.items()) if name.startswith("probes_")]
    sealed = seal.Seal([probes, fixtures, seal, THIS, *lesson_probes])
    # Everything the loop below uses is bound here, before any student code runs: student code can
    # rebind module globals, not this frame's locals; and the code of what it calls is compared
    # here, in this frame, before each use.
    run, encode_, send_, reap, broken, exit_, write = run_case, encode, send, probes.reap, sealed.broken, os._exit, os.write
    channel, cases = CHANNEL, tuple({**case} for case in job["cases"])   # not the job's list: code may swap its items
    functions = (run, encode_, send_, reap, broken.__func__)
    codes = tuple((f.__code__, f.__defaults__) for f in functions)
    ctx = Context(submission)
    os.chdir(submission)
    for case in cases:
        key = case["key"]
        send_(f"start {key}\n".encode())
        outcome = run(ctx, case)
        if tuple((f.__code__, f.__defaults__) for f in functions) != codes:
            write(channel, b"the grader's own runner was rewritten by the submission\n")   # not the protocol: fails closed
            exit_(1)
        # A notebook is a whole program that may legitimately change anything (autoreload does); its
        # answer is a value recorded by a probe bound before it ran, and answers are the job's last cases.
        tampered = broken() if case["probe"] != "notebook_answer" else None
        if tampered:
            outcome = {"status": "tampered", "error": tampered}
        data = encode_(outcome)
        reap()
        send_(f"result {key} {len(data)}\n".encode() + data + f"done {key}\n".encode())
    send_(b"end\n")
    exit_(0)   # skip interpreter shutdown: student atexit hooks have nothing to say


if __name__ == "__main__":
    main()
