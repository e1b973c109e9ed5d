"""Hostile submissions gain nothing (tests/banks/attacks.py), and correct but unusual implementations
lose nothing (the RIGHT rows of each lesson's bank)."""
import pytest

from tests.banks import LESSONS
from tests.banks.attacks import ATTACKS
from tests.support import exercise_ids, grade_with_its_neighbours, lost, messages


@pytest.mark.parametrize("kind,name,lesson,module,exercise,source", ATTACKS,
                         ids=[f"{a[0]}: {a[1]}" for a in ATTACKS])
def test_an_attack_gains_nothing(request, kind, name, lesson, module, exercise, source):
    result = grade_with_its_neighbours(request, lambda lesson, module, source, **_: (lesson, {module: source}))
    assert exercise_ids(result, exercise) <= lost(result), messages(result)


RIGHT = [(bank, *row) for bank in LESSONS for row in getattr(bank, "RIGHT", [])]


@pytest.mark.parametrize("bank,exercise,what,source", RIGHT, ids=[f"{b.LESSON}: {w}" for b, _, w, _ in RIGHT])
def test_a_correct_unusual_implementation_loses_nothing(request, bank, exercise, what, source):
    result = grade_with_its_neighbours(request, lambda bank, source, **_: (bank.LESSON, {bank.MODULE: source}))
    assert not (exercise_ids(result, exercise) & lost(result)), messages(result)
