"""The one input vocabulary of every check: seeded tensors of the kinds the specs allow.

Every value is drawn from the check's generator, so public checks see the same inputs each run and
hidden checks fresh ones at grading time. Kinds of autograd input (plain, leaf, non-leaf) are made in
the sandbox from these values (`probes.observe`), so only the values travel.
"""
from __future__ import annotations

import torch

INF = float("inf")


def randn(gen, *shape, device, dtype=torch.float32, scale=1.0) -> torch.Tensor:
    """Normal values, drawn in float64 whatever the dtype, so float32 and float64 cases share a stream."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype).to(device)


def seed_from(gen) -> int:
    """A seed for torch.manual_seed in the sandbox (a module's init, dropout's draws, a loader's order)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=gen))


def mask(gen, *shape, device) -> torch.Tensor:
    """A boolean mask, about half True."""
    return (torch.rand(*shape, generator=gen) < 0.5).to(device)


def ties(gen, device, dtype=torch.float32, random=17, scale=10.0) -> torch.Tensor:
    """Negative numbers, exact ties (x.5), zeros, integers, then random values: where rounding goes wrong."""
    fixed = torch.tensor([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -2.7, 2.7, -2.0, 0.0, 7.0, -0.25, 0.75],
                         dtype=dtype)
    return torch.cat([fixed, randn(gen, random, device="cpu", dtype=dtype, scale=scale)]).to(device)


def extremes(device, dtype=torch.float32) -> torch.Tensor:
    """±inf, nan, −0.0, the largest finite values and magnitudes beyond int32."""
    info = torch.finfo(dtype)
    return torch.tensor([INF, -INF, float("nan"), -0.0, 0.0, info.max, -info.max, info.tiny,
                         2.0 ** 31 + 0.5, -(2.0 ** 31) - 0.5, 2.0 ** 40 + 1, -3e9], dtype=dtype).to(device)


def away_from_zero(x: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
    """x pushed away from 0, where derivatives like ReLU's are only a convention."""
    return x + torch.sign(x) * margin


def with_zeros(x: torch.Tensor, every: int = 3) -> torch.Tensor:
    """x with every `every`-th element set to exactly 0."""
    x = x.clone()
    x.view(-1)[::every] = 0
    return x




def grad_output_like(gen, out: torch.Tensor) -> torch.Tensor:
    """A random incoming gradient for an output: not all ones, so a forgotten chain rule shows."""
    return randn(gen, *out.shape, device=out.device, dtype=out.dtype)
