"""Checks for lesson 04 (course_pkg/inplace.py). References are torch's own gradients, computed here."""
import torch

from autograder import compare
from autograder.inputs import INF, away_from_zero, randn
from autograder.observation import call_error, grad_output_for, gradient_case, observe, reference
from autograder.results import Failure
from autograder.spec import Case, CheckList

CHECKS = CheckList()

HIDDEN_FROM_AUTOGRAD = ("the value is right but the gradient is not. If you made the in-place error go away with "
                        ".data or detach(), part of the computation is now invisible to autograd: write the maths "
                        "out of place instead")


def grad_case(target, ref_fn, inputs, kinds, grad_output, **options):
    """Call target on fresh inputs, backward(grad_output); compare with torch's ref_fn."""
    return gradient_case(target, ref_fn, inputs, kinds, grad_output, grad_hint=HIDDEN_FROM_AUTOGRAD, **options)


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


@CHECKS.hidden("4.1", points=1)
def silu_hidden(gen, device):
    yield _silu_case(randn(gen, 4, 6, device=device, scale=4), "nonleaf", gen)
    yield _silu_case(randn(gen, 5, device=device), "plain", gen)
    yield _silu_case(randn(gen, device=device, scale=2), "leaf", gen)                   # 0-d


# ---- 4.2 standardize -----------------------------------------------------------------------------

def _standardize_ref(x):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / centred.std(dim=-1, keepdim=True)


EPS = ("an eps in the denominator (LayerNorm's 1e-5) moves the result where a row's spread is small: the rows must "
       "come out with std exactly 1, as in the original code")


def _standardize_case(x, kind, gen):
    g = grad_output_for(_standardize_ref, [x], gen)
    c = x - x.mean(dim=-1, keepdim=True)
    detached_std = g / c.std(dim=-1, keepdim=True)
    detached_std = detached_std - detached_std.mean(dim=-1, keepdim=True)
    hints = {0: [(detached_std, "this is the gradient with the std treated as a constant (detached): the std "
                                "depends on x too, so its share of the gradient is missing")]}
    with torch.no_grad():
        value_hints = [(c / c.std(dim=-1, keepdim=True, correction=0), "that is the population std (divide by n); "
                        "torch.std, as the original code uses it, divides by n - 1"),
                       (c / (c.std(dim=-1, keepdim=True) + 1e-5), EPS),
                       (c / torch.sqrt(c.var(dim=-1, keepdim=True) + 1e-5), EPS)]
    return grad_case("inplace.standardize", _standardize_ref, [x], [kind], g, grad_hints=hints, value_hints=value_hints,
                     names=["input x"], atol=1e-4)


@CHECKS.add("4.2", points=2, target="inplace.standardize")
def standardize(gen, device):
    yield _standardize_case(randn(gen, 3, 6, device=device, scale=3), "nonleaf", gen)   # mutation shows here
    yield _standardize_case(randn(gen, 3, 6, device=device, scale=3), "plain", gen)
    yield _standardize_case(randn(gen, 4, 5, device=device), "leaf", gen)
    yield _standardize_case(randn(gen, 2, 3, 4, device=device, dtype=torch.float64), "leaf", gen)
    yield _standardize_case(randn(gen, 3, 5, device=device, scale=1e-2), "nonleaf", gen)   # LayerNorm's eps=1e-5 shows


@CHECKS.hidden("4.2", points=1)
def standardize_hidden(gen, device):
    yield _standardize_case(randn(gen, 5, 8, device=device, scale=5), "nonleaf", gen)
    yield _standardize_case(randn(gen, 2, 7, device=device), "leaf", gen)
    yield _standardize_case(randn(gen, 4, 6, device=device, scale=1e-2), "leaf", gen)


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
    yield _softmax_case(randn(gen, 2, 3, 4, device=device), randn(gen, 4, 3, device=device), ["leaf", "leaf"], gen)


@CHECKS.hidden("4.3", points=1)
def softmax_layer_hidden(gen, device):
    yield _softmax_case(randn(gen, 3, 2, 4, device=device), randn(gen, 4, 5, device=device), ["nonleaf", "leaf"], gen)


# ---- 4.4 reset_leaf_ -----------------------------------------------------------------------------

REBIND = ("`w = ...` inside the function only rebinds the local name; the caller's tensor is untouched. "
          "Write into w itself, in place, under torch.no_grad() (w.copy_(...), w.fill_(...) or w[...] = ...)")


def _reset_case(w, value, gen):
    g = randn(gen, *w.shape, device=w.device, dtype=w.dtype)
    expect = torch.as_tensor(value, dtype=w.dtype, device=w.device).expand_as(w).clone()
    old = w.clone()
    hints = [(old * 0 + expect, "w * 0 is nan where w holds inf or nan, so arithmetic on the old values cannot reset "
                                "a weight that diverged: overwrite w (w.copy_(...), w.fill_(...))")]
    if not isinstance(value, torch.Tensor) and w.dtype == torch.float64:
        hints.append((torch.tensor(value).to(w.dtype).expand_as(w), "the number was rounded to float32 on its way "
                      "(torch.tensor(value) and torch.as_tensor(value) make float32 tensors of a Python float): make it "
                      "in w's dtype, torch.as_tensor(value, dtype=w.dtype)"))

    def judge(o):
        if "call_error" in o:
            text = o["call_error"]
            return Failure(f"reset_leaf_ raised {text[:400]}", "an in-place change of a leaf that requires grad must "
                           "be done under torch.no_grad()" if "leaf Variable" in text else "")
        got = compare.unrecord(o["w"])
        if isinstance(got, torch.Tensor) and got.shape == old.shape and torch.equal(got, old) \
                and not torch.equal(old, expect):
            return Failure("the caller's w still holds its old values", REBIND)
        problem = compare.tensor_problem(expect, got, hints=hints)
        if problem:
            return problem.within("w does not hold the new values: ")
        if not o["requires_grad"]:
            return Failure("w no longer requires grad", "keep w.requires_grad True (do not switch it off, or switch "
                           "it back on); torch.no_grad() alone is enough to allow the in-place write")
        if not o["is_leaf"]:
            return Failure("w is no longer a leaf", "do the write under torch.no_grad() so it is not recorded")
        if not o["returned_is_w"]:
            return Failure("reset_leaf_ must return w itself (the same object), as in-place methods do")
        if o["version_after"] <= o["version_before"]:
            return Failure(f"w._version did not change ({o['version_before']} → {o['version_after']})",
                           "a write through w.data is invisible to autograd, so a graph that saved w would silently "
                           "use the new values; write to w itself under torch.no_grad()")
        if o["stale_backward_error"] is None:
            return Failure("a graph built before the reset did not notice it", "write to w itself, not through .data")
        if o["fresh_backward_error"]:
            return Failure(f"w can no longer be used in a graph afterwards: {o['fresh_backward_error'][:300]}")
        problem = compare.tensor_problem(g, compare.unrecord(o["grad_after"]) if o["grad_after"] else None)
        if problem:
            return problem.within("after the reset, backward of (w * g).sum() gave a wrong w.grad: ")
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
    yield from _reset_unusual(gen, device)


def _reset_unusual(gen, device):
    """A float64 w set to a number float32 cannot hold, a 0-d w, a w that diverged (inf, nan)."""
    yield _reset_case(randn(gen, 5, device=device, dtype=torch.float64),
                      float(torch.randn(1, generator=gen, dtype=torch.float64)), gen)
    yield _reset_case(randn(gen, device=device), float(torch.randn(1, generator=gen)), gen)
    diverged = randn(gen, 2, 3, device=device)
    diverged[0, 1], diverged[1, 0], diverged[1, 2] = INF, float("nan"), -INF
    yield _reset_case(diverged, randn(gen, 2, 3, device=device), gen)


@CHECKS.hidden("4.4", points=1)
def reset_leaf_hidden(gen, device):
    yield _reset_case(randn(gen, 5, 2, device=device), float(torch.randn(1, generator=gen)), gen)
    yield _reset_case(randn(gen, 6, device=device), randn(gen, 6, device=device), gen)
    yield from _reset_unusual(gen, device)


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


GRAD_OUTPUT_SHARED = ("do not modify grad_output in place in backward: it is not yours (after y.sum() it is one "
                      "number expanded to x's shape, every element the same memory). Return a new tensor, "
                      "grad_output * mask")


NOT_CONTIGUOUS = ("x is not contiguous here (a transpose), and x.view(...) needs contiguous memory; work on x "
                  "itself (x.clamp_(min=0), x[x < 0] = 0): a reshape could be a copy, and writing into a copy leaves "
                  "x as it was")


def _relu_case(x, gen, expanded=False):
    """expanded: grad_output is one number expanded to x's shape, as y.sum().backward() passes it."""
    g = randn(gen, device=x.device, dtype=x.dtype).expand(x.shape) if expanded else \
        randn(gen, *x.shape, device=x.device, dtype=x.dtype)
    expect, (grad,) = reference(torch.relu, [x], ["nonleaf"], g)
    bump = _reference_bump(x)
    contiguous = x.is_contiguous()

    def judge(o):
        if o["call_error"] is not None:
            return call_error("ReluInplace.apply", o["call_error"], lambda text: NOT_CONTIGUOUS if "view size" in text
                              and not contiguous else "")
        if not o["is_input"][:1] == [True]:
            return Failure("ReluInplace.apply(x) returned a new tensor, not x itself", "modify x in place in forward, "
                           "call ctx.mark_dirty(x) and return x (without mark_dirty autograd hands back a different "
                           "tensor)")
        delta = o["versions_after"][0] - o["versions_before"][0]
        if delta == 0:
            return Failure("x._version did not change: forward must modify x in place", "x.clamp_(min=0)")
        if delta > bump:
            return Failure(f"x._version went up by {delta}; one in-place op plus mark_dirty moves it by {bump}",
                           "your forward modifies x more than once: use a single in-place op")
        if delta < bump:      # y is x, so mark_dirty was called: the write itself went uncounted
            return Failure(f"x._version went up by only {delta}; one in-place op plus mark_dirty moves it by {bump}",
                           "mark_dirty was called, but the write in forward did not move x's version counter: "
                           "a write through x.data goes around it. Modify x itself (x.clamp_(min=0))")
        problem = compare.tensor_problem(expect, compare.unrecord(o["results"][0]))
        if problem:
            return problem.within("wrong value: ")
        if o["backward_error"]:
            text = o["backward_error"]
            return Failure(f"backward raised {text[:500]}", GRAD_OUTPUT_SHARED if "memory location" in text else "")
        got = o["grads"][0]
        if got is None:
            return Failure("no gradient reached x", "backward must return the gradient for x")
        problem = compare.tensor_problem(grad, compare.unrecord(got), atol=1e-6, rtol=1e-6,
                                         hints=[(g, "this is grad_output unmasked: zero it where the output is 0")]
                                         + [(torch.zeros_like(grad), GRAD_OUTPUT_SHARED)] * expanded)
        return problem.within("wrong gradient: ") if problem else None

    return observe("inplace.ReluInplace", [x], ["nonleaf"], apply=True, grad_output=g, judge=judge,
                   shown=f"ReluInplace.apply(x) with x = {compare.show(x)} (not a leaf)")


@CHECKS.add("4.5", points=3, target="inplace.ReluInplace")
def relu_inplace(gen, device):
    yield _relu_case(away_from_zero(randn(gen, 8, device=device)), gen)
    yield _relu_case(away_from_zero(randn(gen, 3, 4, device=device, dtype=torch.float64)), gen)
    yield _relu_case(away_from_zero(randn(gen, 4, 6, device=device)).t(), gen)      # non-contiguous
    yield _relu_case(away_from_zero(randn(gen, 2, 5, device=device)), gen, expanded=True)


@CHECKS.hidden("4.5", points=1)
def relu_inplace_hidden(gen, device):
    yield _relu_case(away_from_zero(randn(gen, 5, 5, device=device, scale=3)), gen)
    yield _relu_case(away_from_zero(randn(gen, 3, 4, device=device, dtype=torch.float64)), gen, expanded=True)
