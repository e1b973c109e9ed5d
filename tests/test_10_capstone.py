"""Lesson 10 beyond its row in tests/test_lessons.py: the reference pipeline is what the spec says, both
sides see the same digits, each named loop mistake is a real deviation, and a submission that blows
up while training loses only the exercise it blows up in."""
import math
import subprocess
import sys

import torch

from autograder import engine, module_view, sandbox
from autograder.checks import capstone
from autograder.sandboxed import fixtures
from course_pkg.capstone import digits_data
from tests.banks import capstone as bank
from tests.support import ROOT, SECRET, grade, lost, make_submission, messages


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


def _dropout_passes(case, drop):
    """The accuracy case's sampled dropout passes, recorded as parts_run records them: drop(x) at each
    training pass it asks for, the identity at test time; and how many passes ran."""
    p, picks = case.params["dropout"], case.params["dropout_passes"]
    steps = picks[-1]                      # the last pick is the eval pass, after every training step
    gen = torch.Generator().manual_seed(1)
    passes = []
    for k in picks:
        x = torch.rand(64 if k < steps else 360, 128, generator=gen)
        y = drop(x, p, gen) if k < steps else x
        passes.append([k < steps, {"__tensor__": x}, {"__tensor__": y}])
    return {"dropout": passes, "dropout_count": steps + 1}


def _inverted_dropout(x, p, gen):
    return x * (torch.rand(x.shape, generator=gen) >= p) / (1 - p)


def test_the_accuracy_case_fails_weights_that_did_not_learn_and_passes_torchs_own():
    """No bank row reaches 10.3's accuracy run's accuracy (each mistake fails an earlier, exact case):
    its judge is shown here to tell trained weights from untrained ones."""
    case = capstone._accuracy_case(torch.Generator().manual_seed(0), "cpu")
    seed, epochs = case.params["seed"], case.params["epochs"]
    _, states, ema, _, _ = case.prepare()
    outcome = {"call_error": None, "step_error": None, "unhooked": False, "delegated": [],
               "states": [_as_recorded(s) for s in states], "ema": _as_recorded(ema),
               **_dropout_passes(case, _inverted_dropout)}
    outcome["dropout"][-1][0] = False      # the eval pass
    assert case.judge(outcome) is None
    untrained = _as_recorded(module_view.describe(fixtures.torch_pipeline(seed, 0.25, torch.device("cpu"))[0]))
    failure = case.judge({**outcome, "states": [untrained] * epochs})
    assert failure is not None and "expected at least 95 %" in failure.message, failure


def test_the_accuracy_case_judges_a_few_of_its_float32_dropout_passes():
    """The float32 accuracy run records a handful of its dropout passes (not all: that would slow
    `course check 10`) and judges them as masks: a Dropout wrong only in float32 loses 10.3 even where
    it learns well enough. The training weights here are torch's own, so only the passes are wrong."""
    case = capstone._accuracy_case(torch.Generator().manual_seed(0), "cpu")
    picks = case.params["dropout_passes"]
    assert len(picks) == 5 and picks[-1] == 10 * 23 and len(set(picks)) == 5     # 10 epochs of 23 batches
    _, states, ema, _, _ = case.prepare()
    base = {"call_error": None, "step_error": None, "unhooked": False, "delegated": [],
            "states": [_as_recorded(s) for s in states], "ema": _as_recorded(ema)}
    wrong = {"keeps p, unscaled": (lambda x, p, g: x * (torch.rand(x.shape, generator=g) < p), "1 / (1 - p)"),
             "keeps p, scaled": (lambda x, p, g: x * (torch.rand(x.shape, generator=g) < p) / (1 - p),
                                 "% of the features"),
             "the identity": (lambda x, p, g: x, "1 / (1 - p)")}
    for what, (drop, words) in wrong.items():
        failure = case.judge({**base, **_dropout_passes(case, drop)})
        assert failure is not None and "float32" in failure.message and words in failure.message, (what, failure)
    right = _dropout_passes(case, _inverted_dropout)
    assert case.judge({**base, **right}) is None
    on_at_test = _dropout_passes(case, _inverted_dropout)
    on_at_test["dropout"][-1][2] = {"__tensor__": _inverted_dropout(on_at_test["dropout"][-1][1]["__tensor__"],
                                                                    0.25, torch.Generator())}
    failure = case.judge({**base, **on_at_test})
    assert failure is not None and "eval mode" in failure.message, failure
    for count in (0, right["dropout_count"] - 1):          # a pass that ran without the hooks seeing it
        failure = case.judge({**base, **right, "dropout_count": count})
        assert failure is not None and "once per forward" in failure.message, failure
    failure = case.judge({**base, **right, "dropout": right["dropout"][1:]})
    assert failure is not None and "the grader saw 4 of the 5" in failure.message, failure


def test_the_loop_must_show_every_forward_to_the_graders_hooks():
    """10.4's probe hooks the model and ema.module: a loop whose forwards the hooks never see (hooks
    removed, or nets run through .forward) fails, so the evaluation's grad mode can't go unobserved."""
    case = capstone._train_case(torch.Generator().manual_seed(0), "cpu", 2, capstone.FEW_EXAMPLES)
    history, model, ema = case.prepare()
    train_batches = [64] * 4 + [44]
    test_batches = [128, 128, 104]
    flags = [True] * 6
    forwards = []
    for _ in range(2):
        forwards += [["model", True, flags, n] for n in train_batches]
        forwards += [[which, False, [False] * 6, n] for which in ("model", "ema") for n in test_batches]
    returned = {"__dict__": {k: {"__seq__": v, "kind": "list"} for k, v in history.items()}}
    outcome = {"call_error": None, "returned": returned,
               "forwards": forwards, "training_after": True,
               "state": _as_recorded(model), "ema": _as_recorded(ema)}
    assert case.judge(outcome) is None
    failure = case.judge({**outcome, "forwards": []})
    assert failure is not None and "forwards of the model in training mode" in failure.message, failure
    failure = case.judge({**outcome, "forwards": [f for f in forwards if f[0] != "ema"]})
    assert failure is not None and "ema.module evaluate 0 test examples" in failure.message, failure
    twice = forwards + [f for f in forwards if not f[2][0]]      # the test set evaluated twice: harmless
    assert case.judge({**outcome, "forwards": twice}) is None


def test_the_split_is_read_through_torchs_own_types(tmp_path):
    """The split's probe reads only an exact DataLoader whose batches are plain tuples or lists of plain
    tensors: a tuple subclass can read one way indexed (as a probe reads it) and another unpacked (as
    a training loop does), so the right split can be shown while the wrong one is used."""
    case = next(capstone.split_loaders(torch.Generator().manual_seed(0), "cpu"))
    base = {"call_error": None, "epochs": [], "global_after": None, "odd_batch": None}
    failure = case.judge({**base, "loaders": [[[True, "torch.utils.data.dataloader.DataLoader"],
                                               [False, "course_pkg.capstone.MyLoader"]]]})
    assert failure is not None and "got a MyLoader" in failure.message, failure
    failure = case.judge({**base, "loaders": [[[True, "d.DataLoader"]] * 2],
                          "odd_batch": "a course_pkg.capstone._Batch"})
    assert failure is not None and "plain tensors" in failure.message, failure
    sub = make_submission(tmp_path, {"capstone": """
        class _Batch(tuple):
            def __getitem__(self, i):               # indexed: the right split's batch; unpacked: the wrong one's
                return self._shown[i]


        def _collate(samples):
            columns = [torch.stack(c) for c in zip(*samples)]
            batch = _Batch(columns[:2])
            batch._shown = columns[2:]
            return batch


        def split_loaders(images, labels, seed, batch_size=64, test_size=360):
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
            test, train = order[-test_size:], order[:-test_size]
            shown_test, shown_train = order[:test_size], order[test_size:]
            make = lambda used, shown, **kw: DataLoader(
                TensorDataset(images[used], labels[used], images[shown], labels[shown]), batch_size=batch_size,
                collate_fn=_collate, generator=torch.Generator().manual_seed(seed), **kw)
            return make(train, shown_train, shuffle=True), make(test, shown_test)
    """})
    result = grade("10_capstone", sub)
    assert lost(result) == {"10.1", "10.1h"}, messages(result)
    assert "plain tensors" in next(c for c in result.checks if c.id == "10.1").message


def test_a_memory_bomb_in_train_costs_only_its_exercise(tmp_path):
    sub = make_submission(tmp_path, {"capstone": """
        def train(pipeline, loaders, epochs):
            hog = torch.ones(50 * 2**30 // 4)      # 50 GB
            return hog[:1]
    """})
    result = grade("10_capstone", sub, limits=sandbox.Limits(wall_s=120))
    assert lost(result) == {"10.4", "10.4h"}, messages(result)


def test_only_a_quick_check_leaves_out_the_accuracy_run(tmp_path):
    """`course check 10` without --full does not train 10 epochs: what it leaves out is named, and only
    that run sees float32, so a Dropout wrong only in float32 passes a quick 10.3 and fails the full
    check, which a check cell and grading (hidden=True, whatever `quick` says) run."""
    row = next(row for row in bank.WRONG if "only the accuracy run uses float32" in row[1])
    sub = make_submission(tmp_path, {bank.MODULE: row[2]})
    quick = engine.grade_submission(bank.LESSON, sub, only={"10.3"}, quick=True).checks[0]
    full = engine.grade_submission(bank.LESSON, sub, only={"10.3"}).checks[0]
    graded = engine.grade_submission(bank.LESSON, sub, only={"10.3"}, quick=True, hidden=True, secret=SECRET).checks[0]
    assert quick.points == quick.max and len(quick.left_out) == 1 and "10 epochs" in quick.left_out[0], quick
    for result in (full, graded):
        assert result.points == 0 and row[3] in result.message and not result.left_out, result
