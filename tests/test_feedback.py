"""What a student reads: the check cell's report (HTML and text), "not started", answers not yet
written or not saved, and tracebacks that show the student's frames, never the grader's."""
import subprocess
import sys

import nbformat
import pytest

from autograder import engine, notebook, report
from autograder.results import CheckResult, LessonResult
from tests.support import make_submission, student_submission

LONG = ("for round_half_even(tensor([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, …] (shape (32,)))): max abs "
        "error 1 at index (0,): expected -4, got -3 (where arg0 = -3.5)")
HINT = "ties go to the even neighbour: 2.5 → 2, 3.5 → 4, -2.5 → -2 (you rounded ties away from zero or up)"


def _result(status="fail", hint=HINT):
    message = f"[cpu] {LONG}" + (f". Hint: {hint}" if hint else "")
    return LessonResult("01_tensors", [
        CheckResult("1.4", "round half even", 0.0, 2.0, False, "exercise", {"cpu": status}, message, hint)])


def test_text_report_wraps_at_words_and_sets_the_hint_apart():
    text = report.text_table(_result(), hidden_points=1)
    assert "(+1 point on hidden inputs at grading)" in text.splitlines()[0]
    words = set(LONG.split()) | set(HINT.split())
    for line in text.splitlines()[4:]:
        assert len(line) <= report.WIDTH, line
        assert all(w in words or w in ("Hint:",) for w in line.split()[1:-1]), line    # no word cut in two
    assert sum("Hint:" in line for line in text.splitlines()) == 1
    assert text.splitlines()[-1].strip().endswith("up)")


def test_html_report_colours_the_verdict_and_folds_details_open():
    page = report.check_html(_result(), hidden_points=2)
    assert "✗ fail" in page and report.COLOUR["fail"] in page
    assert "<details open>" in page and "+2 points on hidden inputs at grading" in page
    assert page.count("Hint:") == 1 and "white-space:pre-wrap" in page
    assert "<details" not in report.check_html(_result("pass", hint="").__class__(
        "01_tensors", [CheckResult("1.4", "round half even", 2.0, 2.0, False, "exercise", {"cpu": "pass"})]))


def test_a_failing_check_cell_stops_run_all_with_one_line():
    lines = notebook.NotPassingYet("1.4")._render_traceback_()
    assert len(lines) == 1 and "not passing yet: 1.4" in lines[0]
    assert isinstance(notebook.NotPassingYet("1.4"), AssertionError)     # nbgrader's notion of a failed test


def test_an_unwritten_exercise_says_not_started(tmp_path):
    result = engine.grade_submission("01_tensors", student_submission(tmp_path), only={"1.4"})
    (check,) = result.checks
    assert check.devices["cpu"] == "not_started" and "not started" in check.message
    assert "· not started" in report.text_table(result)


def test_a_crash_shows_the_students_frames_not_the_graders(tmp_path):
    sub = make_submission(tmp_path)
    path = sub / "course_pkg" / "tensors.py"
    path.write_text(path.read_text() + "\n\ndef _helper(x):\n    return x.no_such_method()\n\n"
                    "def round_half_even(x):\n    return _helper(torch.floor(x))\n")
    (check,) = engine.grade_submission("01_tensors", sub, only={"1.4"}).checks
    assert check.devices["cpu"] == "error"
    assert "tensors.py" in check.message and "_helper" in check.message and "no_such_method" in check.message
    for grader_frame in ("runner.py", "probes.py", "__torch_function__", "overrides.py"):
        assert grader_frame not in check.message, check.message


def test_an_answer_left_as_ellipsis_is_not_answered_yet(tmp_path):
    sub = make_submission(tmp_path)
    nb_path = sub / "01_tensors.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer_ties":
            cell.source = "answer_ties = ...   # replace ... with your answer"
    nbformat.write(nb, nb_path)
    (check,) = engine.grade_submission("01_tensors", sub, only={"1.a"}).checks
    assert check.points == 0 and "not answered yet" in check.message, check.message


@pytest.mark.parametrize("shape", [(), (1,), (7,), (2, 3), (3, 1, 4), (2, 3, 2, 2)])
def test_a_mismatch_is_reported_at_the_index_torch_would_name(shape):
    """compare.tensor_problem names the worst element's index without torch.unravel_index (its first
    call imports SymPy): the same index, element by element, for every shape."""
    import torch
    from autograder import compare
    expected = torch.zeros(shape)
    for flat in range(expected.numel()):
        got = expected.clone().reshape(-1)
        got[flat] = 1.0
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), shape)) if shape else ()
        assert f"at index {where}:" in compare.tensor_problem(expected, got.reshape(shape)).message
