"""Lesson 05: full marks for the solution (package and notebook predictions), zero for the blank
edition, and each realistic wrong implementation loses exactly its own exercise's points."""
import json
import shutil

import pytest

from tests.support import ROOT, exercise_ids, grade, lost, make_submission, messages, student_submission

LESSON = "05_detach"
NOTEBOOK = ROOT / "lessons" / LESSON / f"{LESSON}.ipynb"


def with_notebook(sub, notebook=NOTEBOOK):
    shutil.copyfile(notebook, sub / f"{LESSON}.ipynb")
    return sub


def test_instructor_edition_scores_full_marks(tmp_path):
    result = grade(LESSON, with_notebook(make_submission(tmp_path)))
    assert not lost(result), messages(result)
    assert result.score == result.max > 0
    assert {c.id for c in result.checks} >= {"5.a", "5.b", "5.c", "5.d"}


def test_student_edition_scores_zero(tmp_path):
    result = grade(LESSON, student_submission(tmp_path))
    assert result.checks and all(c.points == 0 for c in result.checks)
    assert all("not implemented" in c.message for c in result.checks if not c.hidden), messages(result)


def test_wrong_predictions_lose_their_points(tmp_path):
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "answer_data":
            cell["source"] = "answer_data = torch.full((5,), 5.)\n"
    sub = make_submission(tmp_path)
    (sub / f"{LESSON}.ipynb").write_text(json.dumps(nb))
    result = grade(LESSON, sub)
    assert lost(result) == {"5.d"}, messages(result)


WRONG = [
    ("5.1", "straight-through with zero gradient",
     "def straight_through_round(x):\n    return torch.round(x)\n", "zero everywhere"),
    ("5.1", "straight-through that cuts the graph",
     "def straight_through_round(x):\n    return torch.round(x).detach()\n", "does not require grad"),
    ("5.2", "to_numpy that fails on CUDA (no .cpu())",
     "def to_numpy(t):\n    return t.detach().numpy()\n", "CUDA"),
    ("5.2", "to_numpy that keeps the graph",
     "def to_numpy(t):\n    return t.cpu()\n", "keeps the graph"),
    ("5.2", "to_numpy without detach",
     "def to_numpy(t):\n    return t.cpu().numpy()\n", "detach"),
    ("5.3", "masked_gradient masking the value",
     "def masked_gradient(x, mask):\n    return x * mask\n", "masked the value"),
    ("5.3", "masked_gradient with the mask inverted",
     "def masked_gradient(x, mask):\n    return torch.where(mask, x.detach(), x)\n", "inverted"),
]


@pytest.mark.parametrize("exercise,what,source,keyword", WRONG, ids=[w[1] for w in WRONG])
def test_wrong_implementation_loses_exactly_its_exercise(tmp_path, exercise, what, source, keyword):
    result = grade(LESSON, with_notebook(make_submission(tmp_path, {"detach": source})))
    assert lost(result) == exercise_ids(result, exercise), messages(result)
    public = next(c for c in result.checks if c.id == exercise)
    assert keyword in public.message, public.message
