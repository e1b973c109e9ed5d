"""The untrusted side of a check: runs inside the sandbox, in the same process as student code.

Nothing here is secret and nothing it writes is believed: the trusted judge re-validates every
result and recomputes every reference. This file and `probes.py` are copied into the sandbox's work
folder; they import nothing from `autograder` (the instructor's tree is not visible in here).

Protocol (work folder = argv[1]):
  1. import torch (the slow part) while the trusted side prepares the job;
  2. read one line from stdin: the job file's name; load it (trusted data, weights_only anyway);
  3. for each case: append "start KEY" to `progress`, run the probe, save `results/KEY.pt`,
     append "done KEY". The trusted watchdog kills us if a case overstays its time.
"""
import importlib
import importlib.util
import os
import sys
import traceback

import numpy  # noqa: F401  (imported before any student code can shadow it)
import torch

WORK = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # probes.py beside this file
import probes  # noqa: E402


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


def run_case(ctx, case):
    torch.manual_seed(case.get("seed", 0))
    module, _, name = case["probe"].rpartition(".")   # "probes_graph.walk" lives in probes_graph.py
    probe = getattr(importlib.import_module(module) if module else probes, name)
    try:
        return {"status": "ok", **probe(ctx, **case["params"])}
    except NotImplementedError as e:
        return {"status": "not_implemented", "error": str(e)[:probes.MAX_TEXT]}
    except BaseException as e:   # SystemExit and KeyboardInterrupt from student code included
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        return {"status": "raised", "error": "".join(tb[-6:])[-probes.MAX_TEXT:]}


def save(result, path):
    try:
        torch.save(result, path)
    except BaseException as e:
        torch.save({"status": "raised", "error": f"the result could not be saved: {e!r}"[:probes.MAX_TEXT]}, path)


def warm_up():
    """Pay one-time costs (a torch function mode's first use, importing IPython) before the job arrives."""
    with probes.OpLog():
        torch.ones(2).add(1)
    import IPython.core.interactiveshell  # noqa: F401  (notebook answer probes need it)


def main():
    warm_up()
    progress = open(os.path.join(WORK, "progress"), "a", buffering=1)
    progress.write("ready\n")
    job_name = sys.stdin.readline().strip()
    job = torch.load(os.path.join(WORK, job_name), weights_only=True)
    ctx = Context(os.path.join(WORK, "submission"))
    os.chdir(os.path.join(WORK, "submission"))
    for case in job["cases"]:
        progress.write(f"start {case['key']}\n")
        outcome = run_case(ctx, case)
        save(outcome, os.path.join(WORK, "results", f"{case['key']}.pt"))
        progress.write(f"done {case['key']}\n")
    progress.close()
    os._exit(0)   # skip interpreter shutdown: student atexit hooks have nothing to say


if __name__ == "__main__":
    main()
