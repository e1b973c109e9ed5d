"""A class of faulty lesson-00 submissions, shared by the batch test (test_faults.py) and the nbgrader
round trip (test_nbgrader.py): each fault must be reported for its student alone, the batch must
finish, and every other result must stay as it would be without it.

`FAULTS` says, per student, which checks the fault must cost and a word its feedback must contain.
"""
from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from autograder import release, sandbox

ROOT = Path(__file__).resolve().parents[1]
LESSON = "00_basics"
SOURCE_NOTEBOOK = ROOT / "lessons" / LESSON / f"{LESSON}.ipynb"


def submit(submitted: Path, student: str, notebook: Path | None = SOURCE_NOTEBOOK, package: str = "solution",
           append: str = "", extra_cells=()) -> Path:
    """submitted/<student>/00_basics/ with course_pkg (solution or blank, `append` added to basics.py)
    and the notebook (with `extra_cells` inserted after its setup cell).

    With extra cells, the answer cell computes its value: an answer only written down is read without
    running the cells before it, and these faults are about running them."""
    folder = submitted / student / LESSON
    folder.mkdir(parents=True)
    if package == "solution":
        shutil.copytree(ROOT / "course_pkg", folder / "course_pkg", ignore=shutil.ignore_patterns("__pycache__"))
    elif package == "blank":
        release.strip_package(ROOT / "course_pkg", folder / "course_pkg")
    if append:
        path = folder / "course_pkg" / "basics.py"
        path.write_text(path.read_text() + "\n\n" + textwrap.dedent(append))
    if notebook is not None:
        nb = nbformat.read(notebook, as_version=4)
        for i, source in enumerate(extra_cells):
            nb.cells.insert(2 + i, new_code_cell(textwrap.dedent(source)))
        if extra_cells:
            answer = next(c for c in nb.cells
                          if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_default_device")
            answer.source = 'answer_default_device = "c" + "pu"\n'
        nbformat.write(nb, folder / f"{LESSON}.ipynb")
    return folder


@dataclass
class Fault:
    build: object            # (submitted folder, student name) -> None
    lost: set                # the check ids it must cost (and no others)
    says: tuple = ()         # words the feedback of a lost check must contain (one of them)
    needs_sandbox: bool = False   # only safe to try with bubblewrap's isolation (kill -1, fork bomb as root)


def _corrupt(submitted, student):
    folder = submit(submitted, student, notebook=None)
    (folder / f"{LESSON}.ipynb").write_text("{ not json")


def _partial_package(submitted, student):
    (submit(submitted, student) / "course_pkg" / "basics.py").unlink()


def _no_package(submitted, student):
    shutil.rmtree(submit(submitted, student) / "course_pkg")


def _append(code):
    return lambda submitted, student: submit(submitted, student, append=code)


def _cells(*cells):
    return lambda submitted, student: submit(submitted, student, extra_cells=cells)


ALL = {"0.1", "0.2", "0.a"}
PACKAGE = {"0.1", "0.2"}

FAULTS = {
    "fault_corrupt_notebook": Fault(_corrupt, ALL, ("cannot be read", "JSON")),
    "fault_no_notebook": Fault(lambda s, n: submit(s, n, notebook=None), ALL, ("no 00_basics.ipynb",)),
    "fault_no_package": Fault(_no_package, PACKAGE, ("no course_pkg",)),
    "fault_partial_package": Fault(_partial_package, PACKAGE, ("course_pkg.basics",)),
    "fault_syntax_error": Fault(_append("def broken(:\n"), PACKAGE, ("SyntaxError",)),
    "fault_wrong_signature": Fault(_append("""
        def tensor_summary(t, verbose):
            return {}
    """), {"0.2"}, ("missing 1 required positional argument",)),
    # The lesson's notebook calls tensor_summary too, but after its answer cell: the answer is read
    # before the segfault, as nbgrader's check cell (right after the answer) would read it.
    "fault_segfault": Fault(_append("""
        def tensor_summary(t):
            import ctypes
            return ctypes.string_at(0)
    """), {"0.2"}, ("signal 11 (SIGSEGV)",)),
    "fault_hang": Fault(_append("""
        def tensor_summary(t):
            while True:
                pass
    """), {"0.2"}, ("time limit",)),
    "fault_memory_bomb": Fault(_append("""
        def tensor_summary(t):
            hog = torch.ones(50 * 2**30 // 4)      # 50 GB
            return {"shape": tuple(hog.shape)}
    """), {"0.2"}, ("memory",)),
    "fault_fork_bomb": Fault(_append("""
        def tensor_summary(t):
            import os
            while True:
                os.fork()
    """), {"0.2"}, ("Resource temporarily unavailable",), needs_sandbox=True),
    # A gigabyte on stdout is not wrong, only rude: the answer is right, so it keeps its points.
    "fault_gigabyte_stdout": Fault(_append("""
        _flooded = []
        _right_pick_device = pick_device
        def pick_device():
            if not _flooded:
                _flooded.append(True)
                import sys
                line = "x" * 2**20 + "\\n"
                for _ in range(1024):
                    sys.stdout.write(line)
                sys.stdout.flush()
            return _right_pick_device()
    """), set()),
    # Writes until refused, everywhere it can, then reports how far it got.
    "fault_fills_disk": Fault(_append("""
        def tensor_summary(t):
            import os
            report = []
            for folder in ("/sandbox", "/tmp", "/dev/shm", "."):
                written = 0
                try:
                    for i in range(40):          # 40 files of 64 MB: 2.5 GB, far past any cap
                        with open(os.path.join(folder, f"fill-{i}"), "wb") as f:
                            for _ in range(64):
                                f.write(bytes(2**20))
                                written += 1
                except OSError as e:
                    report.append(f"{folder}: {e.strerror} after {written} MB")
                else:
                    report.append(f"{folder}: wrote {written} MB unhindered")
            raise RuntimeError("; ".join(report))
    """), {"0.2"}, ("No space left on device",), needs_sandbox=True),
    # Tries to kill the grader (its parent), everything it may signal, and every process it can see.
    "fault_kills_parent": Fault(_append("""
        import os, signal
        for _pid in [os.getppid(), -1, 1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            if _pid != os.getpid():
                try:
                    os.kill(_pid, signal.SIGKILL)
                except OSError:
                    pass
    """), set(), needs_sandbox=True),
    "fault_kernel_dies": Fault(_cells("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"), {"0.a"},
                               ("signal 9",)),
    "fault_thousands_of_cells": Fault(_cells("n_cells = 0\n", *["n_cells += 1\n"] * 3000), set()),
}


def build(submitted: Path) -> dict[str, Fault]:
    """Create every fault this machine can safely host in `submitted`; returns those created."""
    safe = sandbox.isolation().kind == "bubblewrap"
    made = {}
    for student, fault in FAULTS.items():
        if fault.needs_sandbox and not safe:
            continue
        fault.build(submitted, student)
        made[student] = fault
    return made
