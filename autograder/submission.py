"""One submission's grading, as both `course grade` here (autograder/grade.py) and a cluster worker
(autograder/cluster.py) do it: a missing folder or an unreadable notebook is that student's result,
and the instructor's own solution (the canary) must score full marks."""
from __future__ import annotations

import sys
from pathlib import Path

from autograder.results import CheckResult, LessonResult

CANARY = "(the instructor's solution)"


def _failed(lesson: str, reason: str) -> LessonResult:
    from autograder import checks as checks_pkg
    results = [CheckResult(c.id, c.title, 0.0, float(c.points), c.hidden, c.kind, {}, reason)
               for c in checks_pkg.load(lesson).CHECKS]
    return LessonResult(lesson, results, [reason])


def skip_iri_grammar() -> None:
    """In a process that only grades (`course grade`, the workers of its LocalCluster): jsonschema,
    under nbformat, imports rfc3987_syntax when it is installed, to check the "iri" format, and that
    builds a Lark grammar at import, ~1 s of CPU. No notebook schema uses the format; without the
    module, jsonschema leaves it unchecked. (Too late once jsonschema is imported, and harmless.)"""
    sys.modules.setdefault("rfc3987_syntax", None)


def notebook_problem(lesson: str, folder: Path) -> str | None:
    """Why the submitted lesson notebook cannot be graded, if the lesson has one (as nbgrader sees it)."""
    from autograder import release
    if not (release.ROOT / "lessons" / lesson / f"{lesson}.ipynb").is_file():
        return None
    path = folder / f"{lesson}.ipynb"
    if not path.is_file():
        return f"no {lesson}.ipynb was submitted"
    try:
        import nbformat
        nbformat.read(path, as_version=4)
    except Exception as e:
        return f"{lesson}.ipynb cannot be read: {type(e).__name__}: {str(e)[:200]}"
    return None


def grade_one(lesson: str, folder: Path, secret: bytes) -> LessonResult:
    if not folder.is_dir():
        return _failed(lesson, f"no {lesson}/ folder was submitted")
    # nbgrader gives a submission whose notebook is missing or unreadable no points; so do we.
    problem = notebook_problem(lesson, folder)
    if problem:
        return _failed(lesson, problem)
    from autograder import engine        # here, not above: torch is not imported to send a batch to a cluster
    return engine.grade_submission(lesson, folder, hidden=True, secret=secret)


def grade_canary(lesson: str, secret: bytes) -> LessonResult:
    """The instructor's own solution, graded like any student: every point, or the grader is broken."""
    from autograder import engine, release
    return engine.grade_submission(lesson, release.ROOT, hidden=True, secret=secret)


def canary_problem(result: LessonResult) -> str | None:
    lost = [c for c in result.checks if c.points < c.max]
    if not lost:
        return None
    where = "; ".join(f"{c.id} ({', '.join(f'{d}: {s}' for d, s in c.devices.items()) or 'not run'}): "
                      f"{c.message[:300]}" for c in lost[:5])
    return (f"the instructor's own solution lost points on {where}. A check or the grading environment is "
            "broken; no grades were written")
