"""Every lesson notebook (instructor edition) runs top to bottom on CPU; each is stored without
outputs; each check cell's points equal the points of the checks it names; each prediction is
checked right after its answer cell."""
import json
import time
import warnings
from datetime import datetime, timezone

import nbformat
import pytest

from autograder import checks, nbgrader_plugin, release
from tests.support import ROOT, PatientClient

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


@pytest.mark.parametrize("lesson", LESSONS)
def test_each_prediction_is_checked_before_it_is_revealed(lesson):
    """Predict, check, then see: the code cell right after each answer cell runs that answer's public
    check, so a student learns whether the prediction was right before a cell shows the truth."""
    nb = nbformat.read(ROOT / "lessons" / lesson / f"{lesson}.ipynb", as_version=4)
    answer_checks = {c.id: c for c in checks.load(lesson).CHECKS if c.kind == "answer"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = []
    for cell, after in zip(code, code[1:] + [None]):
        if not cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("answer_"):
            continue
        assert after is not None and after.metadata.get("nbgrader", {}).get("grade"), cell.source[:80]
        ids = nbgrader_plugin.check_calls(after.source)
        assert ids and all(i in answer_checks for i in ids), (cell.source[:80], after.source)
        assert "hidden" not in after.source, after.source
        checked += ids
    assert sorted(checked) == sorted(answer_checks), "every answer check runs right after its answer cell"
    assert not [i for i, c in answer_checks.items() if c.hidden], "answer checks are public"


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_notebook_runs_top_to_bottom(lesson, tmp_path):
    path = ROOT / "lessons" / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(path, as_version=4)
    start, began = time.perf_counter(), datetime.now(timezone.utc)
    PatientClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed, ended = time.perf_counter() - start, datetime.now(timezone.utc)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0]
    print(f"{lesson}: {elapsed:.1f} s")
    if elapsed > NOTEBOOK_GOAL_S:
        # Not a failure (a loaded CI machine is not a defect), but the log must say where the time went.
        warnings.warn(f"{lesson} ran top to bottom in {elapsed:.0f} s, past the {NOTEBOOK_GOAL_S} s goal; "
                      f"slowest cells: {slowest_cells(nb)}; outside the cells: {gaps(nb, began, ended)}")


NOTEBOOK_GOAL_S = 60


def slowest_cells(nb, n=3) -> str:
    """'cell 12 (4.1 s: check("07_optim", "7.1")…), …' from the timings nbclient records."""
    timed = []
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            timed.append((seconds, i, cell.source.splitlines()[0][:40] if cell.source else ""))
    return ", ".join(f"cell {i} ({s:.1f} s: {first}…)" for s, i, first in sorted(timed, reverse=True)[:n])


def gaps(nb, began, ended) -> str:
    """Where time went outside the cells: before the first (the kernel's start), the longest wait
    between two cells, and after the last (the kernel's shutdown)."""
    spans = []
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            spans.append((i, datetime.fromisoformat(start.replace("Z", "+00:00")),
                          datetime.fromisoformat(end.replace("Z", "+00:00"))))
    if not spans:
        return "no cell timings"
    between = max(((b[1] - a[2]).total_seconds(), a[0], b[0]) for a, b in zip(spans, spans[1:])) if len(spans) > 1 else (0, 0, 0)
    return (f"{(spans[0][1] - began).total_seconds():.1f} s before cell {spans[0][0]}, "
            f"{between[0]:.1f} s between cells {between[1]} and {between[2]}, "
            f"{(ended - spans[-1][2]).total_seconds():.1f} s after cell {spans[-1][0]}")
