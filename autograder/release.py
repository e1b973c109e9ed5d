"""Build the student edition from the one source of truth (the instructor's tree).

  course_pkg/*.py        solutions between ### BEGIN SOLUTION / ### END SOLUTION become
                         raise NotImplementedError("Exercise 1.4 — see 01_tensors/")
                         (01_tensors/ is the lesson's folder in the student edition, below)
  autograder/            copied with every hidden check removed from the checks modules
  lessons/NN/NN.ipynb    nbgrader's own generate_assignment (solution cells, hidden tests stripped)

The edition's layout: OUT/course_pkg, OUT/autograder, OUT/NN_name/NN_name.ipynb, OUT/README.md.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
from pathlib import Path

from autograder import lessons

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE = re.compile(r"Exercise\s+(\d+\.\w+)")
IN_LESSONS = re.compile(r"\blessons/(\d\d_\w+/)")        # a path in this repository: lessons/02_autograd/


class ReleaseError(RuntimeError):
    pass


def strip_solutions(source: str, module: str) -> str:
    """Replace each solution region by a NotImplementedError naming the exercise and its lesson."""
    lesson = _lesson_of(module)
    out, inside, exercise = [], False, None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ReleaseError(f"{module}.py:{number}: {BEGIN} inside a solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            label = f"Exercise {exercise}" if exercise else "Exercise"
            where = f"{lesson}/" if lesson else "the lessons"   # the lesson's folder in the edition
            out.append(f'{indent}raise NotImplementedError("{label} — see {where}")\n')
            continue
        if stripped == END:
            if not inside:
                raise ReleaseError(f"{module}.py:{number}: {END} without {BEGIN}")
            inside = False
            continue
        if not inside:
            found = EXERCISE.findall(line)
            if found:
                exercise = found[-1]
            out.append(IN_LESSONS.sub(r"\1", line))     # the edition's lesson folders are at its top
    if inside:
        raise ReleaseError(f"{module}.py: {BEGIN} never closed")
    return "".join(out)


def _lesson_of(module: str) -> str | None:
    try:
        return lessons.resolve(module)
    except lessons.UnknownLesson:
        return None


def strip_hidden_checks(source: str) -> str:
    """Remove every hidden check from a checks module: functions registered with
    `@CHECKS.hidden(...)` or with `hidden=True` (`@CHECKS.add(..., hidden=True)`, `@CHECKS.answer(...)`)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    doomed: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(_is_hidden(d) for d in node.decorator_list):
            start = min(d.lineno for d in node.decorator_list)
            doomed.append((start, node.end_lineno))
    for start, end in reversed(doomed):
        del lines[start - 1:end]
    return "".join(lines)


def _is_hidden(decorator) -> bool:
    if not isinstance(decorator, ast.Call):
        return False
    if isinstance(decorator.func, ast.Attribute) and decorator.func.attr == "hidden":
        return True
    return any(kw.arg == "hidden" and isinstance(kw.value, ast.Constant) and kw.value.value is True
               for kw in decorator.keywords)


def strip_package(src: Path, dest: Path) -> None:
    """The student's course_pkg: every module with its solutions stripped."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.py")):
        (dest / path.name).write_text(strip_solutions(path.read_text(), path.stem))


def copy_autograder(src: Path, dest: Path) -> None:
    """The grader, public checks only, and a table of the points the hidden checks carry (so a check
    cell can say "+1 point on hidden inputs at grading" without the hidden checks themselves)."""
    from autograder import checks
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "hidden_points.json"),
                    dirs_exist_ok=True)
    for path in (dest / "checks").glob("*.py"):
        path.write_text(strip_hidden_checks(path.read_text()))
    table = {l: checks.hidden_points(l) for l in lessons.LESSONS if checks.available(l)}
    (dest / "checks" / "hidden_points.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


def lesson_ids(root: Path = ROOT) -> list[str]:
    """Lessons that have a notebook in the source tree, in course order."""
    return [l for l in lessons.LESSONS if (root / "lessons" / l / f"{l}.ipynb").is_file()]


def generate_notebooks(root: Path, out: Path, only: list[str] | None = None, log=print) -> list[str]:
    """nbgrader generate_assignment for each lesson, in a scratch course folder; copies into OUT/NN."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    done = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        course = Path(tmp)
        shutil.copytree(root / "lessons", course / "lessons",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.source_directory = "lessons"
        config.CourseDirectory.release_directory = "release"
        config.CourseDirectory.db_url = f"sqlite:///{course}/gradebook.db"
        config.GenerateAssignment.create_assignment = True
        config.Exchange.root = str(course / "exchange")
        api = NbGraderAPI(config=config)
        for lesson in only or lesson_ids(root):
            result = api.generate_assignment(lesson, force=True)
            if not result["success"]:
                raise ReleaseError(f"nbgrader generate_assignment {lesson} failed:\n{result['error']}\n{result['log']}")
            target = out / lesson
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "release" / lesson, target)
            name_answer_variables(target / f"{lesson}.ipynb")
            done.append(lesson)
            log(f"  {lesson}: notebook generated by nbgrader")
    return done


def name_answer_variables(path: Path) -> None:
    """An answer cell in the student edition names the variable it must set (`answer_ties = ...`),
    where nbgrader left only `raise NotImplementedError()`."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type == "code" and grade_id.startswith("answer_") and "raise NotImplementedError()" in cell.source:
            cell.source = cell.source.replace("raise NotImplementedError()",
                                              f"{grade_id} = ...   # replace ... with your answer", 1)
    nbformat.write(nb, path)


STUDENT_README = """# Your PyTorch course workspace

Open the lessons in JupyterLab (`course lab`, or `jupyter lab` in this folder). Each lesson tells you
which function of `course_pkg/` to write; run its check cell, or from a terminal:

    course check 01          # or: python -m autograder check 01

Checks run your code in a sandbox against torch's own answers, on CPU and (when present) CUDA.
To hand in lesson NN: submit the lesson folder with a copy of your `course_pkg/` inside it.
"""


def release(out: Path, root: Path = ROOT, notebooks: bool = True, log=print, force: bool = False) -> Path:
    """Build the whole student edition into OUT. An earlier edition there is a student's workspace
    (their course_pkg and notebooks): it is replaced only with force=True."""
    out = Path(out)
    if out.resolve() == root.resolve() or root.resolve() in out.resolve().parents and out.name in (
            "course_pkg", "autograder", "lessons"):
        raise ReleaseError(f"refusing to write the student edition over the source tree ({out})")
    if (out / "course_pkg").exists() and not force:
        raise ReleaseError(f"{out} already holds a course workspace (course_pkg/ and the lesson notebooks, where a "
                           "student's work lives); a new release would replace them. Choose another --out, or pass "
                           "--force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    for part in ("course_pkg", "autograder"):
        if (out / part).exists():
            shutil.rmtree(out / part)
    strip_package(root / "course_pkg", out / "course_pkg")
    log(f"  course_pkg: solutions stripped ({len(list((out / 'course_pkg').glob('*.py')))} modules)")
    copy_autograder(root / "autograder", out / "autograder")
    log("  autograder: public checks only")
    (out / "README.md").write_text(STUDENT_README)
    # nbgrader's JupyterLab extension warns when it finds no config; a student needs no settings.
    (out / "nbgrader_config.py").write_text("# The student edition needs no nbgrader settings.\nc = get_config()  # noqa: F821\n")
    if notebooks:
        generate_notebooks(root, out, log=log)
    return out
