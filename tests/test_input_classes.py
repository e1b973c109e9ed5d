"""Every check covers the input classes its spec allows, and keeps covering them: this table is the
floor (a later change that narrows a check fails here), and a hidden check is never narrower than its
public twin. Classes are read from the cases themselves (tests/input_classes.py)."""
import pytest

from autograder import checks
from tests.input_classes import check_classes

FLOOR = {
    "0.2": {"0-d", "1-D", "2-D", "batched", "float32", "float64", "integer"},
    **{e: {"-0.0", "0-d", "1-D", "2-D", "beyond int32", "empty", "float32", "float64", "inf/nan", "non-contiguous"}
       for e in ("1.1", "1.2", "1.3", "1.4")},
    "1.5": {"-0.0", "0-d", "1-D", "2-D", "beyond int32", "float32", "float64", "inf/nan", "integer"},
    "1.8": {"1-D", "2-D", "batched", "empty", "float32", "float64", "integer", "non-contiguous"},
    "1.7": {"-0.0", "beyond int32", "inf/nan", "1-D", "2-D", "batched", "empty", "float32", "float64", "non-contiguous"},
    "1.9": {"-0.0", "beyond int32", "inf/nan", "2-D", "batched", "empty", "float32", "integer"},
    "1.6": {"-0.0", "beyond int32", "inf/nan", "1-D", "empty", "float32", "float64"},
    **{e: {"batched", "float32", "float64", "integer", "non-contiguous"} for e in ("1.10", "1.11")},
    "2.1": {"0-d", "1-D", "2-D", "float32", "float64", "leaf", "nonleaf", "plain"},
    "2.2": {"0-d", "1-D", "2-D", "float32", "float64", "non-contiguous", "nonleaf", "plain"},
    "2.3": {"1-D", "2-D", "float32", "float64", "nonleaf", "plain"},
    "2.4": {"1-D", "2-D", "float32", "float64", "nonleaf", "plain"},
    "2.5": {"1-D", "float32", "float64", "plain"},
    **{e: {"1-D", "2-D", "fan-in", "float32", "float64", "leaf", "nonleaf"} for e in ("3.1", "3.2", "3.3", "3.5")},
    "3.4": {"1-D", "2-D", "float32", "float64", "leaf", "nonleaf", "plain"},
    "3.6": {"1-D", "2-D", "fan-in", "float32", "leaf", "plain"},
    "3.7": {"1-D", "2-D", "fan-in", "float32", "float64", "leaf", "multi-output", "plain", "unreached"},
    "4.1": {"0-d", "1-D", "2-D", "float32", "float64", "leaf", "nonleaf", "plain"},
    "4.2": {"2-D", "batched", "float32", "float64", "leaf", "nonleaf", "plain"},
    "4.3": {"2-D", "batched", "float32", "float64", "leaf", "nonleaf"},
    "4.4": {"0-d", "1-D", "2-D", "float32", "float64", "inf/nan"},
    "4.5": {"1-D", "2-D", "float32", "float64", "non-contiguous", "nonleaf"},
    "5.1": {"0-d", "1-D", "2-D", "float32", "float64", "leaf", "nonleaf"},
    "5.2": {"1-D", "2-D", "float32", "float64", "leaf", "nonleaf", "plain"},
    "5.3": {"2-D", "float32", "float64", "leaf", "plain"},
    "6.1": {"1-D", "2-D", "batched", "float32", "float64"},
    "6.2": {"2-D", "float32"}, "6.3": {"2-D", "float32"},
    "7.1": {"2-D", "float32", "float64"},
    "8.2": {"1-D", "2-D", "float32", "integer"},
    "9.1": {"1-D", "2-D", "batched", "float32", "float64"},
    "9.2": {"2-D", "batched", "float32", "float64"},
    "10.2": {"batched", "float32", "float64"},
    "10.3": {"batched", "float32", "float64", "integer"}, "10.4": {"batched", "float64", "integer"},
}
LESSONS = ["00_basics", "01_tensors", "02_autograd", "03_graph", "04_inplace", "05_detach", "06_modules", "07_optim",
           "08_training", "09_modes", "10_capstone"]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_exercise_covers_its_input_classes(lesson):
    found = check_classes(lesson)
    declared = checks.load(lesson).CHECKS
    for exercise in {c.exercise for c in declared if c.kind == "exercise" and c.exercise in FLOOR}:
        covered = set().union(*(found[c.id] for c in declared if c.exercise == exercise))
        assert FLOOR[exercise] <= covered, (exercise, FLOOR[exercise] - covered)


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_hidden_check_is_never_narrower_than_its_public_twin(lesson):
    found = check_classes(lesson)
    for check in checks.load(lesson).CHECKS:
        if check.hidden and check.kind == "exercise":
            assert found[check.exercise] <= found[check.id], (check.id, found[check.exercise] - found[check.id])
