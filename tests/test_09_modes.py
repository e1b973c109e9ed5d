"""Lesson 09 beyond its row in tests/test_lessons.py: what its judges require is torch's own behaviour,
and the judges answer a wrong observation with a Failure, never an exception (no sandbox here, only
the checks module's own pieces)."""
import pytest
import torch
from torch import nn

from autograder.checks import modes


def test_torch_refuses_the_probabilities_the_grader_requires_refused():
    for p in (1.5, -0.1):
        with pytest.raises(ValueError):
            nn.Dropout(p)


def test_torch_refuses_one_value_per_channel_only_in_training_mode():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError):
        bn(torch.randn(1, 4))
    bn.eval()
    bn(torch.randn(1, 4))
    bn.train()
    bn(torch.randn(1, 4, 3))    # one sample of three values per channel is a batch


def _first_dropout_case():
    return next(iter(modes.dropout(torch.Generator().manual_seed(0), "cpu")))


def _dropout_outcome(case, out):
    """module_run's record for a Dropout whose training-mode forward returned `out` (the rest is not reached)."""
    x = case.params["script"][1][1]
    record = {"__tensor__": out, "requires_grad": False}
    step = {"output": record, "input_grad": {"__tensor__": torch.zeros_like(x), "requires_grad": False}}
    empty = {"parameters": {}, "buffers": {}, "persistent": {}, "types": {"": "course_pkg.modes.Dropout"},
             "training": {"": True}}
    return {"call_error": None, "is_module": True, "mro": [], "built": empty, "state_dict": {"keys": []},
            "steps": [{}, step, step, step, {}, step], "step_error": None, "ops": []}


def test_a_dropout_output_in_another_dtype_fails_with_the_dtype():
    case = _first_dropout_case()
    x = case.params["script"][1][1]
    assert x.dtype == torch.float32
    failure = case.judge(_dropout_outcome(case, (x * 2).double()))
    assert failure is not None and "float64" in failure.message
