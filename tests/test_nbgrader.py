"""A real nbgrader round trip on a temporary course folder, and the same scores from `course grade`.

generate_assignment → submissions (solution, blank, two buggy, hostile ones, and every fault of
tests/faults.py) → `nbgrader autograde` (with the course's nbgrader_config.py: TrustedChecks
instead of Execute) → the gradebook emptied of submissions → `course grade`, which fills it again
→ generate_feedback (from what `course grade` recorded) → export.
"""
import csv
import json
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import checks, forbidden, release
from tests import faults
from tests.support import ROOT

LESSON = "00_basics"
POINTS = {c.id: c.points for c in checks.load(LESSON).CHECKS}
MAX = sum(POINTS.values())


def run(*command, cwd, ok=(0,)):
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert out.returncode in ok, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def nbgrader(*args, cwd, ok=(0,)):
    return run(sys.executable, "-m", "nbgrader", *args, cwd=cwd, ok=ok)


def submit(course, student, notebook=None, package="solution", append="", extra_cells=()):
    return faults.submit(course / "submitted", student, notebook, package, append, extra_cells)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if not (ROOT / "lessons" / LESSON / f"{LESSON}.ipynb").is_file():
        pytest.fail("lesson 00's notebook is missing")
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "lessons" / LESSON, course / "lessons" / LESSON)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / ".grading_secret").write_text("round-trip secret")
    nbgrader("generate_assignment", LESSON, "--force", cwd=course)
    released = course / "release" / LESSON / f"{LESSON}.ipynb"
    source = ROOT / "lessons" / LESSON / f"{LESSON}.ipynb"

    submit(course, "solution", source)
    submit(course, "blank", released, package="blank")
    submit(course, "buggy_device", source, append="def pick_device():\n    return 'cpu'\n")
    submit(course, "buggy_summary", source, append=(
        "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['shape'] = list(t.shape)\n"
        "    return d\n"))
    submit(course, "hostile_allclose", source, package="blank",
           append="def pick_device():\n    return 'cpu'\ndef tensor_summary(t):\n    return {}\n",
           extra_cells=["import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"])
    submit(course, "hostile_transformer", source, package="blank", extra_cells=[
        # Empties every later cell, check cells included: on plain nbgrader, no output = full marks.
        "ip = get_ipython()\nip.input_transformers_cleanup.append(lambda lines: [])\n"])
    submit(course, "hostile_gradebook", source, package="blank", extra_cells=[
        # Where plain nbgrader's kernel would find the course's gradebook (its cwd is
        # autograded/<student>/<lesson>), and the sandbox's own folders: wipe any found.
        "import os\nfor db in ('gradebook.db', '../gradebook.db', '../../gradebook.db', '../../../gradebook.db',\n"
        "           '/sandbox/gradebook.db'):\n"
        "    if os.path.exists(db):\n        open(db, 'w').write('')\n"])
    made = faults.build(course / "submitted")     # every fault of tests/faults.py this machine can host

    # nbgrader exits 1 when a submission could not be processed (the corrupt notebook): it still
    # grades everyone else and gives that student 0, which is what the tests below check.
    out = nbgrader("autograde", LESSON, cwd=course, ok=(0, 1))
    assert "fault_corrupt_notebook" in out.stdout + out.stderr
    gradebook = gradebook_scores(course)
    # Forget nbgrader's autograde, then let `course grade` fill the gradebook on its own.
    forget_submissions(course)
    out = run(sys.executable, "-m", "autograder", "grade", LESSON, "--submitted", str(course / "submitted"),
              "--out", str(course / "grades"), "--json", cwd=course)
    ours = {s: r["score"] for s, r in json.loads(out.stdout)["students"].items()}
    return course, gradebook, ours, made


def forget_submissions(course):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for student in gb.students:
            gb.remove_submission(LESSON, student.id)
    shutil.rmtree(course / "autograded")
    assert all(score == 0 for score in gradebook_scores(course).values())


def gradebook_scores(course):
    """Every submitted student's score in nbgrader's gradebook; one nbgrader never recorded
    (a folder without the notebook: "No notebooks found") has no score, i.e. 0."""
    from nbgrader.api import Gradebook, MissingEntry
    scores = {}
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for folder in sorted((course / "submitted").iterdir()):
            try:
                scores[folder.name] = gb.find_submission(LESSON, folder.name).score
            except MissingEntry:
                scores[folder.name] = 0.0
    return scores


EXPECTED = {
    "solution": MAX,
    "blank": 0,
    "buggy_device": MAX - POINTS["0.1"],
    "buggy_summary": MAX - POINTS["0.2"],
}


def costs(course_dir, student, fault):
    """What a fault costs in a real grading: its own checks, and every exercise of the lesson when the
    trusted side's source rule refuses the package (ctypes, os.fork, os.kill: tests/test_faults.py
    holds the sandbox behind that rule with the rule off)."""
    lesson_checks = checks.load(LESSON).CHECKS
    exercises = {c.id for c in lesson_checks if c.kind == "exercise" and c.target}
    refused = forbidden.tampering(course_dir / "submitted" / student / LESSON,
                                  forbidden.exercise_modules(lesson_checks))
    return fault.lost | exercises if refused else fault.lost


def test_expected_scores_in_the_gradebook(course):
    course_dir, gradebook, _, made = course
    expected = {**EXPECTED, **{student: MAX - sum(POINTS[c] for c in costs(course_dir, student, fault))
                               for student, fault in made.items()}}
    for student, score in expected.items():
        assert gradebook[student] == pytest.approx(score), (student, gradebook)


def test_hostile_notebooks_gain_nothing(course):
    _, gradebook, _, _ = course
    package = POINTS["0.1"] + POINTS["0.2"]
    for student in ("hostile_allclose", "hostile_transformer", "hostile_gradebook"):
        assert gradebook[student] <= MAX - package, (student, gradebook)


def test_course_grade_gives_the_same_scores(course):
    _, gradebook, ours, _ = course
    assert set(ours) == set(gradebook)
    for student in gradebook:
        assert ours[student] == pytest.approx(gradebook[student]), student


def test_course_grade_records_them_in_the_gradebook(course):
    """`course grade` in an nbgrader course folder writes gradebook.db itself, as autograde would."""
    course_dir, gradebook, _, _ = course
    assert gradebook_scores(course_dir) == pytest.approx(gradebook)
    assert (course_dir / "autograded" / "solution" / LESSON / f"{LESSON}.ipynb").is_file()


def test_feedback_and_export(course):
    course_dir, _, _, _ = course
    nbgrader("generate_feedback", LESSON, cwd=course_dir)
    page = (course_dir / "feedback" / "buggy_device" / LESSON / f"{LESSON}.html").read_text()
    assert "torch.device" in page                              # the trusted verdict's message
    nbgrader("export", "--to", str(course_dir / "grades.csv"), cwd=course_dir)
    with open(course_dir / "grades.csv") as f:
        rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)}
    assert rows["solution"] == pytest.approx(MAX) and rows["blank"] == 0


def test_submitted_files_unchanged_by_grading(course):
    course_dir, _, _, _ = course
    assert (course_dir / "submitted" / "fault_corrupt_notebook" / LESSON / f"{LESSON}.ipynb").read_text() == "{ not json"
    assert "def broken(:" in (course_dir / "submitted" / "fault_syntax_error" / LESSON / "course_pkg" / "basics.py").read_text()


def test_allclose_patch_fools_plain_nbgrader_but_not_ours(tmp_path):
    """Measured here: plain nbgrader 0.9.6 gives this submission 2/2 (its test cell's assert runs in
    the student's kernel, where torch.allclose was replaced); the course's pipeline gives it 0/2."""
    from nbformat.v4 import new_markdown_cell, new_notebook
    meta = {"nbgrader": {"schema_version": 3, "grade": True, "solution": False, "locked": True,
                         "grade_id": "check_1_4", "points": 2}}
    test_cell = new_code_cell(
        'check("01_tensors", "1.4")\n'
        "### BEGIN HIDDEN TESTS\n"
        "x = torch.tensor([0.5, 1.5, 2.5, -2.5])\n"
        "assert torch.allclose(tensors.round_half_even(x), torch.round(x))\n"
        "### END HIDDEN TESTS", metadata=meta)
    setup = new_code_cell("import sys, pathlib\nsys.path.insert(0, str(pathlib.Path.cwd()))\nimport torch\n"
                          "from course_pkg import tensors\n"
                          "def check(*a, **k):\n    pass\n")
    nb = new_notebook(cells=[new_markdown_cell("# one exercise"), setup, test_cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    results = {}
    for pipeline in ("plain", "course"):
        course = tmp_path / pipeline
        (course / "lessons" / "01_tensors").mkdir(parents=True)
        nbformat.write(nb, course / "lessons" / "01_tensors" / "01_tensors.ipynb")
        config = (ROOT / "nbgrader_config.py").read_text() if pipeline == "course" else \
            'c = get_config()\nc.CourseDirectory.source_directory = "lessons"\n'
        (course / "nbgrader_config.py").write_text(config)
        nbgrader("generate_assignment", "01_tensors", "--force", cwd=course)
        folder = course / "submitted" / "mallory" / "01_tensors"
        folder.mkdir(parents=True)
        release.strip_package(ROOT / "course_pkg", folder / "course_pkg")
        with open(folder / "course_pkg" / "tensors.py", "a") as f:
            f.write("\ndef round_half_even(x):\n    return x\n")
        student_nb = nbformat.read(course / "release" / "01_tensors" / "01_tensors.ipynb", as_version=4)
        student_nb.cells.insert(2, new_code_cell("torch.allclose = lambda *a, **k: True"))
        nbformat.write(student_nb, folder / "01_tensors.ipynb")
        nbgrader("autograde", "01_tensors", cwd=course)
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
            results[pipeline] = gb.find_submission("01_tensors", "mallory").score
    assert results == {"plain": 2.0, "course": 0.0}


def test_course_grade_records_without_a_prior_generate_assignment(tmp_path):
    """The README's sequence from a fresh clone: release, collect, `course grade` — the gradebook is
    filled even though nobody ran `nbgrader generate_assignment` in this course folder."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "lessons" / LESSON, course / "lessons" / LESSON)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    submit(course, "solution", ROOT / "lessons" / LESSON / f"{LESSON}.ipynb")
    out = run(sys.executable, "-m", "autograder", "grade", LESSON, cwd=course)
    assert "recorded 1 of 1 submissions" in out.stdout, out.stdout
    assert gradebook_scores(course) == {"solution": pytest.approx(MAX)}
    assert (course / "grades" / "scores.png").is_file() and (course / "grades" / "exercises.png").is_file()
    assert "pass rate" in out.stdout and "mean" in out.stdout


@pytest.fixture
def small_course(tmp_path):
    """An nbgrader course whose gradebook already holds a grading: the solution, and a student whose
    pick_device is wrong (0.1 lost)."""
    from autograder import grade
    course = tmp_path / "course"
    shutil.copytree(ROOT / "lessons" / LESSON, course / "lessons" / LESSON)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    nbgrader("generate_assignment", LESSON, "--force", cwd=course)
    source = ROOT / "lessons" / LESSON / f"{LESSON}.ipynb"
    submit(course, "solution", source)
    submit(course, "resubmits", source, append="def pick_device():\n    return 'cpu'\n")
    grade.grade_class(LESSON, course / "submitted", course / "grades", progress=False)
    assert gradebook_scores(course) == {"solution": pytest.approx(MAX), "resubmits": pytest.approx(MAX - POINTS["0.1"])}
    # The student fixes pick_device: a new grading would give full marks.
    shutil.rmtree(course / "submitted" / "resubmits")
    submit(course, "resubmits", source)
    return course


def test_a_batch_the_grader_cannot_trust_leaves_the_gradebook_as_it_was(small_course, monkeypatch):
    """Students are recorded while the rest of the class is still being graded, into a staged copy:
    a grader fault found after they were recorded (here: one check the grader could not judge for
    one student) must leave gradebook.db and autograded/ exactly as the last trusted grading left them."""
    from autograder import grade, submission
    from autograder.results import GraderFault
    course = small_course
    before_db = (course / "gradebook.db").read_bytes()
    before_autograded = {p: p.read_bytes() for p in (course / "autograded").rglob("*") if p.is_file()}
    grade_one = submission.grade_one

    def unjudgeable_for_solution(lesson, folder, secret):
        result = grade_one(lesson, folder, secret)
        if folder.parent.name == "solution":
            result.checks[0].devices["cpu"] = "grader_error"
            result.checks[0].message = "a reference the grader could not build"
        return result

    monkeypatch.setattr(submission, "grade_one", unjudgeable_for_solution)
    with pytest.raises(GraderFault, match="could not judge solution"):
        grade.grade_class(LESSON, course / "submitted", course / "grades2", progress=False)
    assert (course / "gradebook.db").read_bytes() == before_db
    assert {p: p.read_bytes() for p in (course / "autograded").rglob("*") if p.is_file()} == before_autograded
    assert gradebook_scores(course)["resubmits"] == pytest.approx(MAX - POINTS["0.1"])
    assert not list(course.glob(".course-grade-*")) and not (course / "grades2").exists()


def test_a_gradebook_changed_during_the_batch_loses_nothing(small_course, monkeypatch):
    """Someone writes to the real gradebook while the class is graded (formgrader, say): the staged
    copy would overwrite that, so the records are made again in the real gradebook instead."""
    from nbgrader.api import Gradebook
    from autograder import grade
    from autograder.gradebook import StagedGradebook
    course = small_course
    add = StagedGradebook.add

    def add_while_the_instructor_adds_a_student(self, student, result):
        with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
            if not any(s.id == "late_enrolment" for s in gb.students):
                gb.add_student("late_enrolment")
        add(self, student, result)

    monkeypatch.setattr(StagedGradebook, "add", add_while_the_instructor_adds_a_student)
    grade.grade_class(LESSON, course / "submitted", course / "grades2", progress=False)
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        assert "late_enrolment" in {s.id for s in gb.students}
    assert gradebook_scores(course) == {"solution": pytest.approx(MAX), "resubmits": pytest.approx(MAX)}
    assert not list(course.glob(".course-grade-*"))
