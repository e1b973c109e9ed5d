"""Every lesson, one row of tests each: the instructor edition scores full marks on every available
device, the released student edition scores zero, and every realistic wrong answer in the lesson's
table (tests/banks/<module>.py) loses exactly the points of its own exercise, with a message that
names the mistake."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from autograder import checks, engine
from tests.banks import LESSONS
from tests.support import (SECRET, exercise_checks, exercise_ids, grade, grade_with_its_neighbours, lost, make_submission,
                           messages, student_submission)

DEVICES = {"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"}
NAMES = [bank.LESSON for bank in LESSONS]


@pytest.mark.parametrize("bank", LESSONS, ids=NAMES)
def test_instructor_edition_scores_full_marks(tmp_path, bank):
    result = grade(bank.LESSON, make_submission(tmp_path))
    assert not lost(result), messages(result)
    assert result.score == result.max > 0
    declared = checks.load(bank.LESSON).CHECKS.by_id()
    for check in result.checks:
        assert set(check.devices) == (DEVICES if declared[check.id].cuda else {"cpu"}), check


@pytest.mark.parametrize("bank", LESSONS, ids=NAMES)
def test_student_edition_scores_zero(tmp_path, bank):
    result = grade(bank.LESSON, student_submission(tmp_path))
    assert result.checks and all(c.points == 0 for c in result.checks), messages(result)
    public = [c for c in exercise_checks(result) if not c.hidden]
    assert public and all(set(c.devices.values()) == {"not_started"} and "not started" in c.message
                          for c in public), messages(result)


# A row may name, after its keyword, the exercises that use the broken piece and so lose their points
# too (the capstone's pipeline is built from the student's BatchNorm2d): exactly those, no others.
WRONG = [(bank, *row[:4], tuple(row[4]) if len(row) > 4 else ()) for bank in LESSONS for row in bank.WRONG]


@pytest.mark.parametrize("bank,exercise,what,source,keyword,users", WRONG,
                         ids=[f"{bank.LESSON}: {what}" for bank, _, what, *_ in WRONG])
def test_wrong_answer_loses_exactly_its_exercise(request, bank, exercise, what, source, keyword, users):
    result = grade_with_its_neighbours(request, lambda bank, source, **_: (bank.LESSON, {bank.MODULE: source}))
    expected = set().union(*(exercise_ids(result, e) for e in (exercise, *users)))
    assert lost(result) == expected, messages(result)
    public = next(c for c in result.checks if c.id == exercise)
    assert keyword in public.message, public.message


@pytest.mark.parametrize("lesson", ["06_modules", "08_training"])
def test_gradings_in_two_threads_judge_as_one_at_a_time(tmp_path, lesson):
    """`course grade --jobs 2` grades two students at once in threads of one process, and the trusted
    side's references seed torch's global RNG before they build a model: without taking turns, one
    grading's seed lands in the other's reference and a right answer loses points."""
    subs = [make_submission(tmp_path, name=f"student{i}") for i in range(4)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: engine.grade_submission(lesson, s, hidden=True, secret=SECRET), subs))
    for result in results:
        assert not lost(result), messages(result)
