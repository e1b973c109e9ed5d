"""Trusted comparisons of what the student's code returned against torch's reference.

Everything here receives data already loaded with `torch.load(weights_only=True)` and re-checks
its shape: a value is a tensor only if it is a record `{"__tensor__": t}` whose `t` is exactly a
`torch.Tensor`. Messages say what was expected, what came back, the largest error and where.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from autograder.results import Failure

MAX_SHOWN = 8


class Unreadable(ValueError):
    """What the student's code returned cannot be compared (a subclass, an arbitrary object): a failure."""


def show(value, limit: int = 160) -> str:
    """A short, readable rendering of a tensor or plain value for feedback."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().reshape(-1)
        if value.numel() <= MAX_SHOWN and value.dim() <= 2:
            text = str(value.detach().cpu().tolist())
        else:
            head = ", ".join(_num(v) for v in flat[:MAX_SHOWN].tolist())
            text = f"[{head}{', …' if flat.numel() > MAX_SHOWN else ''}] (shape {tuple(value.shape)})"
        extras = []
        if value.dtype != torch.float32:
            extras.append(str(value.dtype).replace("torch.", ""))
        if value.device.type != "cpu":
            extras.append(str(value.device))
        if not value.is_contiguous():
            extras.append("non-contiguous")
        text = f"tensor({text}{', ' if extras else ''}{', '.join(extras)})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _pair(expected: float, got: float) -> tuple[str, str]:
    """Two numbers printed with as many digits as it takes to tell them apart (up to 17)."""
    for digits in (4, 6, 9, 12, 17):
        a, b = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if a != b:
            return a, b
    return repr(expected), repr(got)


def unrecord(rec):
    """Turn a recorded value back into Python values, or raise Unreadable saying why it can't be.

    Tensors come back as exact torch.Tensors; anything the probe could not record faithfully
    (a tensor subclass, an arbitrary object) is an error here, so a rigged object never compares.
    """
    if isinstance(rec, dict):
        if "__tensor__" in rec:
            t = rec["__tensor__"]
            if type(t) is not torch.Tensor:
                raise Unreadable(f"returned a {type(t).__name__}, not a plain torch.Tensor")
            return t
        if rec.get("__unsupported__") == "torch.Size":
            raise Unreadable("returned a torch.Size (what t.shape gives), where a plain tuple of ints is asked "
                             "for: tuple(t.shape)")
        if "__unsupported__" in rec:
            raise Unreadable(f"returned a {rec['__unsupported__']}, which is not a plain tensor or number")
        if "__stack__" in rec:      # probes.record_series: one tensor per step
            t = rec["__stack__"]
            if type(t) is not torch.Tensor or t.dim() == 0:
                raise Unreadable("returned a malformed series")
            return list(t.unbind(0))
        if "__seq__" in rec and isinstance(rec["__seq__"], list):
            items = [unrecord(x) for x in rec["__seq__"]]
            return tuple(items) if rec.get("kind") == "tuple" else items
        if "__dict__" in rec and isinstance(rec["__dict__"], dict):
            return {k: unrecord(v) for k, v in rec["__dict__"].items()}
        if "__dtype__" in rec:
            dtype = getattr(torch, str(rec["__dtype__"]).replace("torch.", ""), None)
            if not isinstance(dtype, torch.dtype):
                raise Unreadable("returned a malformed dtype")
            return dtype
        if "__device__" in rec:
            return torch.device(str(rec["__device__"]))
        raise Unreadable("returned a malformed record")
    if rec is None or type(rec) in (bool, int, float, str):
        return rec
    raise Unreadable(f"returned an unexpected {type(rec).__name__}")


def unchanged(before: torch.Tensor, now) -> bool:
    """Whether an argument came back exactly as it went in (NaN equal to NaN, devices aside)."""
    if not isinstance(now, torch.Tensor) or now.shape != before.shape or now.dtype != before.dtype:
        return False
    now = now.to(before.device)
    same = now == before
    if before.is_floating_point() or before.is_complex():
        same |= torch.isnan(now) & torch.isnan(before)
    return bool(same.all())


def torch_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) as torch.testing.assert_close uses them for a dtype: a result that is right up to
    the rounding of an honest construction (1 ulp) passes where the spec only asks for the value."""
    return {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5), torch.float32: (1.3e-6, 1e-5),
            torch.float64: (1e-7, 1e-7)}.get(dtype, (0.0, 0.0))


def tensor_problem(expected: torch.Tensor, got, *, atol: float = 0.0, rtol: float = 0.0,
                   inputs: dict | None = None, hints=()) -> Failure | None:
    """None when `got` matches `expected` (shape, dtype, device, values); else why not.

    `hints` are (alternative, message) pairs: if `got` equals a known wrong answer, the message says
    which misconception produced it. `inputs` (name -> tensor) are shown at the first wrong index
    when they have the output's shape.
    """
    if not isinstance(got, torch.Tensor):
        return Failure(f"expected a tensor, got {show(got)}")
    if got.device != expected.device:
        return Failure(f"the result is on {got.device}, but the input was on {expected.device}",
                       "keep outputs on the input's device")
    if got.dtype != expected.dtype:
        return Failure(f"the result has dtype {got.dtype}, torch gives {expected.dtype} for this input")
    if got.shape != expected.shape:
        return Failure(f"the result has shape {tuple(got.shape)}, torch gives {tuple(expected.shape)}",
                       _known_mistake(got, hints, rtol=rtol, atol=atol))
    if expected.numel() == 0:
        return None
    exp64, got64 = _as_float(expected), _as_float(got)
    close = torch.isclose(got64, exp64, rtol=rtol, atol=atol, equal_nan=True)
    if bool(close.all()):
        return None
    err = torch.where(close, torch.zeros_like(exp64), (got64 - exp64).abs().nan_to_num(math.inf))
    flat = int(err.reshape(-1).argmax())
    # numpy's, not torch.unravel_index: torch's first call imports SymPy (0.45 s of a judge)
    where = tuple(int(i) for i in np.unravel_index(flat, tuple(expected.shape)))
    shown_expected, shown_got = _pair(exp64[where].item(), got64[where].item())
    msg = f"max abs error {float(err.max()):.4g} at index {where}: expected {shown_expected}, got {shown_got}"
    for name, value in (inputs or {}).items():
        if isinstance(value, torch.Tensor) and value.shape == expected.shape:
            msg += f" (where {name} = {_num(_as_float(value)[where].item())})"
    hint = _known_mistake(got, hints, rtol=rtol, atol=atol)
    if hint:
        return Failure(msg, hint)
    ratio = _constant_ratio(exp64, got64)
    if ratio is not None:
        msg += f". Your result is exactly {ratio:g}× the reference everywhere"
    return Failure(msg)


def _known_mistake(got: torch.Tensor, hints, *, rtol: float, atol: float) -> str:
    """The message of the first known wrong answer (alternative, message) that `got` equals."""
    for alternative, hint in hints:
        if (isinstance(alternative, torch.Tensor) and alternative.shape == got.shape and bool(
                torch.isclose(_as_float(got), _as_float(alternative), rtol=rtol, atol=atol, equal_nan=True).all())):
            return hint
    return ""


def _as_float(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    if t.is_complex():
        return t.to(torch.complex128)
    return t.to(torch.float64)


def _constant_ratio(exp: torch.Tensor, got: torch.Tensor):
    nonzero = exp != 0
    if not bool(nonzero.any()) or bool((got[~nonzero] != 0).any()):
        return None
    r = got[nonzero] / exp[nonzero]
    if float(r[0]) == 0 or not bool(torch.isfinite(r).all()):
        return None          # all zeros is a result of its own, not "0× the reference"
    if bool(torch.isclose(r, r[0].expand_as(r), rtol=1e-6).all()) and abs(float(r[0]) - 1) > 1e-6:
        return float(r[0])
    return None
