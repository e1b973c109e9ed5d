"""Lesson 05 beyond its row in tests/test_lessons.py: the notes' own wrong value for the `.data`
example loses exactly its prediction."""
import json

from tests.support import ROOT, grade, lost, make_submission, messages

LESSON = "05_detach"
NOTEBOOK = ROOT / "lessons" / LESSON / f"{LESSON}.ipynb"


def test_wrong_predictions_lose_their_points(tmp_path):
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "answer_data":
            cell["source"] = "answer_data = torch.full((5,), 5.)\n"
    sub = make_submission(tmp_path)
    (sub / f"{LESSON}.ipynb").write_text(json.dumps(nb))
    result = grade(LESSON, sub)
    assert lost(result) == {"5.d"}, messages(result)
