"""Start an untrusted Python process that sees only its work folder, with limits.

(Long because one sandboxed process is one idea: what it sees, what it may use, and the watchdog
that enforces both from outside; split up, each half would be unreadable without the other.)

The process runs `autograder/sandboxed/runner.py` under bubblewrap when it exists: no network, its
own PID namespace, the Python install read-only, nothing of the instructor's tree (solutions,
hidden checks, gradebook). What it is given (`work/in`: the runner, the submission, job files) is
mounted read-only; everything it can write is a size-capped tmpfs, so it cannot fill the disk. It
talks back through two pipes: a channel for the protocol (`engine` parses it, size-capped) and its
stdout/stderr, of which only the tail is kept, so printing a gigabyte costs nothing but time.

When the grader runs as root, each sandbox drops to its own unprivileged uid as the runner's first
act, so RLIMIT_NPROC binds (it never binds root) and a fork bomb stops at `Limits.processes`.

Without bubblewrap it runs as a plain child process with the same resource limits and a warning
that isolation is reduced.

The watchdog lives here, in the trusted process: wall time, resident memory of the whole process
tree, and the per-case time are enforced from outside, so nothing the student code does in its own
process can lift them.
"""
from __future__ import annotations

import errno
import importlib.util
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_ROOT = "/sandbox"   # where the work folder appears inside bubblewrap
MEMORY_POLL_S = 0.1         # reading the memory of a process tree is not free


@dataclass
class Limits:
    wall_s: float = 120.0          # the whole process
    memory_mb: int = 4096          # address space (CPU only) and resident set of the tree
    disk_mb: int = 256             # each writable tmpfs in the sandbox (/sandbox, /tmp, /dev/shm)
    file_mb: int = 64              # largest file the process may write
    open_files: int = 256
    processes: int = 64            # processes and threads (RLIMIT_NPROC; see the module docstring)
    cpu_s: int = 300
    output_kb: int = 64            # how much of the end of stdout/stderr is kept for messages


@dataclass
class Isolation:
    kind: str                       # "bubblewrap" or "none"
    warning: str = ""


def detect_isolation() -> Isolation:
    if os.environ.get("COURSE_SANDBOX") == "none":
        return Isolation("none", "isolation switched off by COURSE_SANDBOX=none")
    bwrap = shutil.which("bwrap")
    if bwrap and sys.platform.startswith("linux"):
        probe = subprocess.run([bwrap, "--unshare-all", "--ro-bind", "/", "/", "true"],
                               capture_output=True)
        if probe.returncode == 0:
            return Isolation("bubblewrap")
        why = probe.stderr.decode(errors="replace").strip()
        return Isolation("none", f"bubblewrap is installed but cannot create namespaces here ({why})")
    return Isolation("none", "bubblewrap (Debian/Ubuntu package 'bubblewrap') is not installed")


_ISOLATION: Isolation | None = None


def isolation() -> Isolation:
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = detect_isolation()
        if _ISOLATION.warning:
            warnings.warn(f"student code runs WITHOUT filesystem/network isolation: {_ISOLATION.warning}. "
                          "Resource limits still apply.", RuntimeWarning, stacklevel=2)
    return _ISOLATION


def _python_roots() -> list[Path]:
    """Folders the sandboxed Python needs to read: its install, its venv and its site-packages."""
    roots = {Path(sys.base_prefix), Path(sys.prefix)}
    if sys.executable:
        # A venv's bin/python is a symlink to the base interpreter, and finds its site-packages
        # through the pyvenv.cfg beside or above it: the venv's folder and the target must be visible.
        exe = Path(sys.executable)
        roots.add(exe.resolve().parent)
        roots.update(d for d in (exe.parent, exe.parent.parent) if (d / "pyvenv.cfg").is_file())
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if p.is_dir() and ("site-packages" in p.parts or "dist-packages" in p.parts):
            roots.add(p)
    # Keep only the outermost folders.
    return sorted(r for r in roots if not any(o != r and o in r.parents for o in roots))


def _masked_packages() -> list[Path]:
    """Installed copies of the course's own packages: hidden, they hold solutions and hidden checks."""
    masked = []
    for name in ("course_pkg", "autograder"):
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec else []:
            masked.append(Path(loc).resolve())
    return masked


def bubblewrap_command(workdir: Path, argv: list[str], cuda: bool, limits: Limits) -> list[str]:
    size = str(limits.disk_mb * 2**20)
    # As root there is no user namespace: the runner drops to a real unprivileged uid instead (it
    # keeps CAP_SETUID/SETGID just for that), which is what makes RLIMIT_NPROC bind.
    namespaces = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
                  if os.geteuid() == 0 else ["--unshare-all"])
    cmd = ["bwrap", *namespaces, "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    system = [Path(d) for d in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc") if Path(d).exists()]
    for system_dir in system:
        cmd += ["--ro-bind", str(system_dir), str(system_dir)]
    # Mounts apply in order: the writable tmpfs's come first, so that a Python installed under one of
    # them (a venv in /tmp, a common CI habit) is bound on top of it rather than hidden by it.
    writable = [Path(SANDBOX_ROOT), Path("/tmp"), Path("/dev/shm")]
    for folder in writable:
        cmd += ["--perms", "1777", "--size", size, "--tmpfs", str(folder)]
    made: set[Path] = set(writable)
    roots = _python_roots()
    for root in roots:
        if not any(d == root or d in root.parents for d in system):
            # bwrap would copy the modes of the folders above (/root is 0700): the dropped uid
            # must be able to walk down to Python, and only that far.
            for parent in reversed(root.parents[:-1]):
                if parent not in made:
                    made.add(parent)
                    cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", str(root), str(root)]
    for hidden in _masked_packages():
        if any(root == hidden or root in hidden.parents for root in roots):
            cmd += ["--tmpfs", str(hidden)]
    if cuda:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
        for extra in ("/sys", "/run/nvidia-persistenced"):
            if Path(extra).exists():
                cmd += ["--ro-bind", extra, extra]
    cmd += ["--ro-bind", str(workdir / "in"), f"{SANDBOX_ROOT}/in",
            "--remount-ro", "/", "--chdir", SANDBOX_ROOT, "--"]
    return cmd + argv


class _UidPool:
    """Unprivileged uids for sandboxes started by a root grader: one per live sandbox, so one
    student's fork bomb uses up only its own process allowance."""

    def __init__(self, size: int = 1000):
        base = 2_000_000_000 + (os.getpid() % 100_000) * size   # apart from other grader processes
        self._free = list(range(base, base + size))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            return self._free.pop()

    def give(self, uid: int):
        with self._lock:
            self._free.append(uid)


_UIDS = _UidPool()


def _own_task_count() -> int:
    """Processes and threads of this user: RLIMIT_NPROC counts them all, ours included."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return count


def _set_limits(limits: Limits, cuda: bool, nproc: int):
    def apply():
        os.setsid()   # its own process group: killed as one
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        cap = nproc if hard == resource.RLIM_INFINITY else min(nproc, hard)
        resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
        if not cuda:   # the CUDA driver reserves huge address ranges; the RSS watchdog covers it
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    return apply


def tree_memory_mb(root_pid: int, proportional: bool = True) -> float:
    """Memory of a process and all its descendants, read from /proc.

    Proportional set size where the kernel gives it: forked children share their parent's pages,
    and counting each child's full resident set would take a fork for a memory bomb.
    `proportional=False` sums resident sets instead (an overestimate: shared pages count once per process).
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += _pss(pid, rss.get(pid, 0)) if proportional else rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 2**20


_HAS_PSS = os.path.exists("/proc/self/smaps_rollup")


def _pss(pid: int, rss: int) -> int:
    if not _HAS_PSS:
        return rss
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0    # it ended since /proc was listed (a fork bomb's children come and go): it holds nothing


def _drain(fd: int, limit: int = 16 * 2**20) -> tuple[bytes, bool]:
    """Whatever a non-blocking pipe holds now (up to `limit`), and whether it reached end of file."""
    chunks, total = [], 0
    while total < limit:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return b"".join(chunks), False
            raise
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks), False


@dataclass
class Process:
    """A running sandboxed process; `wait` enforces the limits."""
    popen: subprocess.Popen
    limits: Limits
    channel: int                     # read end of the protocol pipe
    uid: int | None = None
    started: float = field(default_factory=time.monotonic)
    killed_for: str = ""
    output: bytearray = field(default_factory=bytearray)   # the tail of stdout/stderr
    _open: bool = True
    _memory_read_at: float = 0.0
    _ended: set = field(default_factory=set)   # pipes that reached end of file

    def kill(self, reason: str):
        if not self.killed_for:
            self.killed_for = reason
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def poll_limits(self) -> None:
        now = time.monotonic()
        if now - self.started > self.limits.wall_s:
            self.kill(f"ran past the time limit of {self.limits.wall_s:.0f} s")
        elif now - self._memory_read_at > MEMORY_POLL_S:
            self._memory_read_at = now
            # Resident sets summed bound the proportional size from above and cost a fraction of it
            # to read (smaps_rollup walks every mapping of a torch process): most polls stop there.
            if (tree_memory_mb(self.popen.pid, proportional=False) > self.limits.memory_mb
                    and tree_memory_mb(self.popen.pid) > self.limits.memory_mb):
                self.kill(f"used more than {self.limits.memory_mb} MB of memory")

    def read(self, timeout_s: float) -> bytes:
        """Protocol bytes that arrived within `timeout_s`; stdout/stderr is read too, its tail kept."""
        if not self._open:
            return b""
        out = self.popen.stdout.fileno()
        waiting = [fd for fd in (self.channel, out) if fd not in self._ended]
        if waiting:
            select.select(waiting, [], [], timeout_s)
        elif timeout_s:
            time.sleep(timeout_s)      # both pipes closed: nothing to wait on but the process
        text, ended = _drain(out)
        if ended:
            self._ended.add(out)
        if text:
            self.output += text
            del self.output[:-self.limits.output_kb * 1024]
        data, ended = _drain(self.channel)
        if ended:
            self._ended.add(self.channel)
        return data

    def output_tail(self, limit: int = 1500) -> str:
        return bytes(self.output[-limit:]).decode(errors="replace").strip()

    def close(self):
        """After the process ended: release its pipes and its uid."""
        if self._open:
            self._open = False
            os.close(self.channel)
            self.popen.stdout.close()
            if self.popen.stdin:
                try:
                    self.popen.stdin.close()
                except OSError:
                    pass
            if self.uid is not None:
                _UIDS.give(self.uid)


def start(workdir: Path, script: str, args: list[str], *, limits: Limits, cuda: bool) -> Process:
    """Start `python -I work/in/script CHANNEL_FD [UID] args…` in the sandbox.

    stdin is a pipe for the job handshake; the protocol comes back on the channel pipe.
    """
    iso = isolation()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    uid = _UIDS.take() if iso.kind == "bubblewrap" and os.geteuid() == 0 else None
    runner_args = [str(write_end), str(uid if uid is not None else ""), *args]
    if iso.kind == "bubblewrap":
        inner = [sys.executable, "-I", f"{SANDBOX_ROOT}/in/{script}", *runner_args]
        argv = bubblewrap_command(workdir, inner, cuda, limits)
        nproc = limits.processes            # per uid: only this sandbox's tasks count when root
    else:
        argv = [sys.executable, "-I", str(workdir / "in" / script), *runner_args]
        nproc = limits.processes
    if uid is None:
        nproc += _own_task_count()          # our own uid: its tasks so far count against the limit
    env = {"PATH": "/usr/bin:/bin", "HOME": SANDBOX_ROOT if iso.kind == "bubblewrap" else str(workdir),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    if cuda and "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    try:
        popen = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, preexec_fn=_set_limits(limits, cuda, nproc),
                                 close_fds=True, pass_fds=(write_end,))
    except BaseException:
        os.close(read_end)
        if uid is not None:
            _UIDS.give(uid)
        raise
    finally:
        os.close(write_end)
    os.set_blocking(popen.stdout.fileno(), False)
    return Process(popen, limits, read_end, uid)
