"""Lesson 01 — tensors and tensor math (lessons/01_tensors/01_tensors.ipynb).

Each exercise rebuilds a torch function from simpler pieces, so you know exactly what the builtin
does at the awkward inputs: negative numbers, exact ties, empty tensors, the top edge of a histogram.
The grader compares your function with the torch builtin named in each docstring, and reports it
if you call that builtin instead of rebuilding it.
"""
import torch


def trunc(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.1 — torch.trunc without torch.trunc/fix: drop the fractional part (round toward zero).

    Build it from torch.floor, torch.ceil (and torch.where or torch.sign). trunc(-2.7) is -2.
    """
    ### BEGIN SOLUTION
    return torch.where(x >= 0, torch.floor(x), torch.ceil(x))
    ### END SOLUTION


def frac(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.2 — torch.frac without torch.frac: the fractional part, with the sign of x.

    frac(-2.75) is -0.75 (not 0.25: that would be x - floor(x)).
    """
    ### BEGIN SOLUTION
    return x - torch.where(x >= 0, torch.floor(x), torch.ceil(x))
    ### END SOLUTION


def fix(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.3 — torch.fix without torch.fix/trunc: numpy's name for rounding toward zero."""
    ### BEGIN SOLUTION
    return torch.sign(x) * torch.floor(torch.abs(x))
    ### END SOLUTION


def round_half_even(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.4 — torch.round without torch.round (or round(), or x.round()).

    Round to the nearest integer; an exact tie (x.5) goes to the even neighbour, as torch.round
    and Python's round() do: 0.5 → 0, 1.5 → 2, 2.5 → 2, -2.5 → -2. Keep the dtype and device.
    """
    ### BEGIN SOLUTION
    down = torch.floor(x)
    rest = x - down                       # in [0, 1]: 1.0 for a tiny negative x (then it goes up, rightly)
    odd = torch.fmod(down, 2) != 0
    go_up = (rest > 0.5) | ((rest == 0.5) & odd)
    return torch.where(go_up, down + 1, down)
    ### END SOLUTION


def py_remainder(a: torch.Tensor, b) -> torch.Tensor:
    """Exercise 1.5 — torch.remainder (Python's %) built from torch.fmod, without % or remainder.

    fmod's result takes the sign of the dividend a: fmod(-7, 3) = -1. Python's % and torch.remainder
    take the sign of the divisor b: -7 % 3 = 2. b may be a tensor (broadcast) or a number.
    """
    ### BEGIN SOLUTION
    r = torch.fmod(a, b)
    b = torch.as_tensor(b, dtype=r.dtype, device=r.device)
    wrong_sign = (r != 0) & ((r < 0) != (b < 0))
    return torch.where(wrong_sign, r + b, r)
    ### END SOLUTION


def histc(input: torch.Tensor, bins: int = 100, min: float = 0, max: float = 0) -> torch.Tensor:
    """Exercise 1.6 — torch.histc without histc/histogram.

    Return a 1-D tensor of `bins` counts, with input's dtype and device, equal to
    `torch.histc(input, bins, min, max)` element for element (the check compares exactly, atol 0),
    and leave `input` unchanged.

    The range [lo, hi]:
      * lo, hi = min, max;
      * if lo == hi (the default 0, 0) and input is not empty: lo, hi = input.min(), input.max();
      * if still lo == hi (all elements equal, or input empty): lo, hi = lo - 1, hi + 1.

    The bin of an element v, counted only if lo <= v <= hi (elements outside are ignored):
        b = int((v - lo) * bins / (hi - lo))      # truncated; computed in input's dtype, in this order
        b = bins - 1 if b == bins                 # v == hi goes into the last bin: its top edge is closed
    Roughly, bin k holds lo + k·w <= v < lo + (k+1)·w with w = (hi - lo) / bins, and the last bin also
    v == hi; where rounding makes that and the formula disagree, the formula is what torch computes.
    An empty input gives `bins` zeros.

    What the check calls: float32 and float64 inputs, 1-D, with min < max given or the default
    (0, 0); values exactly on the bin edges, on max, and outside the range; all elements equal; an
    empty input.
    """
    ### BEGIN SOLUTION
    lo, hi = float(min), float(max)
    if lo == hi and input.numel() > 0:
        lo, hi = input.min().item(), input.max().item()
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    inside = input[(input >= lo) & (input <= hi)]
    index = ((inside - lo) * bins / (hi - lo)).long().clamp(max=bins - 1)
    return torch.bincount(index, minlength=bins).to(input.dtype)
    ### END SOLUTION


def vector_norm(x: torch.Tensor, ord=2, dim=None, keepdim: bool = False) -> torch.Tensor:
    """Exercise 1.7 — torch.linalg.vector_norm without any torch norm function.

    ord: a number p (sum |x|^p)^(1/p); float('inf') is the largest |x|, float('-inf') the smallest,
    0 counts the non-zeros. dim: None (all elements), an int, or a tuple of ints. keepdim keeps the
    reduced dimensions with size 1.
    """
    ### BEGIN SOLUTION
    dims = tuple(range(x.dim())) if dim is None else dim
    a = x.abs()
    if ord == float("inf"):
        return a.amax(dim=dims, keepdim=keepdim)
    if ord == float("-inf"):
        return a.amin(dim=dims, keepdim=keepdim)
    if ord == 0:
        return (x != 0).sum(dim=dims, keepdim=keepdim).to(x.dtype)
    return (a ** ord).sum(dim=dims, keepdim=keepdim) ** (1.0 / ord)
    ### END SOLUTION


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exercise 1.8 — torch.matmul from broadcasting `*` and `.sum()` only (no @, mm, bmm, mv, dot, einsum).

    Every case of torch.matmul:
      1-D · 1-D  → a scalar (dot product)
      2-D · 2-D  → the matrix product
      1-D · 2-D  → a 1 is prepended to a's shape, then removed from the result
      2-D · 1-D  → a 1 is appended to b's shape, then removed from the result
      N-D · N-D  → batched: the leading (batch) dimensions broadcast, the last two multiply
    """
    ### BEGIN SOLUTION
    if a.dim() == 0 or b.dim() == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D")
    if a.dim() == 1 and b.dim() == 1:
        if a.shape != b.shape:
            raise RuntimeError(f"inconsistent tensor size: {a.shape[0]} and {b.shape[0]}")
        return (a * b).sum()
    a2 = a.unsqueeze(0) if a.dim() == 1 else a          # (..., n, k)
    b2 = b.unsqueeze(-1) if b.dim() == 1 else b         # (..., k, m)
    out = (a2.unsqueeze(-1) * b2.unsqueeze(-3)).sum(-2)  # (..., n, k, 1) * (..., 1, k, m) summed over k
    if a.dim() == 1:
        out = out.squeeze(-2)
    if b.dim() == 1:
        out = out.squeeze(-1)
    return out
    ### END SOLUTION


def gather(input: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """Exercise 1.9 — torch.gather with indexing only (no gather, take_along_dim).

    out[i][j][k] = input[index[i][j][k]][j][k]   if dim == 0, and likewise for the other dims.
    The output has index's shape; dim may be negative.
    """
    ### BEGIN SOLUTION
    dim = dim % index.dim()
    positions = []
    for d in range(index.dim()):
        if d == dim:
            positions.append(index)
        else:
            shape = [1] * index.dim()
            shape[d] = index.shape[d]
            positions.append(torch.arange(index.shape[d], device=index.device).view(shape))
    return input[tuple(positions)]
    ### END SOLUTION


def to_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.10 — a batch of images from NCHW (PyTorch's layout) to NHWC (TensorFlow's, PIL's)."""
    ### BEGIN SOLUTION
    return x.permute(0, 2, 3, 1)
    ### END SOLUTION


def to_nchw(x: torch.Tensor) -> torch.Tensor:
    """Exercise 1.11 — a batch of images from NHWC back to NCHW."""
    ### BEGIN SOLUTION
    return x.permute(0, 3, 1, 2)
    ### END SOLUTION
