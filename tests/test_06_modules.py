"""Lesson 06 beyond its row in tests/test_lessons.py: the trusted references its judges use are
themselves torch's behaviour (no sandbox here, only the checks module's own pieces)."""
import pytest
import torch
from torch import nn

from autograder import compare
from autograder.checks import modules
from autograder.sandboxed import fixtures


def test_running_mean_reference_is_batchnorms_running_mean():
    torch.manual_seed(0)
    xs = [torch.randn(n, 3) * 2 + 1 for n in (4, 6, 5, 3)]
    script = [("forward", xs[0], "leaf", torch.ones(4, 3)), ("forward", xs[1], "plain", None), ("train", False),
              ("forward", xs[2], "leaf", torch.ones(5, 3)), ("train", True), ("forward", xs[3], "plain", None)]
    expected = modules._running_reference(script, 3, 0.3, "cpu")
    bn = nn.BatchNorm1d(3, momentum=0.3, affine=False)
    for step, exp in zip(script, expected):
        if step[0] == "train":
            bn.train(step[1])
        if exp is not None:
            bn(step[1])
            torch.testing.assert_close(exp["running"].float(), bn.running_mean)


def test_the_init_mistakes_differ_from_nn_linear():
    torch.manual_seed(3)
    right = nn.Linear(4, 5)
    for mistake in (modules._drawn(3, 4, 5, 1 / 5 ** 0.5), modules._drawn(3, 4, 5, 1 / 4 ** 0.5, bias_first=True)):
        assert not torch.equal(mistake["weight"], right.weight.detach())
    same = modules._drawn(3, 4, 5, 1 / 4 ** 0.5)
    torch.testing.assert_close(same["weight"], right.weight.detach(), rtol=1e-6, atol=1e-7)


def test_a_checkpoint_relabelled_as_saved_on_a_gpu_needs_map_location():
    data = modules._as_if_saved_on_gpu({"w": torch.arange(3.0)})
    import io
    raw = io.BytesIO(bytes(data.tolist()))
    if not torch.cuda.is_available():
        try:
            torch.load(raw, weights_only=True)
        except RuntimeError as e:
            assert "CUDA" in str(e)
        else:
            raise AssertionError("a cuda:0 checkpoint loaded without map_location on a CPU-only machine")
    raw.seek(0)
    assert torch.equal(torch.load(raw, weights_only=True, map_location="cpu")["w"], torch.arange(3.0))


def _misspelt_name_case():
    gen = torch.Generator().manual_seed(0)
    return next(c for c in modules.freeze_all_but(gen, "cpu") if "decoder" in c.shown)


def test_a_misspelt_name_must_leave_requires_grad_as_it_was():
    case = _misspelt_name_case()
    # the fixture as the probe leaves it when nothing changed: head.weight frozen before, the rest trainable
    names = [n for n, _ in fixtures.MODELS["encoder_head"]().named_parameters()]
    untouched = {n: n != "head.weight" for n in names}
    raised = "AttributeError: Sequential has no attribute `decoder`"
    assert case.judge({"call_error": raised, "requires_grad": untouched}) is None
    frozen = case.judge({"call_error": raised, "requires_grad": {n: False for n in names}})
    assert frozen is not None and "leave the model as it was" in frozen.message
    # what came back is the student process's: a missing record fails the case, it does not crash the judge
    with pytest.raises(compare.Unreadable):
        case.judge({"call_error": raised})

