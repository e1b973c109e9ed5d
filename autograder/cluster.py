"""Grade a class on a Dask distributed cluster: the same grading as `course grade`, dispatched to workers.

`course grade LESSON --cluster ADDRESS` sends one task per student to a Dask scheduler (ADDRESS is
`tcp://host:8786`, or `local:N` for a LocalCluster of N one-thread worker processes on this machine,
started and closed here). Only the dispatch changes: grade.py gathers the results and writes them
exactly as it does for the local thread pool.

- No shared filesystem: each task carries the files grading reads (`course_pkg/` and the lesson's
  notebook), at most MAX_SHIPPED_BYTES; the worker unpacks them into a private temporary folder,
  grades them with `submission.grade_one` (so a missing folder or an unreadable notebook reads exactly as
  locally), deletes the folder and returns the LessonResult.
- The grading secret travels with each task from the machine that runs `course grade` (the course
  folder's `.grading_secret` or COURSE_GRADING_SECRET there), so every worker draws the same hidden
  inputs and needs no secret of its own. It is never part of a task's key.
- The canary runs on every worker of a scheduler's cluster: before its first student of a batch,
  each worker process checks that it has the same grader files as this machine (a digest) and grades
  the instructor's solution, which must score full marks. A worker started mid-batch (a replacement)
  does the same. Either failing raises GraderFault, which stops the batch before anything is
  written: a broken worker is never a student's zero. The workers of `local:N` are this machine's
  own processes, started from this Python: as on the local path, the batch has one canary, a task
  beside the students' (each worker still checks the digest).
- A worker lost mid-batch costs nothing: tasks are submitted with unique keys (pure=False) and
  gathered with as_completed, so Dask reruns a lost worker's tasks elsewhere.

Dask is imported only here, and only when a cluster is asked for.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
import uuid
from pathlib import Path

from autograder.results import GraderFault, LessonResult

MAX_SHIPPED_BYTES = 64 * 2**20       # per submission; the engine itself copies at most 50 MiB of course_pkg
MAX_SHIPPED_FILES = 5000
MIN_IN_FLIGHT = 64                   # tasks submitted ahead of results (4 per worker thread, at least this)
CONNECT_TIMEOUT_S = 30
INSTALL_HINT = "grading on a cluster needs Dask: pip install 'pytorch-autograd-course[cluster]'"

ROOT = Path(__file__).resolve().parents[1]


class TooLarge(ValueError):
    """A submission too large to send with a task (the student's result says so)."""


# --- the address -------------------------------------------------------------------------------

def parse_address(address: str) -> tuple[str, int | None]:
    """('local', N) for `local:N` (or `local`: one worker per CPU), else ('scheduler', None)."""
    match = re.fullmatch(r"local(?::(\d+))?", address.strip())
    if match:
        workers = int(match.group(1)) if match.group(1) else (os.cpu_count() or 1)
        if workers < 1:
            raise ValueError(f"--cluster {address}: a local cluster needs at least one worker (local:N, N >= 1)")
        return "local", workers
    if not re.fullmatch(r"[a-z0-9+]+://\S+|[\w.\-\[\]:]+:\d+", address.strip()):
        raise ValueError(f"--cluster {address}: expected a Dask scheduler address (tcp://host:8786) or local:N")
    return "scheduler", None


def require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise ModuleNotFoundError(INSTALL_HINT) from e


# --- shipping a submission ---------------------------------------------------------------------

def shipped_paths(lesson: str) -> list[str]:
    """What grading reads of a submission folder (engine.copy_submission, submission.notebook_problem and
    forbidden.in_source): the package and the notebook wherever the engine looks for it."""
    return ["course_pkg", f"{lesson}.ipynb", f"{lesson}/{lesson}.ipynb", f"lessons/{lesson}/{lesson}.ipynb"]


def pack(folder: Path, lesson: str) -> list[tuple[str, str, bytes | str]] | None:
    """The submission as (relative path, kind, data) entries, or None when there is no folder.

    Kinds: "file" (its bytes), "dir", "link" (the link's own text: links are never followed, as the
    engine never follows them), "other" (a fifo, socket or device: the engine ignores it, and says so).
    Raises TooLarge past MAX_SHIPPED_BYTES / MAX_SHIPPED_FILES."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    entries, total = [], 0

    def add(rel: str, path: Path):
        nonlocal total
        if path.is_symlink():
            entries.append((rel, "link", os.readlink(path)))
        elif path.is_file():
            data = path.read_bytes()
            total += len(data)
            entries.append((rel, "file", data))
        elif path.is_dir():
            entries.append((rel, "dir", b""))
        else:
            entries.append((rel, "other", b""))
        if total > MAX_SHIPPED_BYTES or len(entries) > MAX_SHIPPED_FILES:
            raise TooLarge(f"the submission's course_pkg and notebook are larger than the grader accepts "
                           f"({MAX_SHIPPED_BYTES // 2**20} MiB or {MAX_SHIPPED_FILES} files): it was not graded")

    for rel in shipped_paths(lesson):
        top = folder / rel
        if not (top.exists() or top.is_symlink()):
            continue
        add(rel, top)
        if top.is_symlink() or not top.is_dir():
            continue
        for root, dirs, files in os.walk(top, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in dirs + sorted(files):
                path = Path(root) / name
                add(path.relative_to(folder).as_posix(), path)
    return entries


def unpack(entries, dest: Path) -> None:
    """Recreate packed entries under `dest` (which must not exist yet)."""
    dest.mkdir(parents=True)
    for rel, kind, data in entries:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise GraderFault(f"a malformed packed path reached the worker: {rel!r}")
        path = dest.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_bytes(data)
        elif kind == "link":
            os.symlink(data, path)
        else:
            os.mkfifo(path)


# --- on the worker -----------------------------------------------------------------------------

def grader_fingerprint(lesson: str) -> str:
    """A digest of the files that grade `lesson` (the grader, its sandboxed runner, the lesson's checks,
    the solution package, the lesson's folder; not other lessons' checks and modules): equal on every
    machine that runs the same version of the course. Read afresh for each batch (~20 ms)."""
    from autograder import lessons
    others = {f"{lessons.module_name(other)}.py" for other in lessons.LESSONS if other != lesson}
    digest = hashlib.sha256()
    for top in ("autograder", "course_pkg", f"lessons/{lesson}"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".py", ".ipynb") or not path.is_file() or any(
                    part in ("__pycache__", ".ipynb_checkpoints") for part in path.parts):
                continue
            if path.parent.name in ("checks", "course_pkg") and path.name in others:
                continue
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _where() -> str:
    try:
        from distributed import get_worker
        return f"the worker {get_worker().address}"
    except Exception:
        import socket
        return f"the worker on {socket.gethostname()}"


_CHECK_LOCK = threading.Lock()
_CHECKED: dict[tuple[str, str], str | None] = {}     # (batch, lesson) -> why this worker cannot grade it, or None


def check_worker(lesson: str, secret: bytes, batch: str, fingerprint: str, canary: bool = True) -> None:
    """Raise GraderFault unless this worker runs the same grader files as the machine that sent the
    batch and (canary) grades the instructor's solution with every point. Once per worker process and
    batch (concurrent tasks wait for the first); the verdict holds for the rest of the batch."""
    with _CHECK_LOCK:
        if (batch, lesson) not in _CHECKED:
            _CHECKED[batch, lesson] = _worker_problem(lesson, secret, fingerprint, canary)
        problem = _CHECKED[batch, lesson]
    if problem:
        raise GraderFault(f"on {_where()}: {problem}")


def _worker_problem(lesson: str, secret: bytes, fingerprint: str, canary: bool) -> str | None:
    mine = grader_fingerprint(lesson)
    if mine != fingerprint:
        return (f"this worker runs a different version of the course (grader files digest {mine}, the "
                f"grading machine's {fingerprint}): install the same commit on every worker. No grades were written")
    if not canary:
        return None
    from autograder import submission
    try:
        return submission.canary_problem(submission.grade_canary(lesson, secret))
    except GraderFault as e:
        return str(e)


def grade_canary_packed(lesson: str, secret: bytes, batch: str, fingerprint: str) -> LessonResult:
    """The task that grades a `local:N` batch's one canary (the instructor's solution)."""
    check_worker(lesson, secret, batch, fingerprint, canary=False)
    from autograder import submission
    return submission.grade_canary(lesson, secret)


def grade_packed(lesson: str, entries, secret: bytes, batch: str, fingerprint: str,
                 canary: bool = True) -> LessonResult:
    """The task: check the worker, unpack the submission privately, grade it as locally, clean up."""
    check_worker(lesson, secret, batch, fingerprint, canary)
    from autograder import submission
    with tempfile.TemporaryDirectory(prefix="course-cluster-") as tmp:
        os.chmod(tmp, stat.S_IRWXU)
        folder = Path(tmp) / lesson
        if entries is not None:
            unpack(entries, folder)
        return submission.grade_one(lesson, folder, secret)


# --- on the machine that runs `course grade` ---------------------------------------------------

def dask_setup(worker) -> None:
    """Run in each worker process of a `local:N` cluster as it starts (its preload): those processes
    only grade. (A shared cluster's workers are left as they are.)"""
    from autograder import engine, submission
    submission.skip_iri_grammar()
    engine.only_grading()


def _connect(address: str):
    """(client, cluster to close or None)."""
    require_dask()
    from distributed import Client, LocalCluster
    kind, workers = parse_address(address)
    if kind == "local":
        import dask
        # Quiet: a worker's fault reaches `course grade` as an exception, which says it once, clearly.
        # Without the workers' statistical profiler (a look at every thread's stack each 10 ms, for the
        # dashboard nobody opens here), which costs a few % of each worker's CPU.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.CRITICAL, preload=["autograder.cluster"])
        try:
            return Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, TimeoutError) as e:
        raise GraderFault(f"cannot reach the Dask scheduler at {address}: {e}") from e


def grade_all(address: str, lesson: str, folders: dict[str, Path], secret: bytes):
    """Yield (student, LessonResult) as the cluster finishes them. Raises GraderFault (and cancels
    the rest) on the first grader fault of any worker."""
    from autograder import submission
    client, cluster = _connect(address)
    per_worker = cluster is None                   # a canary on each worker; else one for the batch
    futures = {}                                   # in flight: future -> student
    try:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker
        batch, fingerprint = uuid.uuid4().hex[:12], grader_fingerprint(lesson)
        waiting = iter(enumerate(folders.items()))
        # Track completion on this client's own loop: left to itself, as_completed takes the loop of
        # whatever client is current (an instructor's `with Client(...)`), and a result lost after
        # it was reported done is then awaited on the wrong loop, which raises.
        done = as_completed(loop=client.loop)
        if not per_worker:
            future = client.submit(grade_canary_packed, lesson, secret, batch, fingerprint,
                                   key=f"course-grade-{lesson}-{batch}-canary", pure=False)
            futures[future] = submission.CANARY
            done.add(future)

        def submit_more():
            """Keep a few tasks per worker thread in flight: a class of thousands is not all in memory."""
            limit = max(MIN_IN_FLIGHT, 4 * sum(client.nthreads().values()))
            while len(futures) < limit:
                number, (student, folder) = next(waiting, (None, (None, None)))
                if student is None:
                    return
                try:
                    entries = pack(folder, lesson)
                except TooLarge as e:
                    yield student, submission._failed(lesson, str(e))
                    continue
                future = client.submit(grade_packed, lesson, entries, secret, batch, fingerprint, per_worker,
                                       key=f"course-grade-{lesson}-{batch}-{number}", pure=False)
                futures[future] = student
                done.add(future)

        yield from submit_more()
        for future in done:
            student = futures.pop(future)
            try:
                result = future.result()           # a GraderFault from a worker stops the batch here
            except KilledWorker as e:
                raise GraderFault(f"workers kept dying while grading {student} ({e}); the cluster is "
                                  "unhealthy. No grades were written") from e
            future.release()
            if student == submission.CANARY:
                problem = submission.canary_problem(result)
                if problem:
                    raise GraderFault(problem)
            else:
                yield student, result
            yield from submit_more()
    finally:
        try:
            if futures:                            # a fault: what has not finished is not wanted
                client.cancel(list(futures))
            client.close()
        finally:
            if cluster is not None:
                cluster.close()
