"""The sandbox runs whatever Python the grader runs, wherever it is installed.

A venv under /tmp is a common CI habit, and /tmp is one of the folders the sandbox mounts its own
tmpfs over: the Python install must be bound on top of that tmpfs, not hidden under it. Each case
makes a small venv (seeing torch through --system-site-packages), and from that venv's python starts
the sandbox on a probe that imports torch and reports back on the channel.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder import sandbox

ROOT = Path(__file__).resolve().parents[1]

if sandbox.isolation().kind != "bubblewrap":
    pytest.skip(f"needs a working bubblewrap: {sandbox.isolation().warning}", allow_module_level=True)

# Runs inside the sandbox: becomes the unprivileged uid first, as autograder/sandboxed/runner.py does.
PROBE = """
import json, os, sys
channel = int(sys.argv[1])
if sys.argv[2]:
    uid = int(sys.argv[2])
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
import torch

def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

tmp = os.statvfs("/tmp")
report = {"torch": torch.__version__, "prefix": sys.prefix,
          "tmp_writable": writable("/tmp/probe"), "tmp_mb": tmp.f_blocks * tmp.f_frsize // 2**20,
          "prefix_writable": writable(os.path.join(sys.prefix, "probe"))}
os.write(channel, b"ok " + torch.__version__.encode() + b"\\n" + json.dumps(report).encode())
"""

# Runs in the venv's python, outside the sandbox: starts it the way engine._Runner does.
DRIVER = """
import json, sys, time
from pathlib import Path
from autograder import sandbox

work = Path(sys.argv[1])
(work / "in").mkdir(parents=True)
(work / "in" / "probe.py").write_text(sys.argv[2])
process = sandbox.start(work, "probe.py", [], limits=sandbox.Limits(), cuda=False)
data = b""
while True:
    done = process.popen.poll() is not None
    data += process.read(0 if done else 0.01)
    if done:
        break
    process.poll_limits()
process.close()
print(json.dumps({"isolation": sandbox.isolation().kind, "channel": data.decode(errors="replace"),
                  "code": process.popen.returncode, "killed_for": process.killed_for,
                  "output": process.output_tail()}))
"""


# Each layout returns (the venv's folder, the folder to remove afterwards).
def _under_tmp():
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    return folder / "venv", folder


def _project_under_tmp():
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    return folder / "project" / ".venv", folder


def _home():
    home = Path.home()
    if not os.access(home, os.W_OK):
        pytest.skip(f"cannot write to the home folder {home}")
    folder = Path(tempfile.mkdtemp(dir=home))     # mode 0700, as a home folder (/root) often is
    return folder / "venv", folder


def _opt():
    if not os.access("/opt", os.W_OK):
        pytest.skip("cannot write to /opt")
    prefix = Path(tempfile.mkdtemp(dir="/opt", prefix="course-test-"))
    prefix.chmod(0o755)                            # the venv *is* the prefix, as a conda install is
    return prefix, prefix


LAYOUTS = {"venv-under-tmp": _under_tmp, "dot-venv-in-project-under-tmp": _project_under_tmp,
           "venv-under-0700-home": _home, "conda-style-prefix-in-opt": _opt}


@pytest.fixture(params=list(LAYOUTS))
def venv(request):
    path, made = LAYOUTS[request.param]()
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)],
                       check=True, capture_output=True)
        yield path
    finally:
        shutil.rmtree(made, ignore_errors=True)


def test_sandboxed_python_runs_from_any_install(venv, tmp_path):
    python = venv / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COURSE_SANDBOX", None)
    run = subprocess.run([str(python), "-c", DRIVER, str(tmp_path / "work"), textwrap.dedent(PROBE)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["isolation"] == "bubblewrap", run.stderr
    assert result["channel"].startswith("ok "), f"the sandbox said: {result['output']!r} ({result})"
    report = json.loads(result["channel"].split("\n", 1)[1])
    assert Path(report["prefix"]) == venv
    assert report["tmp_writable"] and not report["prefix_writable"], report
    assert report["tmp_mb"] == sandbox.Limits().disk_mb, report   # /tmp is still the capped tmpfs
    assert result["code"] == 0, result
