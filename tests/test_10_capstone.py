"""Lesson 10 beyond its row in tests/test_lessons.py: the reference pipeline is what the spec says, both
sides see the same digits, each named loop mistake is a real deviation, and a submission that blows
up while training loses only the exercise it blows up in."""
import math
import subprocess
import sys

import torch

from autograder import module_view, sandbox
from autograder.checks import capstone
from autograder.sandboxed import fixtures
from course_pkg.capstone import digits_data
from tests.support import ROOT, grade, lost, make_submission, messages


def test_the_grader_and_the_students_load_the_same_digits():
    (x, y), (sx, sy) = capstone.digits(), digits_data()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() == 1
    assert torch.equal(x, sx) and torch.equal(y, sy) and sorted(y.unique().tolist()) == list(range(10))


def test_the_graders_digits_do_not_import_scikit_learn():
    """Importing scikit-learn (SciPy with it) took 1.4 s of `course check 10`'s trusted side, before the
    sandbox could get its job; the grader reads the file load_digits reads instead."""
    code = ("import sys\n"
            "from autograder.checks.capstone import digits\n"
            "digits()\n"
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_reference_ema_is_the_warm_up_ramp():
    """AveragedModel with fixtures.ema_ramp follows average ← d·average + (1 − d)·w, d = decay·(1 − e^(−t/τ))."""
    decay, tau = 0.9, 3.0
    w = torch.nn.Parameter(torch.zeros(2))
    model = torch.nn.ParameterList([w])
    averaged = torch.optim.swa_utils.AveragedModel(model, avg_fn=fixtures.ema_ramp(decay, tau), use_buffers=True)
    averaged.update_parameters(model)
    expected = w.detach().clone()
    for t in range(1, 8):
        with torch.no_grad():
            w.add_(torch.tensor([1.0, -2.0]) * t)
        averaged.update_parameters(model)
        d = decay * (1 - math.exp(-t / tau))
        expected = d * expected + (1 - d) * w.detach()
        torch.testing.assert_close(averaged.module[0].detach(), expected)


def test_each_named_loop_mistake_changes_the_history():
    for examples in (capstone.FEW_EXAMPLES, None):       # the public case's digits, the hidden case's
        spec = capstone._spec(3, 2, 0.25, "cpu", torch.float64, examples)
        right = capstone._reference_train(spec)[0]
        for flags, _ in capstone.TRAIN_MISTAKES:
            wrong = capstone._reference_train(spec, **flags)[0]
            assert any(wrong[k] != right[k] for k in capstone.HISTORY), (flags, examples)


def _as_recorded(view):
    """A module_view.describe dict in the shape the sandbox's module_state records it."""
    return {**view, **{part: {name: {"__tensor__": t, "requires_grad": part == "parameters"}
                              for name, t in view[part].items()} for part in ("parameters", "buffers")}}


def test_the_accuracy_case_fails_weights_that_did_not_learn_and_passes_torchs_own():
    """No bank row reaches 10.3's accuracy run (each mistake fails an earlier, exact case): its judge
    is shown here to tell trained weights from untrained ones."""
    case = capstone._accuracy_case(torch.Generator().manual_seed(0), "cpu")
    seed, epochs = case.params["seed"], case.params["epochs"]
    _, states, ema, _, _ = case.prepare()
    outcome = {"call_error": None, "step_error": None, "unhooked": False, "delegated": [],
               "states": [_as_recorded(s) for s in states], "ema": _as_recorded(ema)}
    assert case.judge(outcome) is None
    untrained = _as_recorded(module_view.describe(fixtures.torch_pipeline(seed, 0.25, torch.device("cpu"))[0]))
    failure = case.judge({**outcome, "states": [untrained] * epochs})
    assert failure is not None and "expected at least 95 %" in failure.message, failure


def test_a_memory_bomb_in_train_costs_only_its_exercise(tmp_path):
    sub = make_submission(tmp_path, {"capstone": """
        def train(pipeline, loaders, epochs):
            hog = torch.ones(50 * 2**30 // 4)      # 50 GB
            return hog[:1]
    """})
    result = grade("10_capstone", sub, limits=sandbox.Limits(wall_s=120))
    assert lost(result) == {"10.4", "10.4h"}, messages(result)
