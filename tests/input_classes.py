"""The input classes a check's cases cover, read from the cases themselves (what travels to the sandbox)."""
import torch

from autograder import checks


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def classes_of(case) -> set[str]:
    found = set()
    params = case.params
    for kind in [*params.get("kinds", []), *([params["kind"]] if "kind" in params else [])]:
        found.add(kind)
    if params.get("around"):
        found.add("fan-in")
    inputs = params.get("inputs", params.get("args", []))
    extra = [params.get(k) for k in ("t", "w", "x", "y", "script")]       # module and loop probes' tensors
    for t in _tensors([inputs, params.get("kwargs", {}), params.get("extra", []), *extra]):
        if t.dtype.is_floating_point:
            found.add(str(t.dtype).replace("torch.", ""))
            if t.numel() and bool((~torch.isfinite(t)).any()):
                found.add("inf/nan")
            if t.numel() and bool(((t == 0) & torch.signbit(t)).any()):
                found.add("-0.0")
            if t.numel() and bool(((t.abs() >= 2 ** 31) & torch.isfinite(t)).any()):
                found.add("beyond int32")
        elif t.dtype != torch.bool:
            found.add("integer")
        found.add({0: "0-d", 1: "1-D", 2: "2-D"}.get(t.dim(), "batched"))
        if t.numel() == 0:
            found.add("empty")
        if not t.is_contiguous():
            found.add("non-contiguous")
    if params.get("build") in ("shared", "square_self", "diamond", "residual", "counted", "residual_tanh",
                               "split_parts", "unbind_rows"):
        found.add("fan-in")
    if params.get("build") in ("split_parts", "unbind_rows"):
        found.add("multi-output")
    if params.get("spare"):
        found.add("unreached")
    return found


def check_classes(lesson: str, device: str = "cpu") -> dict[str, set[str]]:
    out = {}
    for check in checks.load(lesson).CHECKS:
        if check.kind != "exercise":
            continue
        gen = torch.Generator().manual_seed(0)
        out[check.id] = set().union(*(classes_of(c) for c in check.make_cases(gen, torch.device(device))))
    return out
