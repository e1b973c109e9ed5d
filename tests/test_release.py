"""The student edition: stubs instead of solutions, public checks only, nbgrader-generated notebooks."""
import json
import os
import re
import subprocess
import sys

import pytest

from autograder import release
from tests.support import ROOT, PatientClient


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    return release.release(tmp_path_factory.mktemp("release") / "student", log=lambda m: None)


def solution_lines():
    """Every substantial line written between the solution markers of course_pkg, and the text outside
    them (what the student is given anyway: a docstring may quote a call a solution makes)."""
    lines, given = set(), []
    for path in (ROOT / "course_pkg").glob("*.py"):
        inside = False
        for line in path.read_text().splitlines():
            if line.strip() == release.BEGIN:
                inside = True
            elif line.strip() == release.END:
                inside = False
            elif inside and len(line.strip()) > 12 and not line.strip().startswith("#"):
                lines.add(line.strip())
            elif not inside:
                given.append(line)
    return lines, "\n".join(given)


def test_package_has_stubs_and_no_solution_text(edition):
    text = {p.name: p.read_text() for p in (edition / "course_pkg").glob("*.py")}
    assert set(text) == {p.name for p in (ROOT / "course_pkg").glob("*.py")}
    everything = "\n".join(text.values())
    assert "BEGIN SOLUTION" not in everything
    lines, given = solution_lines()
    leaked = [line for line in lines if everything.count(line) > given.count(line)]
    assert not leaked, leaked
    assert 'raise NotImplementedError("Exercise 1.4 — see 01_tensors/")' in text["tensors.py"]
    assert (edition / "01_tensors").is_dir() and "see lessons/" not in everything   # a folder the edition has
    assert "(lessons/02_autograd/" in (ROOT / "course_pkg" / "autograd.py").read_text()
    assert "(02_autograd/02_autograd.ipynb)" in text["autograd.py"] and "lessons/" not in everything


def test_no_hidden_checks_anywhere(edition):
    for path in (edition / "autograder" / "checks").glob("*.py"):
        source = path.read_text()
        assert "hidden=True" not in source and "CHECKS.hidden" not in source, path
        assert not re.search(r'"\d+\.\d+h"', source), path
    # What the edition's own grader would load: not one hidden check, whatever decorator declared it.
    loaded = subprocess.run(
        [sys.executable, "-c", "from autograder import checks, lessons\n"
         "print(sorted(c.id for l in lessons.LESSONS if checks.available(l) for c in checks.load(l).CHECKS if c.hidden))"],
        cwd=edition, env={**os.environ, "PYTHONPATH": str(edition)}, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
    for notebook in edition.glob("*/*.ipynb"):
        source = notebook.read_text()
        assert "BEGIN HIDDEN TESTS" not in source and "hidden=True" not in source, notebook
        assert "BEGIN SOLUTION" not in source, notebook


def test_every_lesson_notebook_is_released_by_nbgrader(edition):
    for lesson in release.lesson_ids():
        nb = json.loads((edition / lesson / f"{lesson}.ipynb").read_text())
        checks = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        assert checks, f"{lesson} has no graded cells"


def test_public_checks_still_run_in_the_student_edition(edition):
    """`course check` in the student edition: the edition's own engine, zero points, clear messages."""
    env = {**os.environ, "PYTHONPATH": str(edition)}
    out = subprocess.run([sys.executable, "-m", "autograder", "check", "01", "--json", "--path", str(edition)],
                         capture_output=True, text=True, env=env, cwd=edition, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["score"] == 0 and result["max"] > 0
    assert not any(e["hidden"] for e in result["exercises"].values())
    assert "not started" in result["exercises"]["1.4"]["message"]
    assert result["exercises"]["1.4"]["devices"]["cpu"] == "not_started"


def test_strip_solutions_rejects_unbalanced_markers():
    with pytest.raises(release.ReleaseError):
        release.strip_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "tensors")
    with pytest.raises(release.ReleaseError):
        release.strip_solutions("def f():\n    ### END SOLUTION\n", "tensors")


@pytest.mark.parametrize("lesson", release.lesson_ids())
def test_released_notebook_runs_up_to_its_first_exercise(edition, lesson):
    import nbformat
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(edition / lesson / f"{lesson}.ipynb", as_version=4)
    client = PatientClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(edition / lesson)}})
    ran = 0
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("solution"):
                break
            if cell.cell_type == "code":
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as e:
                    # The first exercise: a cell trying the student's still-unwritten function.
                    assert e.ename == "NotImplementedError", f"cell {index} failed before any exercise: {e}"
                    break
                ran += 1
    assert ran > 0


def test_answer_cells_name_their_variable(edition):
    import nbformat
    for lesson in release.lesson_ids():
        nb = nbformat.read(edition / lesson / f"{lesson}.ipynb", as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type == "code" and grade_id.startswith("answer_"):
                assert f"{grade_id} = ..." in cell.source and "NotImplementedError" not in cell.source, (lesson, cell.source)


def test_hidden_points_table_matches_the_instructors_checks(edition):
    from autograder import checks
    table = json.loads((edition / "autograder" / "checks" / "hidden_points.json").read_text())
    for lesson, points in table.items():
        assert points == checks.hidden_points(lesson), lesson
    assert table["01_tensors"]["1.4"] == 1.0


def test_a_release_never_overwrites_a_workspace_without_force(edition):
    answer = edition / "course_pkg" / "tensors.py"
    before = answer.read_text()
    with pytest.raises(release.ReleaseError, match="--force"):
        release.release(edition, notebooks=False, log=lambda m: None)
    out = subprocess.run([sys.executable, "-m", "autograder", "release", "--out", str(edition), "--no-notebooks"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2 and "--force" in out.stderr
    assert answer.read_text() == before
    assert (edition / "nbgrader_config.py").is_file()       # no "No nbgrader_config.py file found" in the lab log
