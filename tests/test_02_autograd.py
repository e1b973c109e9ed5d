"""Lesson 02 beyond its row in tests/test_lessons.py: the gradient-descent reference is torch's SGD."""
import subprocess
import sys

import pytest
import torch

from autograder.checks.autograd import sgd_trajectory
from autograder.sandboxed.fixtures import FUNCTIONS
from tests.support import ROOT


def optimizer_trajectory(loss_fn, w0, lr, steps, zero_grad=True):
    """The same trajectory through the torch.optim.SGD class, as a student would write it."""
    w = w0.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr)
    out = [w.detach().clone()]
    for _ in range(steps):
        if zero_grad:
            opt.zero_grad()
        loss_fn(w).backward()
        opt.step()
        out.append(w.detach().clone())
    return torch.stack(out)


@pytest.mark.parametrize("zero_grad", [True, False], ids=["zeroed", "forgetful"])
@pytest.mark.parametrize("fn, w0, lr, steps", [
    ("rosenbrock", torch.tensor([-0.6, 0.4]), 0.002, 40),
    ("quadratic", torch.randn(4, generator=torch.Generator().manual_seed(1)), 0.05, 15),
    ("regression", torch.randn(3, generator=torch.Generator().manual_seed(2), dtype=torch.float64), 0.1, 20),
])
def test_the_reference_trajectory_is_torch_optim_sgd_bit_for_bit(fn, w0, lr, steps, zero_grad):
    ours = sgd_trajectory(FUNCTIONS[fn], w0, lr, steps, zero_grad)
    torchs = optimizer_trajectory(FUNCTIONS[fn], w0, lr, steps, zero_grad)
    assert ours.dtype == torchs.dtype and torch.equal(ours, torchs)
    assert not torch.equal(ours[-1], ours[0])          # it moved: the comparison means something


def test_building_the_reference_does_not_import_torch_dynamo():
    """torch.optim.SGD imports torch._dynamo (~1 s) on first use; `course check 02` should not pay it."""
    code = ("import sys, torch\n"
            "from autograder.checks.autograd import sgd_trajectory\n"
            "from autograder.sandboxed.fixtures import FUNCTIONS\n"
            "sgd_trajectory(FUNCTIONS['quadratic'], torch.ones(4), 0.1, 3)\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
