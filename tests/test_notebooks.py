"""Every lesson notebook (instructor edition) runs top to bottom on CPU; each is stored without
outputs; each check cell's points equal the points of the checks it names."""
import json
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import checks, nbgrader_plugin, release
from tests.support import ROOT

LESSONS = release.lesson_ids()


@pytest.mark.parametrize("lesson", LESSONS)
def test_notebook_is_stored_without_outputs(lesson):
    nb = json.loads((ROOT / "lessons" / lesson / f"{lesson}.ipynb").read_text())
    for cell in nb["cells"]:
        assert not cell.get("outputs") and not cell.get("execution_count"), cell.get("source", "")[:80]


@pytest.mark.parametrize("lesson", LESSONS)
def test_check_cell_points_match_the_checks(lesson):
    nb = nbformat.read(ROOT / "lessons" / lesson / f"{lesson}.ipynb", as_version=4)
    points = {c.id: c.points for c in checks.load(lesson).CHECKS}
    named = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            ids = nbgrader_plugin.check_calls(cell.source)
            assert ids and all(i in points for i in ids), (meta.get("grade_id"), ids)
            assert float(meta["points"]) == sum(points[i] for i in ids), meta.get("grade_id")
            named += ids
    assert sorted(named) == sorted(points), "every check has exactly one check cell"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_notebook_runs_top_to_bottom(lesson, tmp_path):
    path = ROOT / "lessons" / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]
    print(f"{lesson}: {elapsed:.1f} s")
