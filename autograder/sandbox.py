"""Start an untrusted Python process that sees only its work folder, with limits.

The process runs `autograder/sandboxed/runner.py` (copied into the work folder) under
bubblewrap when it exists: no network, its own PID namespace, the Python install read-only, and
nothing of the instructor's tree (solutions, hidden checks, gradebook). Without bubblewrap it runs
as a plain child process with the same resource limits and a warning that isolation is reduced.

The watchdog lives here, in the trusted process: wall time, resident memory of the whole process
tree, and an idle limit on the progress file are enforced from outside, so nothing the student
code does in its own process can lift them.
"""
from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_ROOT = "/sandbox"   # where the work folder appears inside bubblewrap


@dataclass
class Limits:
    wall_s: float = 120.0          # the whole process
    memory_mb: int = 4096          # address space (CPU only) and resident set of the tree
    file_mb: int = 64              # largest file the process may write
    open_files: int = 256
    cpu_s: int = 300


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
    """Folders the sandboxed Python needs to read: its install and its site-packages."""
    roots = {Path(sys.base_prefix), Path(sys.prefix)}
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


def bubblewrap_command(workdir: Path, argv: list[str], cuda: bool) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for system_dir in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"):
        if Path(system_dir).exists():
            cmd += ["--ro-bind", system_dir, system_dir]
    for root in _python_roots():
        cmd += ["--ro-bind", str(root), str(root)]
    for hidden in _masked_packages():
        if any(root == hidden or root in hidden.parents for root in _python_roots()):
            cmd += ["--tmpfs", str(hidden)]
    if cuda:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
        for extra in ("/sys", "/run/nvidia-persistenced"):
            if Path(extra).exists():
                cmd += ["--ro-bind", extra, extra]
    cmd += ["--bind", str(workdir), SANDBOX_ROOT, "--chdir", SANDBOX_ROOT, "--"]
    return cmd + argv


def _set_limits(limits: Limits, cuda: bool):
    def apply():
        os.setsid()   # its own process group: killed as one
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if not cuda:   # the CUDA driver reserves huge address ranges; the RSS watchdog covers it
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    return apply


def _tree_rss_mb(root_pid: int) -> float:
    """Resident memory of a process and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Process:
    """A running sandboxed process; `wait` enforces the limits."""
    popen: subprocess.Popen
    limits: Limits
    started: float = field(default_factory=time.monotonic)
    killed_for: str = ""

    def kill(self, reason: str):
        if not self.killed_for:
            self.killed_for = reason
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def poll_limits(self) -> None:
        if time.monotonic() - self.started > self.limits.wall_s:
            self.kill(f"ran past the time limit of {self.limits.wall_s:.0f} s")
        elif _tree_rss_mb(self.popen.pid) > self.limits.memory_mb:
            self.kill(f"used more than {self.limits.memory_mb} MB of memory")


def start(workdir: Path, script: str, args: list[str], *, limits: Limits, cuda: bool,
          stdout_path: Path) -> Process:
    """Start `python -I script args…` in the sandbox; stdin is a pipe for the job handshake."""
    iso = isolation()
    if iso.kind == "bubblewrap":
        inner = [sys.executable, "-I", f"{SANDBOX_ROOT}/{script}", *args]
        argv = bubblewrap_command(workdir, inner, cuda)
        cwd = workdir
    else:
        argv = [sys.executable, "-I", str(workdir / script), *args]
        cwd = workdir
    env = {"PATH": "/usr/bin:/bin", "HOME": SANDBOX_ROOT if iso.kind == "bubblewrap" else str(workdir),
           "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    if cuda and "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    out = open(stdout_path, "wb")
    try:
        popen = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=out,
                                 stderr=subprocess.STDOUT, preexec_fn=_set_limits(limits, cuda),
                                 close_fds=True)
    finally:
        out.close()
    return Process(popen, limits)
