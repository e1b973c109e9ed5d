"""Lesson 05 — detach() versus .data, and no_grad (lessons/05_detach/05_detach.ipynb).

Three small tools that use `detach()` on purpose: a straight-through estimator, a safe conversion
to NumPy, and a gradient mask. The grader checks values *and* gradients against torch.
"""
import numpy as np
import torch


def straight_through_round(x: torch.Tensor) -> torch.Tensor:
    """Exercise 5.1 — round in the forward pass, pass the gradient straight through in backward.

    The value is torch.round(x); the gradient with respect to x is the incoming gradient unchanged
    (as if the function were the identity). torch.round's own derivative is 0 almost everywhere,
    which would stop all learning upstream.
    """
    ### BEGIN SOLUTION
    return x + (torch.round(x) - x).detach()
    ### END SOLUTION


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Exercise 5.2 — a NumPy array with t's values, for any t: requiring grad or not, on any device.

    `t.numpy()` refuses a tensor that requires grad, and a CUDA tensor must be copied to the CPU
    first. Return a numpy.ndarray (not a tensor) and leave t as it was (it still requires grad).
    """
    ### BEGIN SOLUTION
    return t.detach().cpu().numpy()
    ### END SOLUTION


def masked_gradient(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Exercise 5.3 — the value of x unchanged, but gradient flows only where mask is True.

    `mask` is a bool tensor that broadcasts to x. The result equals x everywhere; in backward,
    x.grad gets the incoming gradient where mask is True and 0 elsewhere.
    """
    ### BEGIN SOLUTION
    return torch.where(mask, x, x.detach())
    ### END SOLUTION
