"""The trusted reading of a module as the sandbox recorded it (`probes_modules.module_state`), and
torch's reference module described the same way, so that a judge compares like with like."""
from __future__ import annotations

import torch

from autograder import compare
from autograder.results import Failure
from autograder.spec import Case

TORCH_LINEAR = "torch.nn.modules.linear.Linear"


def case(target, args, kwargs, script, seed, judge, shown, timeout_s=30.0) -> Case:
    """A case of probes_modules.module_run: target(*args, **kwargs) built under seed, then the script."""
    return Case("probes_modules.module_run", {"target": target, "args": list(args), "kwargs": kwargs,
                                              "script": script, "seed": seed}, judge, shown=shown,
                timeout_s=timeout_s)


def built(o, name):
    """module_run's common first verdicts (it was built, it is a module, the script ran), then the
    module as built: (state, None) or (None, Failure)."""
    if o["call_error"] is not None:
        return None, Failure(f"{name} raised {o['call_error'][:600]}")
    if not o["is_module"]:
        return None, Failure(f"{name} is not an nn.Module", "subclass torch.nn.Module and call super().__init__() "
                             "first in __init__")
    if o["step_error"] is not None:
        return None, Failure(f"running it raised {o['step_error'][:600]}")
    return read(o["built"]), None


def describe(module: torch.nn.Module) -> dict:
    """A real (reference) module in the recorded shape: names → tensors, in state_dict order."""
    persistent = {k for k in module.state_dict()}
    return {"parameters": {n: p.detach().clone() for n, p in module.named_parameters(remove_duplicate=False)},
            "buffers": {n: b.detach().clone() for n, b in module.named_buffers(remove_duplicate=False)},
            "persistent": {n: n in persistent for n, _ in module.named_buffers(remove_duplicate=False)},
            "types": {n: f"{type(m).__module__}.{type(m).__qualname__}" for n, m in module.named_modules()},
            "training": {n: m.training for n, m in module.named_modules()}}


def read(rec) -> dict:
    """A recorded module_state as names → tensors; Unreadable if it is not one."""
    if not isinstance(rec, dict):
        raise compare.Unreadable("the module's state came back malformed")
    out = {}
    for part in ("parameters", "buffers"):
        entries = rec.get(part)
        if not isinstance(entries, dict):
            raise compare.Unreadable("the module's state came back malformed")
        out[part] = {str(k): compare.unrecord(v) for k, v in entries.items()}
        if not all(isinstance(t, torch.Tensor) for t in out[part].values()):
            raise compare.Unreadable(f"the module's {part} are not plain tensors")
    for part in ("persistent", "types", "training"):
        out[part] = rec.get(part) if isinstance(rec.get(part), dict) else {}
    out["requires_grad"] = {k: bool(v.get("requires_grad")) for k, v in rec["parameters"].items()
                            if isinstance(v, dict)}
    return out


def names_problem(what: str, expected, got, hint: str = "") -> Failure | None:
    """Expected and actual names (of parameters, buffers, keys), in order."""
    expected, got = list(expected), list(got)
    if expected == got:
        return None
    missing = [n for n in expected if n not in got]
    extra = [n for n in got if n not in expected]
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        return Failure(f"{what}: {', '.join(parts)} (expected {expected}, got {got})", hint)
    return Failure(f"{what} are in the wrong order: expected {expected}, got {got}", hint)


def tensors_problem(what: str, expected: dict, got: dict, *, atol=1e-5, rtol=1e-4, hints=None) -> Failure | None:
    """Tensors by name: same names, shapes, dtypes and values (hints: name → [(wrong, message)])."""
    problem = names_problem(what, expected, got)
    if problem:
        return problem
    for name, e in expected.items():
        problem = compare.tensor_problem(e, got[name].to(e.device), atol=atol, rtol=rtol,
                                         hints=(hints or {}).get(name, ()))
        if problem:
            return problem.within(f"{what} `{name}`: ")
    return None


def uses_torch_class(types: dict, mro, qualified: str) -> str | None:
    """Where a forbidden torch class is used: the module is one, or holds one."""
    if qualified in (mro or []):
        return "the class itself subclasses it"
    inner = [name or "(the module)" for name, t in types.items() if t == qualified]
    return f"sub-module {inner[0]} is one" if inner else None
