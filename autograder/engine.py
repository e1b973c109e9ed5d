"""Run one lesson's checks on one submission: probes in the sandbox, judges here.

The trusted process (this one) never imports student code. It starts the sandboxed runner in a
fresh work folder at once (so its `import torch` overlaps ours), or takes the one `keep_warm` started
ahead of need, builds the seeded inputs, hands them over with a copy of the submission as a job,
watches the runner's progress under the limits, and judges every case (autograder/judging.py) from
results loaded with `torch.load(weights_only=True)`, each as soon as it arrives.

If the runner dies or overstays a case, that case is an error and a fresh runner takes the cases
still to run, so one crashing or hanging exercise costs only its own points. If the runner never
says "ready" (it could not start Python and import torch and the probes, before any student code
ran), the environment is broken: GraderFault, never a student's zero.

Long because a runner's whole life (started now or ahead of need, watched, replaced after a crash,
discarded) reads best in one place.
"""
from __future__ import annotations

import atexit
import hashlib
import io
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from autograder import lessons, sandbox
from autograder.protocol import Channel, ProtocolError
from autograder.results import CaseVerdict, Failure, GraderFault, LessonResult
from autograder.sandboxed import lazy_dynamo

MAX_RESTARTS = 8
MAX_SUBMISSION_BYTES = 50 * 2**20
MAX_SUBMISSION_FILES = 500


class NoChecks(LookupError):
    """The lesson exists but has no checks module (yet)."""


def available_devices() -> list[str]:
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def case_seed(lesson: str, check_id: str, device: str, secret: bytes | None) -> int:
    """Public checks: the same seed every run. Hidden: derived from the grader's secret."""
    text = f"{lesson}/{check_id}/{device}".encode()
    if secret is None:
        return zlib.crc32(text)
    return int.from_bytes(hashlib.sha256(secret + text).digest()[:4], "little")


def lesson_notebooks(src: Path, lesson: str) -> list[Path]:
    """Where a submission's notebook for `lesson` may be, in the order looked at: beside course_pkg in
    nbgrader's layout, in a lesson folder in a student's workspace, under lessons/ in the instructor's tree."""
    return [src / f"{lesson}.ipynb", src / lesson / f"{lesson}.ipynb", src / "lessons" / lesson / f"{lesson}.ipynb"]


def copy_submission(src: Path, dest: Path, lesson: str) -> list[str]:
    """Copy course_pkg/ and the lesson's notebook; skip links and anything past the size caps."""
    notes, total, count = [], 0, 0
    dest.mkdir(parents=True)
    notebook = next((nb for nb in lesson_notebooks(src, lesson) if nb.is_file() or nb.is_symlink()), None)
    if notebook is not None and not notebook.is_symlink():
        shutil.copyfile(notebook, dest / f"{lesson}.ipynb")
    for item in [src / "course_pkg"]:
        if item.is_symlink():
            notes.append(f"{item.name} is a symbolic link: ignored")
            continue
        if item.is_file():
            shutil.copyfile(item, dest / item.name)
            continue
        if not item.is_dir():
            continue
        for root, dirs, files in os.walk(item, followlinks=False):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(root, d))]
            rel = Path(root).relative_to(src)
            (dest / rel).mkdir(parents=True, exist_ok=True)
            for name in files:
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    notes.append(f"{path.relative_to(src)} is not a regular file: ignored")
                    continue
                size = path.stat().st_size
                count, total = count + 1, total + size
                if count > MAX_SUBMISSION_FILES or total > MAX_SUBMISSION_BYTES:
                    notes.append(f"{path.relative_to(src)} and later files ignored: submission too large")
                    return notes
                shutil.copyfile(path, dest / rel / name)
    return notes


@dataclass
class _Planned:
    key: str
    check: object
    device: str
    case: object


def grade_submission(lesson: str, submission: Path, *, hidden: bool = False, only: set[str] | None = None,
                     devices: list[str] | None = None, secret: bytes | None = None,
                     limits: sandbox.Limits | None = None, quick: bool = False) -> LessonResult:
    """Grade `submission/course_pkg` (and its notebook) for one lesson.

    hidden: also run the hidden checks (the grader does, `course check` does not).
    only: restrict to these check ids (a notebook's check cell asks for one exercise).
    quick: leave out the slow cases (Case.slow) of checks that have others; each result names what it
      left out. `course check` without --full; never grading.
    Raises GraderFault when the sandbox itself cannot run.
    """
    lesson = lessons.resolve(lesson)
    submission = Path(submission)
    limits = limits or sandbox.Limits()
    runner = (_take_spare(limits, devices)          # its torch import overlaps ours
              or _fresh_runner(limits, devices, lessons.sandbox_preload(lesson)))
    try:
        warnings = copy_submission(submission, runner.work / "in" / "submission", lesson)
        import torch  # noqa: F401  (deliberately after the runner started: so is everything that imports it)
        if _ONLY_GRADING:
            lazy_dynamo.install()
        from autograder import checks as checks_pkg, judging
        devices = devices or available_devices()
        runner.cuda = "cuda" in devices
        try:
            module = checks_pkg.load(lesson)
        except ModuleNotFoundError as e:
            raise NoChecks(f"lesson {lesson} has no checks yet") from e
        checks = [c for c in module.CHECKS if (hidden or not c.hidden) and (only is None or c.id in only)]
        from autograder import forbidden
        # The source rule reads the package as text (~50 ms for lesson 10's): while the sandbox runs.
        scan = _InBackground(lambda: forbidden.tampering(submission, forbidden.exercise_modules(checks)))
        with _ONE_TORCH_THREAD:
            with _TRUSTED_TORCH:
                planned, unbuildable, left_out = _plan(lesson, checks, devices, secret, quick and not hidden)
            verdicts = runner.run(planned)
    finally:
        runner.discard()
    iso = sandbox.isolation()
    if iso.warning:
        warnings.append(f"reduced isolation: {iso.warning}")
    tampering = scan.result()
    results = []
    for check in checks:
        by_device = {d: [verdicts[p.key] for p in planned if p.check is check and p.device == d]
                     + unbuildable.get((check.id, d), []) for d in devices}
        results.append(judging.aggregate(check, by_device, submission, tampering))
        results[-1].left_out = left_out.get(check.id, [])
    return LessonResult(lesson, results, warnings)


class _InBackground(threading.Thread):
    """fn() in a thread, started now; result() waits for it and returns its value or raises its error."""

    def __init__(self, fn):
        super().__init__(name="course-background", daemon=True)
        self.fn, self.value, self.error = fn, None, None
        self.start()

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as e:
            self.error = e

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


_ONLY_GRADING = False


def only_grading() -> None:
    """Say that this process only grades (`course check`, `course grade`, a LocalCluster's workers):
    then the references torch.optim computes here get sandboxed/lazy_dynamo.py's stand-in for
    torch._dynamo, as the sandbox's student code does, instead of importing it (~1.2 s). A notebook
    kernel that checks is the student's own process, and keeps its torch as it is."""
    global _ONLY_GRADING
    _ONLY_GRADING = True


def _fresh_runner(limits: sandbox.Limits, devices: list[str] | None, preload: tuple[str, ...] = ()) -> _Runner:
    """A runner in a new private work folder, started now; it waits for its job (and the submission)."""
    work = Path(tempfile.mkdtemp(prefix="course-check-"))
    os.chmod(work, 0o700)
    (work / "in" / "runner").mkdir(parents=True)       # what the sandbox sees, read-only
    for path in (Path(__file__).parent / "sandboxed").glob("*.py"):   # the runner, probes and fixtures
        shutil.copyfile(path, work / "in" / "runner" / path.name)
    if "matplotlib.pyplot" in preload:
        for path in _matplotlib_font_lists():
            (work / "in" / "matplotlib").mkdir(exist_ok=True)
            shutil.copyfile(path, work / "in" / "matplotlib" / path.name)
    runner = _Runner(work, limits, cuda=devices is None or "cuda" in devices, preload=preload)
    try:
        runner.start()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return runner


def _matplotlib_font_lists() -> list[Path]:
    """The font lists this user's matplotlib has cached (where its get_cachedir() looks, found without
    importing it: ~0.1 s). A sandbox that imports pyplot reads them instead of building its own."""
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "matplotlib")
    return sorted(Path(cache).glob("fontlist-v*.json"))


# A notebook's check cell should not wait for a sandbox to start Python and import torch (~2 s of its
# ~2 s). So after each check the kernel starts the next runner ahead of need: it has run no student
# code (the submission is copied in with its job) and serves exactly one grade_submission, as every
# runner does. One spare per process; a forked child does not inherit it.
_spare: tuple[int, _Runner, sandbox.Limits, list[str] | None] | None = None
_spare_lock = threading.Lock()


def warm_wanted() -> bool:
    """Whether the user lets a spare sandbox wait between checks (COURSE_KEEP_WARM=0 says no)."""
    return os.environ.get("COURSE_KEEP_WARM") != "0"


def keep_warm(*, limits: sandbox.Limits | None = None, devices: list[str] | None = None,
              lesson: str | None = None) -> None:
    """Start the runner the next grade_submission (same limits and devices) of this process will use,
    with what `lesson` would import ahead of need (any lesson may still use it)."""
    global _spare
    limits = limits or sandbox.Limits()
    with _spare_lock:
        if _spare is not None and _spare[0] == os.getpid() and _spare[1].alive():
            return
        # IPython too: a check cell whose answer must run the notebook should not wait for its import.
        preload = (*lessons.sandbox_preload(lesson), "IPython.core.interactiveshell")
        _spare = (os.getpid(), _fresh_runner(limits, devices, preload), limits, devices)


def _take_spare(limits: sandbox.Limits, devices: list[str] | None) -> _Runner | None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is None or spare[0] != os.getpid():
        return None
    pid, runner, spare_limits, spare_devices = spare
    if spare_limits == limits and spare_devices == devices and runner.alive():
        return runner
    runner.discard()
    return None


@atexit.register
def drop_spare() -> None:
    """Stop the runner keep_warm started, if any (at exit, and for callers that count sandboxes)."""
    spare = _take_spare(sandbox.Limits(), None)
    if spare is not None:
        spare.discard()


# The references the trusted side builds and replays use torch's global state (torch.manual_seed
# before a model is made, the default dtype): gradings in threads of one process (`course grade
# --jobs 2`, a Dask worker's threads) take turns at it, while their sandboxes run side by side.
_TRUSTED_TORCH = threading.RLock()


class _OneTorchThread:
    """The trusted side's torch ops on one thread while checks run. Their sandbox keeps a core busy,
    and torch's OpenMP threads waiting for it made lesson 08's plan take 0.6 s instead of 0.05 s on
    2 cores. (The sandbox runs on one thread too: references computed the same way.) The count is
    restored after the last check running at once: a notebook kernel's torch is the student's."""

    def __init__(self):
        self.lock, self.running, self.saved = threading.Lock(), 0, None

    def __enter__(self):
        import torch
        with self.lock:
            if self.running == 0:
                self.saved = torch.get_num_threads()
                torch.set_num_threads(1)
            self.running += 1

    def __exit__(self, *exc):
        import torch
        with self.lock:
            self.running -= 1
            if self.running == 0:
                torch.set_num_threads(self.saved)


_ONE_TORCH_THREAD = _OneTorchThread()


def _plan(lesson, checks, devices, secret, quick=False) -> tuple[list[_Planned], dict, dict]:
    """The cases to run; {(check id, device): [grader error]} for a check whose cases cannot be made
    or that names a probe the sandbox does not have (its bug, found before any student code runs); and,
    when quick, {check id: [what each slow case it left out shows]}."""
    import torch
    from autograder import judging
    from autograder.spec import known_probes
    planned, unbuildable, left_out = [], {}, {}
    # Notebook answers run last: the notebook is a whole program, and no exercise case may run after it
    # in the same process (see sandboxed/runner.py).
    for check in sorted(checks, key=lambda c: c.kind == "answer"):
        for device in devices:
            if device == "cuda" and not check.cuda:
                continue
            gen = torch.Generator().manual_seed(case_seed(lesson, check.id, device, secret if check.hidden else None))
            try:
                cases = list(check.make_cases(gen, torch.device(device)))
                unknown = sorted({c.probe for c in cases} - known_probes())
                if unknown or not cases:
                    raise ValueError(f"unknown probe {unknown}" if unknown else "the check made no cases")
            except Exception as e:
                unbuildable[(check.id, device)] = [judging.grader_error(
                    f"the grader could not build this check's cases ({type(e).__name__}: {str(e)[:300]}): a "
                    "fault of the grader, not of your code")]
                continue
            if quick and not all(c.slow for c in cases):
                skipped = [c.shown for c in cases if c.slow]
                if skipped:
                    left_out.setdefault(check.id, []).extend(s for s in skipped if s not in left_out[check.id])
                cases = [c for c in cases if not c.slow]
            for case in cases:
                if check.forbid and case.probe == "call":
                    case.params["trace"] = True
                planned.append(_Planned(f"c{len(planned)}", check, device, case))
    return planned, unbuildable, left_out


class _Preparing(threading.Thread):
    """Computes the judges' references (Case.prepare) while the sandbox runs the cases: a lesson whose
    references train a model (10's) no longer trains it after the student's has trained. A reference
    that fails here is computed again by its judge, which reports the failure. finish() stops it after
    the reference in hand, if the judges did not need the rest (a submission that raised everywhere)."""

    def __init__(self, planned: list[_Planned]):
        super().__init__(name="course-references", daemon=True)
        self.planned, self.stopping = planned, threading.Event()

    def run(self):
        for p in self.planned:
            if p.case.prepare is not None and not self.stopping.is_set():
                with _TRUSTED_TORCH:
                    try:
                        p.case.prepare()
                    except Exception:
                        pass

    def finish(self):
        self.stopping.set()
        if self.ident is not None:
            self.join()


class _JudgingEarly(threading.Thread):
    """Judges each case's result as it arrives, while the sandbox runs the next case: a judge with work
    of its own (lesson 10's replay of a student's dropout masks trains torch's pipeline) is done by the
    time the last case is. _Runner._run asks for a verdict on the very bytes it ends up judging, so a
    result dropped for a rerun (the runner died right after it) is never judged from here."""

    def __init__(self, by_key: dict[str, _Planned]):
        super().__init__(name="course-judging", daemon=True)
        self.by_key, self.arrived, self.verdicts = by_key, queue.SimpleQueue(), {}

    def run(self):
        from autograder import judging
        while (item := self.arrived.get()) is not None:
            key, data = item
            p = self.by_key[key]
            try:
                with _TRUSTED_TORCH:
                    self.verdicts[key] = (data, judging.judge(p.check, p.case, _outcome(data)))
            except Exception:
                pass        # judged again by _run, where the error counts

    def finish(self):
        """Judge what has arrived, then stop."""
        self.arrived.put(None)
        if self.ident is not None:
            self.join()

    def verdict(self, key: str, data: bytes) -> CaseVerdict | None:
        judged = self.verdicts.get(key)
        return judged[1] if judged is not None and judged[0] is data else None


def _outcome(data: bytes) -> dict:
    """A case's result, loaded without running anything it holds."""
    import torch
    try:
        outcome = torch.load(io.BytesIO(data), weights_only=True, map_location=None)
    except Exception as e:
        return {"status": "raised", "error": f"its result could not be read safely ({type(e).__name__})"}
    return outcome if isinstance(outcome, dict) and "status" in outcome else {
        "status": "raised", "error": "its result was malformed"}


class _Runner:
    """The sandboxed runner process(es) for one submission, restarted after a crash or a hang."""

    def __init__(self, work: Path, limits, cuda: bool, preload: tuple[str, ...] = ()):
        self.work, self.limits, self.cuda, self.preload = work, limits, cuda, preload
        self.process = None
        self.attempt = 0
        self.results: dict[str, bytes] = {}
        self.rerun: set[str] = set()

    def start(self):
        inner_work = sandbox.SANDBOX_ROOT if sandbox.isolation().kind == "bubblewrap" else str(self.work)
        try:
            self.process = sandbox.start(self.work, "runner/runner.py", [inner_work, ",".join(self.preload)],
                                         limits=self.limits, cuda=self.cuda)
        except OSError as e:
            raise GraderFault(f"the sandbox could not be started: {e}") from e

    def alive(self) -> bool:
        return self.process is not None and self.process.popen.poll() is None

    def stop(self, reason: str):
        if self.alive():
            self.process.kill(reason)
            self.process.popen.wait()
        if self.process is not None:
            self.process.close()

    def discard(self):
        """Stop it (whatever it is doing) and delete its work folder."""
        self.stop("done")
        shutil.rmtree(self.work, ignore_errors=True)

    def run(self, planned: list[_Planned]) -> dict[str, CaseVerdict]:
        preparing = _Preparing(planned)
        try:
            return self._run(planned, preparing)
        finally:
            preparing.finish()

    def _run(self, planned: list[_Planned], preparing: _Preparing) -> dict[str, CaseVerdict]:
        import torch
        from autograder import judging
        verdicts: dict[str, CaseVerdict] = {}
        by_key = {p.key: p for p in planned}
        pending = list(planned)
        idle_attempts = 0
        while pending:
            job = f"job-{self.attempt}.pt"
            self.results = {}
            torch.save({"cases": [{"key": p.key, "probe": p.case.probe, "params": p.case.params,
                                   "seed": p.case.seed} for p in pending]}, self.work / "in" / job)
            self.process.started = time.monotonic()    # a runner started ahead of need: its wall time starts now
            try:
                self.process.popen.stdin.write(job.encode() + b"\n")
                self.process.popen.stdin.close()
            except OSError:
                pass   # it already died; the outcome below says why
            if self.attempt == 0:
                preparing.start()
            early = _JudgingEarly(by_key)
            early.start()
            try:
                ready, running, ended, last_done = self._watch({p.key: p.case.timeout_s for p in pending},
                                                               early.arrived.put)
            finally:
                early.finish()
            if not ready:
                raise GraderFault(self._start_failure())
            complete = all(p.key in self.results for p in pending)
            if (not ended or not complete) and running is None and last_done is not None:
                # Died between two cases, or said "end" before every case had its result (a submission
                # can write frames on the channel too). The case just finished is suspect (its result
                # may be forged, and the exit came before the runner wrote the real one): it runs again, once.
                self.results.pop(last_done, None)
                if last_done in self.rerun:
                    verdicts[last_done] = CaseVerdict("error", Failure(
                        "the student process exited right after this case, twice"), by_key[last_done].case.shown)
                self.rerun.add(last_done)
            still, finished = [], 0
            culprit = next((p.check for p in pending if p.key == running), None)
            for p in pending:
                data = self.results.get(p.key)
                if p.key in verdicts:
                    continue
                if data is not None:
                    verdicts[p.key] = early.verdict(p.key, data)
                    if verdicts[p.key] is None:
                        with _TRUSTED_TORCH:
                            verdicts[p.key] = judging.judge(p.check, p.case, _outcome(data))
                    finished += 1
                elif p.key == running:
                    verdicts[p.key] = CaseVerdict("error", Failure(self._death_message()), p.case.shown)
                elif p.check is culprit:
                    # The check has already failed; its other cases would only crash or hang again.
                    verdicts[p.key] = CaseVerdict("error", Failure(
                        "not run: an earlier case of this check crashed or hung"), p.case.shown)
                else:
                    still.append(p)     # not reached yet, or to run again after a death between cases
            self.attempt += 1
            idle_attempts = 0 if finished or running else idle_attempts + 1
            if still and (self.attempt > MAX_RESTARTS or idle_attempts >= 2):
                for p in still:
                    verdicts[p.key] = CaseVerdict("error", Failure(
                        f"not run: the student process crashed or hung {self.attempt} times on earlier cases"),
                        p.case.shown)
                still = []
            pending = still
            if pending:
                self.start()
        return verdicts

    def _watch(self, timeouts: dict[str, float], arrived) -> tuple[bool, str | None, bool, str | None]:
        """Wait for the runner; kill it at a limit; hand each result to arrived((key, bytes)). Returns
        whether it said ready, the case left unfinished, whether it said end, and the last case it
        finished."""
        proc, ready, ended, current, last_done, since = self.process, False, False, None, None, time.monotonic()
        channel = Channel()
        try:
            while True:
                done = proc.popen.poll() is not None
                try:
                    events = channel.feed(proc.read(0 if done else 0.01))
                except ProtocolError as e:
                    proc.kill(str(e))
                    events = e.events
                for event in events:
                    if event[0] == "ready":
                        ready = True
                    elif event[0] == "end":
                        ended = True
                    elif event[0] == "start" and event[1] in timeouts:
                        current, since = event[1], time.monotonic()
                    elif event[0] == "done" and event[1] == current:
                        current, last_done = None, event[1]
                    elif event[0] == "result" and event[1] in timeouts:
                        self.results[event[1]] = event[2]
                        arrived((event[1], event[2]))
                if done:
                    return ready, current, ended, last_done
                if current is not None and time.monotonic() - since > timeouts[current]:
                    proc.kill(f"ran past this case's time limit of {timeouts[current]:g} s")
                else:
                    proc.poll_limits()
        finally:
            if proc.popen.poll() is not None:
                proc.close()

    def _start_failure(self) -> str:
        """Why the sandbox never became ready, with the likely cause and its fix."""
        proc, iso = self.process, sandbox.isolation()
        tail = proc.output_tail() or "(it printed nothing)"
        why = f"it was stopped: it {proc.killed_for}" if proc.killed_for else f"it exited with code {proc.popen.returncode}"
        if "execvp" in tail or "No such file or directory" in tail:
            fix = (f"the sandbox cannot see the Python at {sys.executable}; reinstall the course with this "
                   "Python, or report the layout of your Python install")
        elif "No module named" in tail:
            fix = f"install the course's requirements for {sys.executable} (python -m pip install -e .)"
        elif "bwrap" in tail or "namespace" in tail:
            fix = ("bubblewrap cannot create its namespaces here; allow unprivileged user namespaces, run as "
                   "root, or grade without isolation with COURSE_SANDBOX=none (not for untrusted code)")
        else:
            fix = f"run `{sys.executable} -c 'import torch'` and fix what it reports"
        return (f"the grader's sandbox ({iso.kind}) could not start Python and import torch before any student "
                f"code ran; {why}. Its output:\n{tail}\nLikely fix: {fix}. Nothing was graded: this is the "
                "grader's environment, not a student's fault.")

    def _death_message(self) -> str:
        proc = self.process
        if proc.killed_for:
            return f"the student process was stopped: it {proc.killed_for}"
        code = proc.popen.returncode
        if code is not None and code > 128 and sandbox.isolation().kind == "bubblewrap":
            code = 128 - code           # bubblewrap reports its child's death by signal N as exit code 128+N
        tail = proc.output_tail()
        how = f"was killed by signal {_signal_name(-code)}" if code is not None and code < 0 else f"exited with code {code}"
        return f"the student process {how} while running this case" + (f"; its last output:\n{tail}" if tail else "")


def _signal_name(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)
