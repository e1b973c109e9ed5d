"""Checks for lesson 04 (course_pkg/inplace.py). References are torch's own gradients, computed here.

The gradient helpers (`grad_case`, `grad_output_for`) are shared with lesson 05's checks.
"""
import torch

from autograder import compare
from autograder.spec import Case, CheckList

CHECKS = CheckList()

HIDDEN_FROM_AUTOGRAD = ("the value is right but the gradient is not. If you made the in-place error go away with "
                        ".data or detach(), part of the computation is now invisible to autograd: write the maths "
                        "out of place instead")
INPLACE_ERROR = ("a tensor autograd saved for backward was overwritten in place. Write the computation out of "
                 "place (y = a * b, not a *= b)")


def randn(gen, *shape, device, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype).to(device)


def reference(fn, inputs, kinds, grad_output, extra=()):
    """torch's value and gradients of fn at the inputs (None for inputs of kind "plain")."""
    leaves = [t.detach().clone().requires_grad_(True) if k != "plain" else t for t, k in zip(inputs, kinds)]
    out = fn(*leaves, *extra)
    wanted = [l for l, k in zip(leaves, kinds) if k != "plain"]
    grads = iter(torch.autograd.grad(out, wanted, grad_output, allow_unused=True) if wanted else ())
    full = []
    for l, k in zip(leaves, kinds):
        g = None if k == "plain" else next(grads)
        full.append(None if k == "plain" else (torch.zeros_like(l) if g is None else g))
    return out.detach(), full


def grad_output_for(ref_fn, inputs, gen, extra=()):
    """A random incoming gradient shaped like ref_fn's output."""
    with torch.no_grad():
        out = ref_fn(*inputs, *extra)
    return randn(gen, *out.shape, device=out.device, dtype=out.dtype)


def call_error_problem(func, text):
    msg = f"{func} raised {text[:500]}"
    if "leaf Variable" in text or "in-place" in text or "inplace" in text:
        msg += (". Hint: your function still modifies a tensor in place; "
                "compute a new tensor instead (x - m, not x -= m)")
    return msg


def grad_case(target, ref_fn, inputs, kinds, grad_output, *, extra=(), atol=1e-5, rtol=1e-4, value_hints=(),
              grad_hints=None, names=None, shown=None):
    """A case: call target on fresh inputs, backward(grad_output); compare with torch's ref_fn.

    kinds[i]: "leaf" (a leaf requiring grad), "nonleaf" (requires grad, not a leaf) or "plain".
    grad_hints: {input index: [(wrong gradient, message), ...]}. The inputs must come back unchanged.
    """
    func = target.rsplit(".", 1)[1]
    expect, grads = reference(ref_fn, inputs, kinds, grad_output, extra)
    names = names or [f"argument {i}" for i in range(len(inputs))]
    originals = [t.detach().clone() for t in inputs]
    wants_grad = any(k != "plain" for k in kinds)

    def judge(o):
        if "call_error" in o:
            return call_error_problem(func, o["call_error"])
        for i, (b, a) in enumerate(zip(o["versions_before"], o["versions_after_call"])):
            if b is not None and a != b:
                return (f"{func} modified its {names[i]} in place (its _version went from {b} to {a}). "
                        f"Hint: the caller's tensor must come back unchanged; write the maths out of place")
        after = compare.unrecord(o["args_after"])
        for i, (before, now) in enumerate(zip(originals, after)):
            if isinstance(now, torch.Tensor) and (now.shape != before.shape or not torch.equal(now, before)):
                return f"{func} changed the values of its {names[i]}. Hint: leave the inputs alone"
        problem = compare.tensor_problem(expect, compare.unrecord(o["value"]), atol=atol, rtol=rtol,
                                         hints=value_hints)
        if problem:
            return f"wrong value: {problem}"
        if wants_grad and not o["value"].get("requires_grad"):
            return ("the result does not require grad, so no gradient can reach the inputs. Hint: detach(), "
                    ".data or torch.no_grad() cut the graph")
        if o["backward_error"]:
            text = o["backward_error"]
            if "inplace operation" in text:
                return f"backward raised \"modified by an inplace operation\". Hint: {INPLACE_ERROR} ({text[:300]})"
            return f"backward raised {text[:500]}"
        for i, g in enumerate(grads):
            if g is None:
                continue
            got = o["grads"][i]
            if got is None:
                return f"no gradient reached the {names[i]}. Hint: something cut the graph (detach()/.data)"
            problem = compare.tensor_problem(g, compare.unrecord(got), atol=atol, rtol=rtol,
                                             hints=(grad_hints or {}).get(i, ()))
            if problem:
                if "Hint:" not in problem:
                    problem += f". Hint: {HIDDEN_FROM_AUTOGRAD}"
                return f"wrong gradient for the {names[i]}: {problem}"
        return None

    params = {"target": target, "inputs": list(inputs), "kinds": list(kinds), "grad_output": grad_output,
              "extra": list(extra)}
    if shown is None:
        shown = f"{func}({', '.join(compare.show(t) for t in inputs)}) with inputs {'/'.join(kinds)}"
    return Case("probes_inplace.grad_call", params, judge, shown=shown)


# ---- 4.1 silu ------------------------------------------------------------------------------------

def _silu_case(x, kind, gen):
    g = grad_output_for(torch.nn.functional.silu, [x], gen)
    s = torch.sigmoid(x)
    hints = {0: [(g * s * (1 - s) * x, "this is the gradient of s * x.detach(): the x factor is invisible to "
                                       "autograd, so its share of the gradient is missing"),
                 (g * s, "this is the gradient of sigmoid(x).detach() * x: the sigmoid's share is missing"),
                 (g * (s * x) * (1 - s * x), "this is the gradient of the .data fix: sigmoid's backward used its "
                                             "saved output after .data overwrote it with x*sigmoid(x)")]}
    return grad_case("inplace.silu", torch.nn.functional.silu, [x], [kind], g, grad_hints=hints, names=["input x"])


@CHECKS.add("4.1", points=2, target="inplace.silu")
def silu(gen, device):
    yield _silu_case(randn(gen, 3, 5, device=device, scale=2), "leaf", gen)
    yield _silu_case(randn(gen, 7, device=device, scale=3), "nonleaf", gen)
    yield _silu_case(randn(gen, 2, 3, device=device, dtype=torch.float64), "leaf", gen)


@CHECKS.add("4.1h", points=1, target="inplace.silu", hidden=True)
def silu_hidden(gen, device):
    yield _silu_case(randn(gen, 4, 6, device=device, scale=4), "nonleaf", gen)


# ---- 4.2 standardize -----------------------------------------------------------------------------

def _standardize_ref(x):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / centred.std(dim=-1, keepdim=True)


def _standardize_case(x, kind, gen):
    g = grad_output_for(_standardize_ref, [x], gen)
    c = x - x.mean(dim=-1, keepdim=True)
    detached_std = g / c.std(dim=-1, keepdim=True)
    detached_std = detached_std - detached_std.mean(dim=-1, keepdim=True)
    hints = {0: [(detached_std, "this is the gradient with the std treated as a constant (detached): the std "
                                "depends on x too, so its share of the gradient is missing")]}
    return grad_case("inplace.standardize", _standardize_ref, [x], [kind], g, grad_hints=hints,
                     names=["input x"], atol=1e-4)


@CHECKS.add("4.2", points=2, target="inplace.standardize")
def standardize(gen, device):
    yield _standardize_case(randn(gen, 3, 6, device=device, scale=3), "nonleaf", gen)   # mutation shows here
    yield _standardize_case(randn(gen, 3, 6, device=device, scale=3), "plain", gen)
    yield _standardize_case(randn(gen, 4, 5, device=device), "leaf", gen)
    yield _standardize_case(randn(gen, 2, 3, 4, device=device, dtype=torch.float64), "leaf", gen)


@CHECKS.add("4.2h", points=1, target="inplace.standardize", hidden=True)
def standardize_hidden(gen, device):
    yield _standardize_case(randn(gen, 5, 8, device=device, scale=5), "nonleaf", gen)
    yield _standardize_case(randn(gen, 2, 7, device=device), "leaf", gen)


# ---- 4.3 softmax_layer ---------------------------------------------------------------------------

def _softmax_ref(x, w):
    return torch.softmax(x @ w, dim=-1)


def _softmax_case(x, w, kinds, gen):
    g = grad_output_for(_softmax_ref, [x, w], gen)
    return grad_case("inplace.softmax_layer", _softmax_ref, [x, w], kinds, g, names=["input x", "weight w"],
                     atol=1e-5)


SOFTMAX_FORBID = ("softmax", "_softmax", "log_softmax")


@CHECKS.add("4.3", points=2, target="inplace.softmax_layer", forbid=SOFTMAX_FORBID)
def softmax_layer(gen, device):
    yield _softmax_case(randn(gen, 2, 3, device=device), randn(gen, 3, 4, device=device), ["leaf", "leaf"], gen)
    yield _softmax_case(randn(gen, 5, 3, device=device), randn(gen, 3, 2, device=device), ["nonleaf", "leaf"], gen)
    yield _softmax_case(randn(gen, 4, 3, device=device, dtype=torch.float64),
                        randn(gen, 3, 3, device=device, dtype=torch.float64), ["leaf", "nonleaf"], gen)


@CHECKS.add("4.3h", points=1, target="inplace.softmax_layer", forbid=SOFTMAX_FORBID, hidden=True)
def softmax_layer_hidden(gen, device):
    yield _softmax_case(randn(gen, 3, 2, 4, device=device), randn(gen, 4, 5, device=device), ["nonleaf", "leaf"], gen)


# ---- 4.4 reset_leaf_ -----------------------------------------------------------------------------

REBIND = ("`w = ...` inside the function only rebinds the local name; the caller's tensor is untouched. "
          "Write into w itself, in place, under torch.no_grad() (w.copy_(...), w.fill_(...) or w[...] = ...)")


def _reset_case(w, value, gen):
    g = randn(gen, *w.shape, device=w.device, dtype=w.dtype)
    expect = torch.as_tensor(value, dtype=w.dtype, device=w.device).expand_as(w).clone()
    old = w.clone()

    def judge(o):
        if "call_error" in o:
            text = o["call_error"]
            msg = f"reset_leaf_ raised {text[:400]}"
            if "leaf Variable" in text:
                msg += ". Hint: an in-place change of a leaf that requires grad must be done under torch.no_grad()"
            return msg
        got = compare.unrecord(o["w"])
        if isinstance(got, torch.Tensor) and got.shape == old.shape and torch.equal(got, old) \
                and not torch.equal(old, expect):
            return f"the caller's w still holds its old values. Hint: {REBIND}"
        problem = compare.tensor_problem(expect, got)
        if problem:
            return f"w does not hold the new values: {problem}"
        if not o["requires_grad"]:
            return ("w no longer requires grad. Hint: keep w.requires_grad True (do not switch it off, or switch it "
                    "back on); torch.no_grad() alone is enough to allow the in-place write")
        if not o["is_leaf"]:
            return "w is no longer a leaf. Hint: do the write under torch.no_grad() so it is not recorded"
        if not o["returned_is_w"]:
            return "reset_leaf_ must return w itself (the same object), as in-place methods do"
        if o["version_after"] <= o["version_before"]:
            return (f"w._version did not change ({o['version_before']} → {o['version_after']}). Hint: a write through "
                    "w.data is invisible to autograd, so a graph that saved w would silently use the new values; "
                    "write to w itself under torch.no_grad()")
        if o["stale_backward_error"] is None:
            return "a graph built before the reset did not notice it. Hint: write to w itself, not through .data"
        if o["fresh_backward_error"]:
            return f"w can no longer be used in a graph afterwards: {o['fresh_backward_error'][:300]}"
        problem = compare.tensor_problem(g, compare.unrecord(o["grad_after"]) if o["grad_after"] else None)
        if problem:
            return f"after the reset, backward of (w * g).sum() gave a wrong w.grad: {problem}"
        return None

    shown = f"reset_leaf_(w={compare.show(w)}, value={compare.show(value)})"
    return Case("probes_inplace.reset_leaf", {"target": "inplace.reset_leaf_", "w": w, "value": value,
                                              "grad_output": g}, judge, shown=shown)


@CHECKS.add("4.4", points=2, target="inplace.reset_leaf_")
def reset_leaf_(gen, device):
    yield _reset_case(randn(gen, 4, device=device), 10.0, gen)
    yield _reset_case(randn(gen, 3, 4, device=device), randn(gen, 3, 4, device=device), gen)
    yield _reset_case(randn(gen, 2, 3, device=device, dtype=torch.float64), randn(gen, 3, device=device,
                                                                                 dtype=torch.float64), gen)


@CHECKS.add("4.4h", points=1, target="inplace.reset_leaf_", hidden=True)
def reset_leaf_hidden(gen, device):
    yield _reset_case(randn(gen, 5, 2, device=device), float(torch.randn(1, generator=gen)), gen)
    yield _reset_case(randn(gen, 6, device=device), randn(gen, 6, device=device), gen)


# ---- 4.5 ReluInplace -----------------------------------------------------------------------------

class _ReferenceReluInplace(torch.autograd.Function):
    """The trusted reference, run here only to learn how far one in-place op + mark_dirty moves _version."""

    @staticmethod
    def forward(ctx, x):
        x.clamp_(min=0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (y > 0)


def _reference_bump(x):
    leaf = x.detach().clone().requires_grad_(True)
    arg = leaf.clone()
    before = arg._version
    _ReferenceReluInplace.apply(arg)
    return arg._version - before


def _away_from_zero(x):
    return x + torch.sign(x) * 0.05      # ReLU's derivative at exactly 0 is a convention: stay clear of it


def _relu_case(x, gen):
    g = randn(gen, *x.shape, device=x.device, dtype=x.dtype)
    expect, (grad,) = reference(torch.relu, [x], ["nonleaf"], g)
    bump = _reference_bump(x)

    def judge(o):
        if "call_error" in o:
            return call_error_problem("ReluInplace.apply", o["call_error"])
        if not o["is_input"][0]:
            return ("ReluInplace.apply(x) returned a new tensor, not x itself. Hint: modify x in place in forward, "
                    "call ctx.mark_dirty(x) and return x (without mark_dirty autograd hands back a different tensor)")
        delta = o["versions_after_call"][0] - o["versions_before"][0]
        if delta != bump:
            if delta == 0:
                return "x._version did not change: forward must modify x in place. Hint: x.clamp_(min=0)"
            return (f"x._version went up by {delta}; one in-place op plus mark_dirty moves it by {bump}. Hint: your "
                    "forward modifies x more than once: use a single in-place op")
        problem = compare.tensor_problem(expect, compare.unrecord(o["value"]))
        if problem:
            return f"wrong value: {problem}"
        if o["backward_error"]:
            return f"backward raised {o['backward_error'][:500]}"
        got = o["grads"][0]
        if got is None:
            return "no gradient reached x. Hint: backward must return the gradient for x"
        problem = compare.tensor_problem(grad, compare.unrecord(got), atol=1e-6, rtol=1e-6,
                                         hints=[(g, "this is grad_output unmasked: zero it where the output is 0")])
        return f"wrong gradient: {problem}" if problem else None

    return Case("probes_inplace.function_apply", {"target": "inplace.ReluInplace", "inputs": [x], "kinds": ["nonleaf"],
                                                  "grad_output": g}, judge,
                shown=f"ReluInplace.apply(x) with x = {compare.show(x)} (not a leaf)")


@CHECKS.add("4.5", points=3, target="inplace.ReluInplace")
def relu_inplace(gen, device):
    yield _relu_case(_away_from_zero(randn(gen, 8, device=device)), gen)
    yield _relu_case(_away_from_zero(randn(gen, 3, 4, device=device, dtype=torch.float64)), gen)
    yield _relu_case(_away_from_zero(randn(gen, 4, 6, device=device)).t(), gen)      # non-contiguous


@CHECKS.add("4.5h", points=1, target="inplace.ReluInplace", hidden=True)
def relu_inplace_hidden(gen, device):
    yield _relu_case(_away_from_zero(randn(gen, 5, 5, device=device, scale=3)), gen)
