"""`check(lesson, exercise)` for a notebook's check cells: the same verdict the grader gives.

It grades the code on disk (course_pkg/ beside or above the notebook, and the saved notebook for
answer cells) in the sandbox, exactly as `course check` does; the kernel's own state is not used.
"""
from __future__ import annotations

from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current one) holding course_pkg/."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "course_pkg").is_dir():
            return folder
    raise FileNotFoundError(f"no course_pkg/ folder in {start} or any folder above it")


def check(lesson: str, *exercises: str, hidden: bool = False) -> None:
    """Run the named checks and print the verdicts; raise AssertionError if any of them lost points."""
    from autograder import engine, report
    root = find_root()
    result = engine.grade_submission(lesson, root, only=set(exercises) or None, hidden=hidden)
    print(report.text_table(result))
    failed = [c.id for c in result.checks if c.points < c.max]
    if failed:
        raise AssertionError(f"not passing yet: {', '.join(failed)} (details above)")
