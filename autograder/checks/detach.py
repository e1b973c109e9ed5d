"""Checks for lesson 05 (course_pkg/detach.py and the notebook's prediction cells).

Gradients are torch's own, computed here, through the shared autograd observation.
"""
import torch

from autograder import compare
from autograder.inputs import mask, randn
from autograder.observation import call_error, grad_output_for, gradient_case, observe, reference
from autograder.results import Failure
from autograder.sandboxed.fixtures import AROUND
from autograder.spec import Case, CheckList, answer

CHECKS = CheckList()
LESSON = "05_detach"


# ---- 5.1 straight_through_round ------------------------------------------------------------------

class _StraightThrough(torch.autograd.Function):
    """The reference: torch.round forward, identity backward."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def _ste_case(x, gen, kind="leaf"):
    g = grad_output_for(torch.round, [x], gen)
    hints = {0: [(torch.zeros_like(x), "the gradient is zero everywhere: that is torch.round's own derivative. "
                                       "Pass the gradient straight through: x + (torch.round(x) - x).detach()")]}
    rtol, atol = compare.torch_tolerance(x.dtype)
    return gradient_case("detach.straight_through_round", _StraightThrough.apply, [x], [kind], g, grad_hints=hints,
                         names=["input x"], atol=atol, rtol=rtol, value_hints=[(x, "the value must be rounded")])


def _ties(gen, device, dtype=torch.float32):
    fixed = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -2.7, 2.7, 0.2, -0.2], dtype=dtype)
    return torch.cat([fixed, randn(gen, 6, device="cpu", dtype=dtype, scale=4)]).to(device)


@CHECKS.add("5.1", points=2, target="detach.straight_through_round")
def straight_through_round(gen, device):
    yield _ste_case(_ties(gen, device), gen)
    yield _ste_case(randn(gen, 3, 4, device=device, scale=5, dtype=torch.float64), gen)
    yield _ste_case(randn(gen, 5, device=device, scale=3), gen, kind="nonleaf")
    yield _ste_case(randn(gen, device=device, scale=3), gen)                                # 0-d


@CHECKS.hidden("5.1", points=1)
def straight_through_round_hidden(gen, device):
    yield _ste_case(randn(gen, 4, 5, device=device, scale=10), gen)
    yield _ste_case(randn(gen, 6, device=device, scale=3), gen, kind="nonleaf")
    yield _ste_case(randn(gen, device=device, scale=3, dtype=torch.float64), gen)        # 0-d


# ---- 5.2 to_numpy --------------------------------------------------------------------------------

def _numpy_case(t, kind, pretend_cuda):
    expect = t.detach().cpu().clone()

    def judge(o):
        if "call_error" in o:
            text = o["call_error"]
            hint = None
            if "requires grad" in text:
                hint = ".numpy() refuses a tensor that requires grad: detach() it first"
            elif "cuda" in text or "cpu()" in text:
                hint = ".numpy() on a CUDA tensor fails: copy it to the CPU first (t.detach().cpu().numpy())"
            return call_error("to_numpy", text, lambda _: hint)
        if o["type"] != "numpy.ndarray":
            returned = o["returned"]
            extra = (" that still requires grad and keeps the graph"
                     if isinstance(returned, dict) and returned.get("requires_grad") else "")
            return Failure(f"to_numpy returned a {o['type']}{extra}, not a numpy.ndarray",
                           "finish with .numpy() after detach() and cpu()")
        rg_before, rg_after = o["input_requires_grad"]
        if rg_before != rg_after:
            return Failure("to_numpy switched requires_grad off on the caller's tensor",
                           "use t.detach(), which makes a new tensor and leaves t alone")
        v_before, v_after = o["input_version"]
        if v_before != v_after:
            return Failure("to_numpy modified its input in place", "leave the input alone")
        problem = compare.tensor_problem(expect, compare.unrecord(o["values"]))
        return problem.within("wrong array: ") if problem else None

    where = "a (simulated) CUDA tensor" if pretend_cuda else f"a {t.device.type} tensor"
    return Case("probes_detach.to_numpy", {"target": "detach.to_numpy", "t": t, "kind": kind,
                                           "pretend_cuda": pretend_cuda}, judge,
                shown=f"to_numpy(t) with t {where} ({kind}) = {compare.show(t)}")


def _numpy_cases(gen, device, shapes):
    # On a CPU-only grader the CUDA path is simulated (probes_detach.PretendCuda); on a GPU it is real.
    pretend = device.type == "cpu"
    for i, shape in enumerate(shapes):
        kind = ("leaf", "nonleaf", "plain")[i % 3]
        t = randn(gen, *shape, device=device)
        yield _numpy_case(t, kind, False)
        if pretend:
            yield _numpy_case(t, kind, True)


@CHECKS.add("5.2", points=2, target="detach.to_numpy")
def to_numpy(gen, device):
    yield from _numpy_cases(gen, device, [(3, 4), (5,), (2, 2)])
    yield _numpy_case(randn(gen, 2, 3, device=device, dtype=torch.float64), "leaf", device.type == "cpu")


@CHECKS.hidden("5.2", points=1)
def to_numpy_hidden(gen, device):
    yield from _numpy_cases(gen, device, [(4, 3), (6,)])


# ---- 5.3 masked_gradient -------------------------------------------------------------------------

def _masked_ref(x, mask):
    return torch.where(mask, x, x.detach())


HOOKED_INPUT = ("x's gradient along its other use (backward ran through result + x) was masked too. A hook on the "
                "caller's x masks every gradient reaching x; a hook or backward that masks the incoming gradient in "
                "place (g.mul_(mask)) changes the tensor autograd also passes along the other path. Hook a copy "
                "(y = x.clone()) and return a new tensor (g * mask), or use torch.where(mask, x, x.detach())")


def _masked_case(x, m, gen, kind="leaf", around=None):
    """around="residual": backward runs through result + x, so x's gradient also arrives unmasked along
    the second path; a hook on the caller's x (not on the result) masks that one too."""
    value_hints = [(x * m, "you masked the value: the result must equal x everywhere; only the gradient is "
                              "masked (torch.where(mask, x, x.detach()))")]
    if around is None:
        g = grad_output_for(_masked_ref, [x, m], gen)
        grad_hints = {0: [(g * ~m, "the mask is inverted: gradient must flow where mask is True"),
                          (g.expand_as(x).clone(), "the gradient is not masked at all")]}
        return gradient_case("detach.masked_gradient", _masked_ref, [x, m], [kind, "plain"], g, atol=0, rtol=0,
                             value_hints=value_hints, grad_hints=grad_hints, names=["input x", "mask"])
    def through(x_, m_):
        return AROUND[around](_masked_ref(x_, m_), x_)

    g = grad_output_for(through, [x, m], gen)
    _, grads = reference(through, [x, m], [kind, "plain"], g)
    grad_hints = {0: [(grads[0] * m, HOOKED_INPUT)]}
    return observe("detach.masked_gradient", [x, m], [kind, "plain"], expect=_masked_ref(x, m).detach(),
                   grad_output=g, expect_grads=grads, around=around, atol=0, rtol=0, value_hints=value_hints,
                   grad_hints=grad_hints, names=["input x", "mask"], result_requires_grad=True,
                   no_grad_hint="detach(), .data or torch.no_grad() cut the graph")


@CHECKS.add("5.3", points=2, target="detach.masked_gradient")
def masked_gradient(gen, device):
    yield _masked_case(randn(gen, 3, 5, device=device), mask(gen, 3, 5, device=device), gen)
    yield _masked_case(randn(gen, 4, 3, device=device, dtype=torch.float64), mask(gen, 1, 3, device=device), gen)
    yield _masked_case(randn(gen, 2, 5, device=device), mask(gen, 2, 5, device=device), gen, around="residual")


@CHECKS.hidden("5.3", points=1)
def masked_gradient_hidden(gen, device):
    yield _masked_case(randn(gen, 2, 6, device=device), mask(gen, 2, 6, device=device), gen)
    yield _masked_case(randn(gen, 3, 4, device=device, dtype=torch.float64), mask(gen, 3, 1, device=device), gen,
                       kind="nonleaf", around="residual")


# ---- in-notebook predictions ---------------------------------------------------------------------

# The notes' four examples, run here by torch itself: the expected x.grad is what torch computes.
def _example_both():
    x = torch.ones(5, requires_grad=True)
    (x ** 3 + x ** 2).sum().backward()
    return x.grad


def _example_detached():
    x = torch.ones(5, requires_grad=True)
    (x ** 2 + x.detach() ** 3).sum().backward()
    return x.grad


def _example_detach_attribute():
    x = torch.ones(5, requires_grad=True)
    z = x ** 2
    x.detach = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0])     # only sets an attribute
    y = x ** 3
    (z + y).sum().backward()
    return x.grad


def _example_data():
    x = torch.ones(5, requires_grad=True)
    z = x ** 2
    x.data = torch.full((5,), 2.0)                         # invisible to autograd
    y = x ** 3
    (z + y).sum().backward()
    return x.grad


def _prediction(name, example, mistakes=()):
    """`mistakes`: (x.grad's value everywhere, why it is wrong) for the usual wrong predictions."""
    return answer(LESSON, name, expect=example(), shown=f"your prediction `{name}`",
                  hints=[(torch.full((5,), value), why) for value, why in mistakes])


@CHECKS.answer("5.a", title="predict: y = x**2 and z = x**3")
def predict_both(gen, device):
    yield _prediction("answer_both", _example_both,
                      [(2., "z + y sums two paths back to x: the gradients of x**3 and x**2 add up"),
                       (3., "z + y sums two paths back to x: the gradients of x**3 and x**2 add up")])


@CHECKS.answer("5.b", title="predict: z computed from x.detach()")
def predict_detached(gen, device):
    yield _prediction("answer_detached", _example_detached,
                      [(5., "x.detach() is a tensor outside the graph: z's path does not lead back to x")])


@CHECKS.answer("5.c", title="predict: after x.detach = tensor")
def predict_detach_attribute(gen, device):
    yield _prediction("answer_detach_attribute", _example_detach_attribute,
                      [(12., "`x.detach = tensor` sets a Python attribute on the object; x's values stay 1"),
                       (16., "`x.detach = tensor` sets a Python attribute on the object; x's values stay 1"),
                       (2., "`x.detach = tensor` detaches nothing: both paths still lead back to x")])


@CHECKS.answer("5.d", title="predict: after x.data = tensor")
def predict_data(gen, device):
    yield _prediction("answer_data", _example_data,
                      [(14., "z = x ** 2 saved x itself, not a copy of its values: its backward reads the new "
                             "data (2), so z contributes 2·2"),
                       (5., "x.data = … changes the values that y = x ** 3 is computed from, and those z's "
                            "backward reads")])
