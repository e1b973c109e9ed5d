"""Run one lesson's checks on one submission: probes in the sandbox, judges here.

The trusted process (this one) never imports student code. It copies the submission into a fresh
work folder, starts the sandboxed runner at once (so its `import torch` overlaps ours), builds the
seeded inputs, hands them over as a job file, watches the runner's progress under the limits, and
judges every case from results loaded with `torch.load(weights_only=True)`.

If the runner dies or overstays a case, that case is an error and the runner is restarted for the
cases still to run, so one crashing or hanging exercise costs only its own points.
"""
from __future__ import annotations

import ast
import hashlib
import io
import os
import shutil
import signal
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from autograder import lessons, sandbox

MAX_RESTARTS = 8
MAX_RESULT_BYTES = 64 * 2**20
MAX_CHANNEL_BYTES = 256 * 2**20
MAX_SUBMISSION_BYTES = 50 * 2**20
MAX_SUBMISSION_FILES = 500
STATUSES = ("pass", "fail", "error")
OPERATORS = {ast.MatMult: "@", ast.Mod: "%"}   # operators a `forbid` list may name


class NoChecks(LookupError):
    """The lesson exists but has no checks module (yet)."""


@dataclass
class CaseVerdict:
    status: str       # pass | fail | error
    message: str = ""
    shown: str = ""


@dataclass
class CheckResult:
    id: str
    title: str
    points: float
    max: float
    hidden: bool
    devices: dict[str, str] = field(default_factory=dict)   # device -> pass | fail | error
    message: str = ""

    def as_json(self) -> dict:
        return {"points": self.points, "max": self.max, "devices": dict(self.devices),
                "message": self.message, "hidden": self.hidden, "title": self.title}


@dataclass
class LessonResult:
    lesson: str
    checks: list[CheckResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max(self) -> float:
        return sum(c.max for c in self.checks)

    def as_json(self) -> dict:
        return {"score": self.score, "max": self.max,
                "exercises": {c.id: c.as_json() for c in self.checks}, "warnings": list(self.warnings)}


def available_devices() -> list[str]:
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def case_seed(lesson: str, check_id: str, device: str, secret: bytes | None) -> int:
    """Public checks: the same seed every run. Hidden: derived from the grader's secret."""
    text = f"{lesson}/{check_id}/{device}".encode()
    if secret is None:
        return zlib.crc32(text)
    return int.from_bytes(hashlib.sha256(secret + text).digest()[:4], "little")


def copy_submission(src: Path, dest: Path, lesson: str) -> list[str]:
    """Copy course_pkg/ and the lesson's notebook; skip links and anything past the size caps."""
    notes, total, count = [], 0, 0
    dest.mkdir(parents=True)
    # The notebook sits beside course_pkg in nbgrader's layout, in a lesson folder in a student's
    # workspace, and under lessons/ in the instructor's tree; it is copied to the top either way.
    notebooks = [src / f"{lesson}.ipynb", src / lesson / f"{lesson}.ipynb", src / "lessons" / lesson / f"{lesson}.ipynb"]
    notebook = next((nb for nb in notebooks if nb.is_file() or nb.is_symlink()), None)
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
                     limits: sandbox.Limits | None = None) -> LessonResult:
    """Grade `submission/course_pkg` (and its notebook) for one lesson.

    hidden: also run the hidden checks (the grader does, `course check` does not).
    only: restrict to these check ids (a notebook's check cell asks for one exercise).
    """
    lesson = lessons.resolve(lesson)
    submission = Path(submission)
    limits = limits or sandbox.Limits()
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o700)
        given = work / "in"                 # what the sandbox sees, read-only
        (given / "runner").mkdir(parents=True)
        here = Path(__file__).parent / "sandboxed"
        for path in here.glob("*.py"):     # runner.py, probes.py and the lessons' probes_*.py
            shutil.copyfile(path, given / "runner" / path.name)
        warnings = copy_submission(submission, given / "submission", lesson)
        use_cuda = devices is None or "cuda" in devices
        runner = _Runner(work, limits, cuda_wanted=use_cuda)
        runner.start()                      # its torch import overlaps ours below

        import torch  # noqa: F401  (deliberately after the runner started)
        from autograder import checks as checks_pkg
        devices = devices or available_devices()
        runner.cuda = "cuda" in devices
        try:
            module = checks_pkg.load(lesson)
        except ModuleNotFoundError as e:
            runner.stop("not needed")
            raise NoChecks(f"lesson {lesson} has no checks yet") from e
        checks = [c for c in module.CHECKS
                  if (hidden or not c.hidden) and (only is None or c.id in only)]
        planned = _plan(lesson, checks, devices, secret)
        verdicts = runner.run(planned)
        iso = sandbox.isolation()
        if iso.warning:
            warnings.append(f"reduced isolation: {iso.warning}")
        results = [_aggregate(check, devices, planned, verdicts, submission, lesson) for check in checks]
    return LessonResult(lesson, results, warnings)


def _plan(lesson, checks, devices, secret) -> list[_Planned]:
    import torch
    planned = []
    for check in checks:
        for device in devices:
            if device == "cuda" and not check.cuda:
                continue
            gen = torch.Generator().manual_seed(case_seed(lesson, check.id, device, secret if check.hidden else None))
            for case in check.make_cases(gen, torch.device(device)):
                if check.forbid and case.probe == "call":
                    case.params["trace"] = True
                planned.append(_Planned(f"c{len(planned)}", check, device, case))
    return planned


class ProtocolError(Exception):
    """The runner's channel carried something that is not the protocol (student code wrote to it)."""


class _Channel:
    """Parses the runner's protocol from the bytes of its channel pipe, size-capped."""

    def __init__(self):
        self.buffer = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> list[tuple]:
        """Events so far: ("start", key), ("done", key), ("result", key, bytes), ("ready",)."""
        self.total += len(data)
        if self.total > MAX_CHANNEL_BYTES:
            raise ProtocolError(f"sent more than {MAX_CHANNEL_BYTES >> 20} MB of results")
        self.buffer += data
        events = []
        while True:
            end = self.buffer.find(b"\n", 0, 300)
            if end < 0:
                if len(self.buffer) >= 300:
                    raise ProtocolError("wrote something that is not the grader's protocol")
                return events
            words = self.buffer[:end].decode(errors="replace").split(" ")
            if words[0] == "result" and len(words) == 3 and words[2].isdigit():
                size = int(words[2])
                if size > MAX_RESULT_BYTES:
                    raise ProtocolError(f"sent a result larger than {MAX_RESULT_BYTES >> 20} MB")
                if len(self.buffer) < end + 1 + size:
                    return events
                events.append(("result", words[1], bytes(self.buffer[end + 1:end + 1 + size])))
                del self.buffer[:end + 1 + size]
            elif words[0] in ("start", "done") and len(words) == 2 or words == ["ready"]:
                events.append(tuple(words))
                del self.buffer[:end + 1]
            else:
                raise ProtocolError("wrote something that is not the grader's protocol")


class _Runner:
    """The sandboxed runner process(es) for one submission, restarted after a crash or a hang."""

    def __init__(self, work: Path, limits, cuda_wanted: bool):
        self.work, self.limits, self.cuda = work, limits, cuda_wanted
        self.process = None
        self.attempt = 0
        self.results: dict[str, bytes] = {}

    def start(self):
        inner_work = sandbox.SANDBOX_ROOT if sandbox.isolation().kind == "bubblewrap" else str(self.work)
        self.process = sandbox.start(self.work, "runner/runner.py", [inner_work], limits=self.limits,
                                     cuda=self.cuda)

    def stop(self, reason: str):
        self.process.kill(reason)
        self.process.popen.wait()
        self.process.close()

    def run(self, planned: list[_Planned]) -> dict[str, CaseVerdict]:
        import torch
        verdicts: dict[str, CaseVerdict] = {}
        pending = list(planned)
        idle_attempts = 0
        while pending:
            job = f"job-{self.attempt}.pt"
            self.results = {}
            torch.save({"cases": [{"key": p.key, "probe": p.case.probe, "params": p.case.params,
                                   "seed": p.case.seed} for p in pending]}, self.work / "in" / job)
            try:
                self.process.popen.stdin.write(job.encode() + b"\n")
                self.process.popen.stdin.close()
            except OSError:
                pass   # it already died; the outcome below says why
            running = self._watch({p.key: p.case.timeout_s for p in pending})
            still, finished = [], 0
            culprit = next((p.check for p in pending if p.key == running), None)
            for p in pending:
                outcome = self._load(p.key)
                if outcome is not None:
                    verdicts[p.key] = _judge(p, outcome)
                    finished += 1
                elif p.key == running:
                    verdicts[p.key] = CaseVerdict("error", self._death_message(), p.case.shown)
                elif p.check is culprit:
                    # The check has already failed; its other cases would only crash or hang again.
                    verdicts[p.key] = CaseVerdict("error", "not run: an earlier case of this check crashed "
                                                  "or hung", p.case.shown)
                else:
                    still.append(p)
            if still and running is None:
                # Died before any case started: importing torch or reading the job failed.
                for p in still:
                    verdicts[p.key] = CaseVerdict("error", self._death_message(), p.case.shown)
                still = []
            self.attempt += 1
            idle_attempts = 0 if finished else idle_attempts + 1
            if still and (self.attempt > MAX_RESTARTS or idle_attempts >= 2):
                for p in still:
                    verdicts[p.key] = CaseVerdict("error", "not run: the student process crashed or hung "
                                                  f"{self.attempt} times on earlier cases", p.case.shown)
                still = []
            pending = still
            if pending:
                self.start()
        return verdicts

    def _watch(self, timeouts: dict[str, float]) -> str | None:
        """Wait for the runner; kill it at a limit. Returns the key of the case left unfinished."""
        proc, current, since = self.process, None, time.monotonic()
        channel = _Channel()
        try:
            while True:
                done = proc.popen.poll() is not None
                try:
                    events = channel.feed(proc.read(0 if done else 0.01))
                except ProtocolError as e:
                    proc.kill(str(e))
                    events = []
                for event in events:
                    if event[0] == "start" and event[1] in timeouts:
                        current, since = event[1], time.monotonic()
                    elif event[0] == "done" and event[1] == current:
                        current = None
                    elif event[0] == "result" and event[1] in timeouts:
                        self.results[event[1]] = event[2]
                if done:
                    return current
                if current is not None and time.monotonic() - since > timeouts[current]:
                    proc.kill(f"this case ran past its time limit of {timeouts[current]:g} s")
                else:
                    proc.poll_limits()
        finally:
            if proc.popen.poll() is not None:
                proc.close()

    def _load(self, key: str):
        import torch
        data = self.results.get(key)
        if data is None:
            return None
        try:
            outcome = torch.load(io.BytesIO(data), weights_only=True, map_location=None)
        except Exception as e:
            return {"status": "raised", "error": f"its result could not be read safely ({type(e).__name__})"}
        return outcome if isinstance(outcome, dict) and "status" in outcome else {
            "status": "raised", "error": "its result was malformed"}

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


def _judge(p: _Planned, outcome: dict) -> CaseVerdict:
    status = outcome.get("status")
    if status == "not_implemented":
        return CaseVerdict("error", f"not implemented yet ({str(outcome.get('error', ''))[:300]})", p.case.shown)
    if status != "ok":
        return CaseVerdict("error", f"raised an error:\n{str(outcome.get('error', ''))[:3000]}", p.case.shown)
    forbidden = _forbidden_ops(p.check, outcome)
    if forbidden:
        return CaseVerdict("fail", f"delegates to {forbidden}, which this exercise asks you not to use",
                           p.case.shown)
    try:
        problem = p.case.judge(outcome)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as e:
        problem = f"the result cannot be judged: {e}"
    return CaseVerdict("fail" if problem else "pass", problem or "", p.case.shown)


def _forbidden_ops(check, outcome) -> str | None:
    ops = outcome.get("ops") or []
    if not check.forbid or not isinstance(ops, list):
        return None
    for op in ops:
        if isinstance(op, str) and op.rsplit(".", 1)[-1] in check.forbid:
            return f"torch.{op.rsplit('.', 1)[-1]}"
    return None


def forbidden_in_source(check, submission: Path) -> str | None:
    """Static half of the delegation rule, read as text here (the student's code is never run here)."""
    if not check.forbid or not check.target:
        return None
    module, func = check.target.rsplit(".", 1)
    path = submission / "course_pkg" / f"{module}.py"
    try:
        tree = ast.parse(path.read_text(errors="replace")[:2_000_000])
    except (OSError, SyntaxError, ValueError):
        return None
    own = _module_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == func:
            for inner in ast.walk(node):
                # torch.round / x.round, or a bare round(...) that is the builtin (not the student's
                # own helper of that name, nor a torch import, which the op trace catches).
                name = (inner.attr if isinstance(inner, ast.Attribute)
                        else inner.id if isinstance(inner, ast.Name) and inner.id not in own else None)
                if name in check.forbid:
                    return f"{func} uses `{name}`, which this exercise asks you not to use"
                op = OPERATORS.get(type(inner.op)) if isinstance(inner, (ast.BinOp, ast.AugAssign)) else None
                if op in check.forbid:
                    return f"{func} uses the `{op}` operator, which this exercise asks you not to use"
    return None


def _module_names(tree) -> set[str]:
    """Names a module binds itself: its functions, classes, assignments and imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _aggregate(check, devices, planned, verdicts, submission: Path, lesson: str) -> CheckResult:
    result = CheckResult(check.id, check.title, 0.0, float(check.points), check.hidden)
    first_problem = ""
    static = forbidden_in_source(check, submission)
    for device in devices:
        mine = [verdicts[p.key] for p in planned if p.check is check and p.device == device]
        if not mine:
            continue
        status = ("error" if any(v.status == "error" for v in mine)
                  else "fail" if any(v.status == "fail" for v in mine) or static else "pass")
        result.devices[device] = status
        bad = next((v for v in mine if v.status == status), None) if status != "pass" else None
        if bad and not first_problem:
            first_problem = _feedback(check, device, bad)
    if static and not first_problem:
        first_problem = static
    elif static:
        first_problem = f"{static}. Also: {first_problem}"
    passed = bool(result.devices) and all(s == "pass" for s in result.devices.values())
    result.points = float(check.points) if passed else 0.0
    result.message = first_problem
    return result


def _feedback(check, device, verdict: CaseVerdict) -> str:
    if check.hidden:
        # Hidden inputs never reach feedback: say what kind of problem, and a hint if one matched.
        if verdict.status == "error":
            return f"[{device}] a hidden case raised an error or did not finish"
        hint = verdict.message.split("Hint:", 1)[1].strip() if "Hint:" in verdict.message else ""
        return f"[{device}] wrong result on a hidden case" + (f". Hint: {hint}" if hint else "")
    where = f" for {verdict.shown}" if verdict.shown else ""
    return f"[{device}]{where}: {verdict.message}"
