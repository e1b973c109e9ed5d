"""Lesson 00 — finding your way (lessons/00_basics/00_basics.ipynb)."""
import torch


def pick_device() -> torch.device:
    """Exercise 0.1 — the best device on this machine: CUDA if available, else Apple's MPS, else CPU.

    Return a `torch.device` (not a string), so `tensor.to(pick_device())` works everywhere.
    """
    ### BEGIN SOLUTION
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
    ### END SOLUTION


def tensor_summary(t: torch.Tensor) -> dict:
    """Exercise 0.2 — the facts you check first when a tensor misbehaves, as a dict:

    {"shape": (2, 3), "dtype": "torch.float32", "device": "cpu", "requires_grad": False, "numel": 6}

    shape is a tuple of ints; dtype and device are the strings `str()` gives for them.
    """
    ### BEGIN SOLUTION
    return {
        "shape": tuple(t.shape),
        "dtype": str(t.dtype),
        "device": str(t.device),
        "requires_grad": t.requires_grad,
        "numel": t.numel(),
    }
    ### END SOLUTION
