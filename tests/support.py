"""Helpers for the project's tests: build submissions from the instructor edition plus a change."""
from __future__ import annotations

import queue
import shutil
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nbclient import NotebookClient

from autograder import checks, engine

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"tests-secret"


def make_submission(tmp_path: Path, overrides: dict[str, str] | None = None, name: str = "student") -> Path:
    """A submission folder holding a copy of the instructor's course_pkg and lesson notebooks.

    `overrides` maps a module name to source appended to that module: a `def` appended there
    replaces the solution's function of the same name, which is how a wrong answer is planted.
    """
    sub = tmp_path / name
    shutil.copytree(ROOT / "course_pkg", sub / "course_pkg", ignore=shutil.ignore_patterns("__pycache__"))
    for notebook in (ROOT / "lessons").glob("*/*.ipynb"):     # answer cells are graded from these
        shutil.copyfile(notebook, sub / notebook.name)
    for module, source in (overrides or {}).items():
        path = sub / "course_pkg" / f"{module}.py"
        path.write_text(path.read_text() + "\n\n" + textwrap.dedent(source))
    return sub


def add_notebook(submission: Path, lesson: str, edition: Path | None = None) -> Path:
    """Put the lesson's notebook (instructor's, or from a released edition) into a submission folder."""
    source = (edition / lesson if edition else ROOT / "lessons" / lesson) / f"{lesson}.ipynb"
    if source.is_file():
        shutil.copyfile(source, submission / f"{lesson}.ipynb")
    return submission


def grade(lesson: str, submission: Path, hidden: bool = True, **kw) -> engine.LessonResult:
    """Grade as the grader does. No submission, however wrong or hostile, may cause a grader error."""
    result = engine.grade_submission(lesson, submission, hidden=hidden, secret=SECRET, **kw)
    # The next grading's sandbox boots while this test goes on judging (what a notebook kernel does
    # between check cells): a fresh runner either way, and tests/conftest.py drops it between modules.
    engine.keep_warm(limits=kw.get("limits"), devices=kw.get("devices"), lesson=lesson)
    assert not result.grader_errors, messages(result)
    return result


# Gradings are most of the suite's time and one keeps one core busy: the rows of a bank test are
# graded two at a time, as `course grade --jobs 2` grades a class. Keyed by test function, then row id.
_graded: dict = {}


def grade_with_its_neighbours(request, submission_of) -> engine.LessonResult:
    """This row's result, graded together with the other selected rows of the same test and lesson.

    `submission_of(**params)` gives a row's (lesson, overrides). Each submission still gets its own
    fresh sandbox; an error grading a row is raised in that row's test."""
    rows = _graded.setdefault(request.function, {})
    me = request.node.callspec.id
    if me not in rows:
        lesson = submission_of(**request.node.callspec.params)[0]
        todo = {item.callspec.id: submission_of(**item.callspec.params)[1] for item in request.session.items
                if getattr(item, "function", None) is request.function and item.callspec.id not in rows
                and submission_of(**item.callspec.params)[0] == lesson}
        folder = request.getfixturevalue("tmp_path_factory").mktemp("together")
        with ThreadPoolExecutor(max_workers=2) as pool:
            rows.update({row: pool.submit(engine.grade_submission, lesson,
                                          make_submission(folder, overrides, name=f"row{i}"),
                                          hidden=True, secret=SECRET)
                         for i, (row, overrides) in enumerate(todo.items())})
    result = rows.pop(me).result()
    assert not result.grader_errors, messages(result)
    return result


class PatientClient(NotebookClient):
    """nbclient waits for a cell's reply with one poll as long as the cell's time limit, and pyzmq's
    asyncio poller can miss the wake-up: after lesson 07's widget cell, the reply sat there for the
    whole 300 s until the poll timed out and found it (the notebook took 320 s instead of 20). Polling
    a second at a time bounds that loss to a second; a cell still gets its whole time limit."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        get_msg = kc.shell_channel.get_msg

        async def get_msg_a_second_at_a_time(timeout=None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                step = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
                try:
                    return await get_msg(timeout=step)
                except queue.Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        kc.shell_channel.get_msg = get_msg_a_second_at_a_time
        return kc


def lost(result: engine.LessonResult) -> set[str]:
    """Ids of the checks that did not get full points."""
    return {c.id for c in result.checks if c.points < c.max}


def exercise_ids(result: engine.LessonResult, exercise: str) -> set[str]:
    """The checks that grade an exercise, as its checks module declares them: '1.4' -> {'1.4', '1.4h'}."""
    return {c.id for c in checks.load(result.lesson).CHECKS if c.exercise == exercise}


def exercise_checks(result: engine.LessonResult) -> list:
    """The results of package exercises (not notebook answers)."""
    return [c for c in result.checks if c.kind == "exercise"]


def messages(result: engine.LessonResult) -> str:
    return "\n".join(f"{c.id}: {c.message}" for c in result.checks if c.message)


def student_submission(tmp_path: Path, name: str = "blank") -> Path:
    """A submission holding the released (blank) student course_pkg, as `course release` makes it."""
    from autograder import release
    sub = tmp_path / name
    release.strip_package(ROOT / "course_pkg", sub / "course_pkg")
    return sub
