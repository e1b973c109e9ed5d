"""One checks module per lesson, named like its course_pkg module (checks/tensors.py ↔ course_pkg/tensors.py)."""
import importlib

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
