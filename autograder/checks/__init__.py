"""One checks module per lesson, named like its course_pkg module (checks/tensors.py ↔ course_pkg/tensors.py)."""
import importlib
import json
from pathlib import Path

from autograder import lessons


def load(lesson: str):
    """The checks module of a lesson; it defines CHECKS (an autograder.spec.CheckList)."""
    return importlib.import_module(f"autograder.checks.{lessons.module_name(lesson)}")


def available(lesson: str) -> bool:
    try:
        load(lesson)
        return True
    except ModuleNotFoundError:
        return False


HIDDEN_POINTS = Path(__file__).with_name("hidden_points.json")   # written by `course release`


def hidden_points(lesson: str) -> dict[str, float]:
    """exercise id -> points its hidden checks carry. The student edition has no hidden checks, only
    this table (the same numbers nbgrader shows on each check cell); the instructor's tree counts them."""
    if HIDDEN_POINTS.is_file():
        return {k: float(v) for k, v in json.loads(HIDDEN_POINTS.read_text()).get(lesson, {}).items()}
    points: dict[str, float] = {}
    for c in load(lesson).CHECKS:
        if c.hidden:
            points[c.exercise] = points.get(c.exercise, 0.0) + float(c.points)
    return points
