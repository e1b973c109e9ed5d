"""Lesson 00: full marks for the solution, zero for the blank edition, wrong answers caught."""
import pytest

from tests.support import exercise_ids, grade, lost, make_submission, messages, student_submission

LESSON = "00_basics"


def test_instructor_edition_scores_full_marks(tmp_path):
    result = grade(LESSON, make_submission(tmp_path))
    assert not lost(result), messages(result)


def test_student_edition_scores_zero_on_package_exercises(tmp_path):
    result = grade(LESSON, student_submission(tmp_path))
    assert all(c.points == 0 for c in result.checks if c.id in ("0.1", "0.2")), messages(result)


WRONG = [
    ("0.1", "returns a string", "def pick_device():\n    return 'cuda' if torch.cuda.is_available() else 'cpu'\n",
     "torch.device"),
    ("0.1", "ignores MPS", "def pick_device():\n    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n",
     "mps"),
    ("0.2", "dtype as an object",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['dtype'] = t.dtype\n    return d\n",
     "expected"),
    ("0.2", "shape as a torch.Size list",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['shape'] = list(t.shape)\n    return d\n",
     "expected"),
]


@pytest.mark.parametrize("exercise,what,source,keyword", WRONG, ids=[w[1] for w in WRONG])
def test_wrong_implementation_loses_exactly_its_exercise(tmp_path, exercise, what, source, keyword):
    result = grade(LESSON, make_submission(tmp_path, {"basics": source}))
    assert lost(result) == exercise_ids(result, exercise), messages(result)
    assert keyword in next(c for c in result.checks if c.id == exercise).message
