"""The trusted half of the one autograd observation (`probes.observe` is the sandboxed half).

`observe(...)` builds a case: the student's function (or autograd.Function) is called in the sandbox on
fresh plain / leaf / non-leaf copies of the inputs, then backward runs with a given grad_output. The
judge compares what was recorded with torch's reference, computed here (`reference`), in one fixed
order, each step switched on by the case:

  1. the call raised                     5. .grad leaked into the caller's tensors
  2. an input's _version or values moved 6. an input's requires_grad changed
  3. the value                           7. backward raised; the gradients reaching each input
  4. the result should (not) need grad   8. needs_input_grad, repeated calls

Hints are given only when the wrong answer matches the mistake they name (a wrong value or gradient
equal to a known wrong answer), or for errors whose text names the cause.
"""
from __future__ import annotations

from typing import Callable

import torch

from autograder import compare
from autograder.inputs import grad_output_like
from autograder.results import Failure
from autograder.spec import Case, result_problem

INPLACE_CALL = "your function still modifies a tensor in place; compute a new tensor instead (x - m, not x -= m)"
INPLACE_BACKWARD = ("a tensor autograd saved for backward was overwritten in place. Write the computation out of "
                    "place (y = a * b, not a *= b)")


_RUN_BACKWARD = torch.autograd.variable.Variable._execution_engine.run_backward


def vector_jacobian(out, inputs, grad_output) -> tuple:
    """torch.autograd.grad(out, inputs, grad_output, allow_unused=True): the same call into torch's
    autograd engine, without autograd.grad's check that grad_output fits out (the grader makes it to
    fit), whose first use imports SymPy: 0.25 s of a `course check` before the sandbox gets its job."""
    return _RUN_BACKWARD((out,), (grad_output,), False, False, tuple(inputs), allow_unreachable=True,
                         accumulate_grad=False)


def reference(fn, inputs, kinds, grad_output=None, extra=()):
    """torch's value of fn at the inputs, and the gradients reaching each non-plain input (None for plain)."""
    leaves = [t.detach().clone().requires_grad_(True) if k != "plain" else t for t, k in zip(inputs, kinds)]
    out = fn(*leaves, *extra)
    wanted = [l for l, k in zip(leaves, kinds) if k != "plain"]
    if grad_output is None or not wanted:
        return out.detach(), [None] * len(inputs)
    grads = iter(vector_jacobian(out, wanted, grad_output))
    full = []
    for l, k in zip(leaves, kinds):
        g = None if k == "plain" else next(grads)
        full.append(None if k == "plain" else (torch.zeros_like(l) if g is None else g))
    return out.detach(), full


def call_error(name: str, text: str, hint: Callable[[str], str | None] | None = None) -> Failure:
    """The call raised: its text, and a hint when the text names a known cause."""
    found = hint(text) if hint else None
    words = text.split(" (raised at ", 1)[0]      # not the file it was raised in (course_pkg/inplace.py)
    if found is None and ("leaf Variable" in words or "in-place" in words or "inplace" in words):
        found = INPLACE_CALL
    return Failure(f"{name} raised {text[:600]}", found or "")


def _requires_grad(rec) -> list[bool]:
    """requires_grad of every tensor in a recorded value."""
    if isinstance(rec, dict) and "__tensor__" in rec:
        return [bool(rec.get("requires_grad"))]
    if isinstance(rec, dict) and "__seq__" in rec and isinstance(rec["__seq__"], list):
        return [x for r in rec["__seq__"] for x in _requires_grad(r)]
    return []


def observe(target: str, inputs, kinds, *, expect=None, grad_output=None, expect_grads=None, apply=False,
            fixture=None, build=None, extra=(), kwargs=None, repeat=1, around=None,
            atol=1e-5, rtol=1e-5, names=None, shown=None, judge=None,
            inputs_unchanged=True, result_requires_grad=None, no_grad_leak=False, needs_input_grad=False,
            value_hints=(), result_hint="", error_hint=None, no_grad_hint="", grad_hints=None,
            missing_grad_hint="", grad_hint="", repeat_hint="", timeout_s=10.0) -> Case:
    """A case observing target on fresh inputs; `judge` replaces the standard judge (same schema)."""
    func = target.rsplit(".", 1)[1] + (".apply" if apply else "")
    names = names or [f"argument {i}" for i in range(len(inputs))]
    originals = [t.detach().clone() if isinstance(t, torch.Tensor) else None for t in inputs]
    wants_grad = any(k != "plain" for k in kinds)

    def standard(o) -> Failure | None:
        if o["call_error"] is not None:
            return call_error(func, o["call_error"], error_hint)
        if not o["results"]:
            return Failure(f"{func} returned nothing")
        if inputs_unchanged:
            for i, (b, a) in enumerate(zip(o["versions_before"], o["versions_after"])):
                if b is not None and a != b:
                    return Failure(f"{func} modified its {names[i]} in place (its _version went from {b} to {a})",
                                   "the caller's tensor must come back unchanged; write the maths out of place")
            after = compare.unrecord(o["args_after"])
            if not isinstance(after, list):
                raise compare.Unreadable("the arguments came back malformed")
            for i, (before, now) in enumerate(zip(originals, after)):
                if before is not None and isinstance(now, torch.Tensor) and not compare.unchanged(before, now):
                    return Failure(f"{func} changed the values of its {names[i]}", "leave the inputs alone")
        value = o["results"][0]
        if expect is not None:
            problem = result_problem(expect, value, atol=atol, rtol=rtol, hints=value_hints)
            if problem:
                return problem.with_hint(result_hint).within("wrong value: ")
        if result_requires_grad is False and any(_requires_grad(value)):
            return Failure(f"what {func} returned still requires grad (it is part of a graph)",
                           "return detached results (torch.autograd.grad without create_graph does that; or .detach())")
        if result_requires_grad and wants_grad and not any(_requires_grad(value)):
            return Failure(f"the result of {func} does not require grad, so no gradient can reach the inputs",
                           no_grad_hint)
        if no_grad_leak:
            for i, g in enumerate(o["grads_after_call"]):
                if g is not None:
                    return Failure(f"{names[i]}: .grad is set on the caller's tensor after your call: backward() "
                                   "accumulated into the inputs", "work on x.detach().requires_grad_() copies and "
                                   "use torch.autograd.grad (it returns the gradients instead of storing them in .grad)")
        if inputs_unchanged:
            for i, (now, k) in enumerate(zip(o["requires_grad_after"], kinds)):
                if now is not None and now != (k != "plain"):
                    return Failure(f"{names[i]}: its requires_grad went from {k != 'plain'} to {now}",
                                   "do not call requires_grad_() on the caller's tensor; work on "
                                   "x.detach().requires_grad_()")
        if o["backward_error"] is not None:
            text = o["backward_error"]
            if "inplace operation" in text:
                return Failure(f"backward raised \"modified by an inplace operation\" ({text[:300]})", INPLACE_BACKWARD)
            return Failure(f"backward raised {text[:500]}")
        before, after = value.get("version") if isinstance(value, dict) else None, o["result_version_after_backward"]
        if isinstance(before, int) and isinstance(after, int) and after != before:
            return Failure(f"backward changed the result of {func} in place (its version went from {before} to "
                           f"{after}): the caller's tensor no longer holds what forward returned",
                           "a tensor saved in forward may be the very result the caller holds: in backward compute "
                           "new tensors (grad_output * y), never y.mul_(...)")
        for i, e in enumerate(expect_grads or ()):
            if e is None:
                continue
            got = o["grads"][i] if i < len(o["grads"]) else None
            if got is None:
                return Failure(f"no gradient reached the {names[i]}", missing_grad_hint)
            problem = compare.tensor_problem(e, compare.unrecord(got), atol=atol, rtol=rtol,
                                             hints=(grad_hints or {}).get(i, ()))
            if problem:
                return problem.with_hint(grad_hint).within(f"wrong gradient for the {names[i]}: ")
        if needs_input_grad and o["backward_returned"] is not None:
            for i, k in enumerate(kinds):
                if k == "plain" and i < len(o["backward_returned"]) and o["backward_returned"][i] is not None:
                    return Failure(f"the {names[i]} does not require grad, yet backward computed a gradient for it",
                                   f"honour ctx.needs_input_grad: if not ctx.needs_input_grad[{i}], return None in "
                                   "its place and skip the work")
        for k, rec in enumerate(o["results"][1:], start=2):
            problem = result_problem(expect, rec, atol=atol, rtol=rtol)
            if problem:
                return Failure(f"call number {k} gave a different answer: {problem.message}", repeat_hint)
        return None

    if shown is None:
        parts = ([fixture] if fixture else []) + [
            compare.show(t) + {"leaf": " (a leaf requiring grad)", "nonleaf": " (requires grad, not a leaf)"}.get(k, "")
            for t, k in zip(inputs, kinds)]
        parts += [compare.show(a) for a in extra] + [f"{k}={v!r}" for k, v in (kwargs or {}).items()]
        what = f"the `{build}` graph built from " if build else ""
        shown = f"{func}({what}{', '.join(parts)})" + (
            f", then backward of {around}(result, x) with a random grad_output" if around and grad_output is not None
            else ", then backward with a random grad_output" if grad_output is not None else "")
    params = {"target": target, "inputs": list(inputs), "kinds": list(kinds), "grad_output": grad_output,
              "apply": apply, "fixture": fixture, "build": build, "extra": list(extra), "kwargs": kwargs or {},
              "repeat": repeat, "around": around}
    return Case("observe", params, judge or standard, shown=shown, timeout_s=timeout_s)


def grad_output_for(ref_fn, inputs, gen, extra=()):
    """A random incoming gradient shaped like ref_fn's output at the inputs."""
    with torch.no_grad():
        return grad_output_like(gen, ref_fn(*inputs, *extra))


def gradient_case(target: str, ref_fn, inputs, kinds, grad_output, *, extra=(), atol=1e-5, rtol=1e-4,
                  **options) -> Case:
    """observe() against torch's `ref_fn`: the value, and the gradient reaching each input through
    backward(grad_output); the result must require grad when an input does."""
    expect, grads = reference(ref_fn, inputs, kinds, grad_output, extra)
    options.setdefault("result_requires_grad", True)
    options.setdefault("no_grad_hint", "detach(), .data or torch.no_grad() cut the graph")
    options.setdefault("missing_grad_hint", "something cut the graph (detach()/.data)")
    return observe(target, inputs, kinds, expect=expect, grad_output=grad_output, expect_grads=grads, extra=extra,
                   atol=atol, rtol=rtol, **options)
