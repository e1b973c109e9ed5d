"""Hostile submissions gain nothing (tests/banks/attacks.py, tests/banks/attacks_06_10.py), and correct but
unusual implementations lose nothing (the RIGHT rows of each lesson's bank)."""
import ast
import textwrap

import pytest

from tests.banks import LESSONS
from tests.banks import attacks, attacks_06_10
from tests.support import ROOT, exercise_ids, grade_with_its_neighbours, lost, messages


ATTACKS = attacks.ATTACKS + attacks_06_10.ATTACKS


@pytest.mark.parametrize("kind,name,lesson,module,exercise,source", ATTACKS,
                         ids=[f"{a[0]}: {a[1]}" for a in ATTACKS])
def test_an_attack_gains_nothing(request, kind, name, lesson, module, exercise, source):
    result = grade_with_its_neighbours(request, lambda lesson, module, source, **_: (lesson, {module: source}))
    assert exercise_ids(result, exercise) <= lost(result), messages(result)


def test_every_attack_compiles():
    """An attack the interpreter cannot even read loses its exercise to a SyntaxError and proves nothing."""
    for kind, name, lesson, module, exercise, source in ATTACKS:
        solution = (ROOT / "course_pkg" / f"{module}.py").read_text()
        ast.parse(solution + "\n\n" + textwrap.dedent(source), f"{kind}: {name}")


RIGHT = [(bank, *row) for bank in LESSONS for row in getattr(bank, "RIGHT", [])]


@pytest.mark.parametrize("bank,exercise,what,source", RIGHT, ids=[f"{b.LESSON}: {w}" for b, _, w, _ in RIGHT])
def test_a_correct_unusual_implementation_loses_nothing(request, bank, exercise, what, source):
    result = grade_with_its_neighbours(request, lambda bank, source, **_: (bank.LESSON, {bank.MODULE: source}))
    assert not (exercise_ids(result, exercise) & lost(result)), messages(result)
