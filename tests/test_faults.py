"""A class full of faults, graded twice with `course grade`'s batch: each fault is reported for its
student, the batch finishes, the others' results are untouched, the submitted files are unchanged,
nothing is left running, and the second grading says exactly what the first said.

The faults themselves (corrupt or missing notebook, missing or partial package, syntax error, wrong
signature, segfault, hang, memory bomb, fork bomb, a gigabyte on stdout, filling the disk, killing
the parent, a kernel that dies, thousands of cells) are in tests/faults.py, shared with the nbgrader
round trip.
"""
import hashlib
import os
import resource

import pytest

from autograder import engine, forbidden, grade as batch, report
from tests import faults

LESSON = faults.LESSON


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sandbox_processes():
    """Processes still running as a sandbox uid, or bubblewrap children of this test process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        uid = int(status.get("Uid", "0").split()[0])
        if uid >= 2_000_000_000 or (status.get("Name", "").strip() == "bwrap"
                                    and int(status.get("PPid", 0)) == os.getpid()):
            found.append((entry, status.get("Name", "").strip(), uid))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    submitted = tmp / "submitted"
    faults.submit(submitted, "good")
    made = faults.build(submitted)
    before = digest(submitted)
    engine.drop_spare()     # a sandbox an earlier test started ahead of need is not this batch's
    with pytest.MonkeyPatch.context() as patch:
        # The trusted side's source rule would refuse most of these packages (ctypes, os.fork, os.kill)
        # before their code mattered; what is held here is the sandbox itself, the wall behind that
        # rule, for code that gets past it.
        patch.setattr(forbidden, "tampering", lambda submission, modules: None)
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        first = batch.grade_class(LESSON, submitted, tmp / "first", jobs=2, progress=False, course_root=tmp)
        growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
        left_running = sandbox_processes()
        second = batch.grade_class(LESSON, submitted, tmp / "second", jobs=2, progress=False, course_root=tmp)
    return dict(tmp=tmp, made=made, first=first, second=second, unchanged=digest(submitted) == before,
                growth_mb=growth_mb, left_running=left_running)


def lost(result):
    return {c.id for c in result.checks if c.points < c.max}


def test_the_good_student_is_untouched(graded):
    good = graded["first"]["good"]
    assert good.score == good.max, report.text_table(good)


def test_each_fault_costs_exactly_its_own_checks(graded):
    for student, fault in graded["made"].items():
        result = graded["first"][student]
        assert lost(result) == fault.lost, (student, report.text_table(result))
        said = " ".join(c.message for c in result.checks) + " ".join(result.warnings)
        assert not fault.says or any(word in said for word in fault.says), (student, said)


def test_the_sandbox_caps_held(graded):
    if "fault_fills_disk" not in graded["made"]:
        pytest.skip("needs bubblewrap: without it nothing caps the disk")
    said = next(c.message for c in graded["first"]["fault_fills_disk"].checks if c.id == "0.2")
    for folder in ("/sandbox", "/tmp", "/dev/shm", "."):
        assert f"{folder}: No space left on device" in said, said
    assert "unhindered" not in said
    fork = next(c.message for c in graded["first"]["fault_fork_bomb"].checks if c.id == "0.2")
    assert "BlockingIOError" in fork, fork       # stopped by the process limit, not by luck


def test_the_batch_finished_and_cleaned_up(graded):
    students = {"good", *graded["made"]}
    assert set(graded["first"]) == students
    rows = (graded["tmp"] / "first" / "grades.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(students) + 2           # header, students, (pass rate), (mean)
    assert {p.stem for p in (graded["tmp"] / "first" / "feedback").iterdir()} == students
    assert graded["left_running"] == []
    assert graded["unchanged"], "grading modified a submitted file"
    # A gigabyte printed to stdout was never held by the grader: only the tail is kept.
    assert graded["growth_mb"] < 500, graded["growth_mb"]


def test_grading_twice_says_the_same(graded):
    for student in graded["first"]:
        first, second = graded["first"][student], graded["second"][student]
        assert first.as_json() == second.as_json(), student
        assert report.feedback_html(student, first) == report.feedback_html(student, second)
