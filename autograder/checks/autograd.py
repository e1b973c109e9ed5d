"""Checks for lesson 02 (course_pkg/autograd.py). References are torch's own: torch.autograd.grad,
torch.autograd.functional.vjp / jacobian, and the trajectory of torch.optim's SGD update, computed here
with the same fixture functions (autograder/sandboxed/fixtures.py) the sandbox applies the student's tools to.

Long because five tools each come with the mistakes their judges recognise and name (an accumulated or
unused gradient, forward or unrestored or float32 differences, a transposed Jacobian, a forgetful, stale or
replaced leaf in gradient descent): each is computed here, beside the reference it departs from."""
import torch
from torch.optim.sgd import sgd

from autograder import compare
from autograder.inputs import randn
from autograder.observation import observe
from autograder.results import Failure
from autograder.sandboxed.fixtures import FUNCTIONS
from autograder.spec import CheckList, answer

CHECKS = CheckList()
LESSON = "02_autograd"

ACCUMULATION = ("gradients accumulate in .grad across backward() calls; do not read them from the caller's x.grad "
                "(use torch.autograd.grad on fresh leaves)")
ACCUMULATED = "the answer is exactly 2× torch's: " + ACCUMULATION


NO_GRAPH = ("the output has no graph: differentiate with respect to copies that require grad "
            "(x.detach().requires_grad_()), computed with grad mode on: not under torch.no_grad() or "
            "torch.inference_mode() (the gradients torch.autograd.grad returns do not require grad anyway)")


def no_graph_hint(text):
    """The hint for autograd refusing to differentiate an output that no graph leads to."""
    return NO_GRAPH if "does not require grad and does not have a grad_fn" in text else None


def tool_case(target, fn, tensors, requires_grad, expect, *, after=(), kwargs=None, repeat=1, atol=1e-5,
              rtol=1e-5, hints=(), error_hint=None, result_hint=""):
    """Call target(FIXTURE fn, *tensors, *after, **kwargs) in the sandbox; compare with `expect`.

    Also: the caller's tensors come back untouched (values, _version, requires_grad, no .grad), a
    repeated call gives the same answer, and the results do not require grad.
    """
    kinds = [r if isinstance(r, str) else "leaf" if r else "plain" for r in requires_grad]
    return observe(target, tensors, kinds, expect=expect, fixture=fn, extra=after, kwargs=kwargs, repeat=repeat,
                   atol=atol, rtol=rtol, value_hints=hints, result_hint=result_hint, error_hint=error_hint,
                   result_requires_grad=False, no_grad_leak=True, repeat_hint=ACCUMULATION)


# ---- 2.1 grad_of --------------------------------------------------------------------------------

def _grads(f, xs):
    leaves = [x.detach().clone().requires_grad_(True) for x in xs]
    grads = torch.autograd.grad(f(*leaves), leaves, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))


UNUSED_ZEROS = ("the zeros for an input f does not use must be shaped, typed and placed like that input: "
                "torch.zeros_like(x), not torch.zeros(x.shape) (float32 on the CPU whatever x is)")


def _grad_of_case(fn, xs, requires_grad):
    expect = _grads(FUNCTIONS[fn], xs)
    hints = [(tuple(2 * g for g in expect), ACCUMULATED)]

    def error_hint(text):
        if "does not require grad" in text:
            return no_graph_hint(text) or ("the inputs do not always require grad: make leaves that do "
                                           "(x.detach().requires_grad_()) and differentiate with respect to those")
        if "One of the differentiated Tensors appears to not have been used" in text:
            return "pass allow_unused=True to torch.autograd.grad and return zeros for unused inputs"
        if "backward through the graph a second time" in text:
            return ("the first torch.autograd.grad freed the graph: differentiate with respect to all the xs in "
                    "one call, torch.autograd.grad(out, leaves), or keep the graph with retain_graph=True")
        return None

    case = tool_case("autograd.grad_of", fn, xs, requires_grad, expect, repeat=2, hints=hints,
                     error_hint=error_hint)
    plain_judge = case.judge

    def judge(o):
        problem = plain_judge(o)
        try:
            got = compare.unrecord(o["results"][0]) if o["call_error"] is None and o["results"] else None
        except compare.Unreadable:
            got = None          # the standard judge has said why
        if problem:
            if not problem.hint and isinstance(got, (tuple, list)) and len(got) == len(expect) and any(
                    isinstance(g, torch.Tensor) and not bool(e.any()) and g.shape == e.shape and not bool(g.any())
                    and (g.dtype, g.device) != (e.dtype, e.device) for e, g in zip(expect, got)):
                return problem.with_hint(UNUSED_ZEROS)
            return problem
        if isinstance(got, list):
            return Failure("grad_of returned a list; it must return a tuple, as torch.autograd.grad does",
                           "return tuple(...) of the gradients")
        return None

    case.judge = judge
    return case


@CHECKS.add("2.1", points=2, target="autograd.grad_of")
def grad_of(gen, device):
    yield _grad_of_case("cubic_sum", [randn(gen, 5, device=device)], [True])
    yield _grad_of_case("product_mix", [randn(gen, 3, 4, device=device), randn(gen, 3, 4, device=device)],
                        [True, False])
    yield _grad_of_case("matrix_tanh", [randn(gen, 3, 4, device=device, dtype=torch.float64),
                                        randn(gen, 5, 4, device=device, dtype=torch.float64)], [False, False])
    yield _grad_of_case("ignores_second", [randn(gen, 4, device=device), randn(gen, 2, device=device)],
                        [True, True])
    yield _grad_of_case("cubic_sum", [randn(gen, device=device)], ["nonleaf"])         # 0-d, not a leaf
    # float64 inputs f does not use: their zeros must be float64 too
    yield _grad_of_case("ignores_second", [randn(gen, 3, device=device, dtype=torch.float64),
                                           randn(gen, 2, 2, device=device, dtype=torch.float64)], [False, True])


@CHECKS.hidden("2.1", points=1)
def grad_of_hidden(gen, device):
    yield _grad_of_case("sin_poly", [randn(gen, 2, 3, device=device)], [True])
    yield _grad_of_case("logsumexp_rows", [randn(gen, 3, 4, device=device, dtype=torch.float64)], [False])
    yield _grad_of_case("ignores_second", [randn(gen, 2, 3, device=device, dtype=torch.float64),
                                           randn(gen, device=device, dtype=torch.float64)], ["nonleaf", False])


# ---- 2.2 numerical_grad -------------------------------------------------------------------------

PRECISION = ("use central differences (f(x+eps) − f(x−eps)) / (2·eps), computed on a float64 copy of x: "
             "a forward difference has an error of about eps·f''/2, and in float32 dividing by 2·eps "
             "magnifies rounding errors a million-fold")


NOT_RESTORED = ("each element must be put back to its original value after its two evaluations: here the "
                "earlier elements stayed at x − eps, so every later difference is taken at a shifted point")


def _central_differences(f, x64, step, restore=True):
    """The definition, evaluated here: (f(x + step·e_i) − f(x − step·e_i)) / (2·step) for each i.

    restore=False: the known mistake of leaving element i at x_i − step before going on to i + 1."""
    out, at = torch.zeros_like(x64), x64.clone()
    with torch.no_grad():
        for i in range(x64.numel()):
            e = torch.zeros_like(x64).view(-1)
            e[i] = step
            out.view(-1)[i] = (float(f(at + e.view_as(x64))) - float(f(at - e.view_as(x64)))) / (2 * step)
            if not restore:
                at = at - e.view_as(x64)
    return out


FLOAT32_BUFFER = ("these are the float64 differences rounded to float32: the tensor they were written into was "
                  "float32 (torch.zeros(n) is). Make it float64 (torch.zeros_like(x64)) and keep every step in float64")


def _numerical_case(fn, x, eps=None, kind="plain"):
    f = FUNCTIONS[fn]
    x64 = x.detach().to(torch.float64).contiguous()
    step = 1e-6 if eps is None else eps
    central = _central_differences(f, x64, step)
    # Through a function autograd cannot see, with a step large enough that the formula shows, only
    # differencing gives the answer: the reference is the central difference itself.
    expect = central if fn == "opaque_cubic" else _grads(f, [x64])[0]
    forward = torch.zeros_like(x64)
    with torch.no_grad():
        base = float(f(x64))
        for i in range(x64.numel()):
            e = torch.zeros_like(x64).view(-1)
            e[i] = step
            forward.view(-1)[i] = (float(f(x64 + e.view_as(x64))) - base) / step
    hints = [(forward, "this is the forward difference (f(x+eps) − f(x)) / eps; " + PRECISION),
             (_central_differences(f, x64, step, restore=False), NOT_RESTORED)]

    kwargs = {} if eps is None else {"eps": eps}
    case = tool_case("autograd.numerical_grad", fn, [x], [kind], expect, kwargs=kwargs, atol=1e-6, rtol=1e-6,
                     hints=hints, result_hint=PRECISION)
    plain_judge = case.judge

    def judge(o):
        # Close to autograd's gradient is not enough: float64 central differences agree with the same
        # differences taken here to ~1e-10 (whatever the order of evaluation, a step rounded to float32
        # included); one value rounded to float32 (6e-8 relative) does not.
        problem = plain_judge(o)
        if problem:
            return problem
        problem = compare.tensor_problem(central, compare.unrecord(o["results"][0]), atol=1e-8, rtol=3e-8,
                                         hints=[*hints, (central.float().double(), FLOAT32_BUFFER)])
        return problem.with_hint(PRECISION).within("not the precision of float64 central differences: ") \
            if problem else None

    case.judge = judge
    return case


@CHECKS.add("2.2", points=2, target="autograd.numerical_grad")
def numerical_grad(gen, device):
    yield _numerical_case("sin_poly", randn(gen, 4, device=device, scale=1.5))
    yield _numerical_case("sin_poly", randn(gen, 5, device=device, dtype=torch.float64, scale=1.5), eps=1e-4)
    yield _numerical_case("logsumexp_rows", randn(gen, 2, 3, device=device, dtype=torch.float64))
    yield _numerical_case("opaque_cubic", randn(gen, 5, device=device, dtype=torch.float64), eps=1e-2)
    yield _numerical_case("sin_poly", randn(gen, 4, 3, device=device, dtype=torch.float64).t())   # non-contiguous
    yield _numerical_case("cubic_sum", randn(gen, device=device, dtype=torch.float64), kind="nonleaf")   # 0-d
    # Every coordinate coupled to the others, with a large step: an element not put back after its
    # differences shifts all the later ones (central differences are exact for a quadratic).
    yield _numerical_case("quadratic", randn(gen, 4, device=device, dtype=torch.float64), eps=1e-2)


@CHECKS.hidden("2.2", points=1)
def numerical_grad_hidden(gen, device):
    yield _numerical_case("cubic_sum", randn(gen, 3, 2, device=device), eps=1e-4)
    yield _numerical_case("sin_poly", randn(gen, 6, device=device, scale=2))
    yield _numerical_case("opaque_cubic", randn(gen, 2, 3, device=device, scale=2), eps=5e-2)
    yield _numerical_case("quadratic", randn(gen, 5, device=device, scale=2), eps=5e-2)


# ---- 2.3 vjp ------------------------------------------------------------------------------------

def _vjp_case(fn, x, v, kind="plain"):
    f = FUNCTIONS[fn]
    expect = torch.autograd.functional.vjp(f, x.detach().clone(), v)
    y, _ = expect
    _, ones = torch.autograd.functional.vjp(f, x.detach().clone(), torch.ones_like(y))
    hints = [((y, ones), "this is the vjp with v = ones (the gradient of func(x).sum()): multiply by v — "
                         "pass it as the gradient, y.backward(v) or torch.autograd.grad(y, x, v)")]
    if y.shape == x.shape:
        _, jv = torch.autograd.functional.jvp(f, x.detach().clone(), v)
        hints.append(((y, jv), "this is J·v (a Jacobian-vector product); the vjp is vᵀ·J = Σ_i v[i]·∂y[i]/∂x"))

    def error_hint(text):
        if "grad can be implicitly created only for scalar outputs" in text:
            return "func(x) is not a scalar: pass v as the gradient (y.backward(v) or torch.autograd.grad(y, x, v))"
        return no_graph_hint(text)

    return tool_case("autograd.vjp", fn, [x], [kind], expect, after=[v], hints=hints, error_hint=error_hint,
                     result_hint="return the pair (func(x) detached, vjp), as torch.autograd.functional.vjp does")


@CHECKS.add("2.3", points=2, target="autograd.vjp")
def vjp(gen, device):
    yield _vjp_case("mix", randn(gen, 5, device=device), randn(gen, 5, device=device))
    yield _vjp_case("project", randn(gen, 4, device=device), randn(gen, 3, device=device))
    yield _vjp_case("matrix_square", randn(gen, 3, 3, device=device, dtype=torch.float64),
                    randn(gen, 3, 3, device=device, dtype=torch.float64))
    yield _vjp_case("mix", randn(gen, 4, device=device), randn(gen, 4, device=device), kind="nonleaf")


@CHECKS.hidden("2.3", points=1)
def vjp_hidden(gen, device):
    yield _vjp_case("mix", randn(gen, 7, device=device, scale=2), randn(gen, 7, device=device))
    yield _vjp_case("project", randn(gen, 6, device=device, dtype=torch.float64),
                    randn(gen, 3, device=device, dtype=torch.float64))


# ---- 2.4 jacobian -------------------------------------------------------------------------------

TRANSPOSED = ("your Jacobian is transposed: J[i, j] = ∂y[i]/∂x[j], so row i is the gradient of output i "
              "and J has shape y.shape + x.shape")


def _jacobian_case(fn, x, kind="plain"):
    f = FUNCTIONS[fn]
    expect = torch.autograd.functional.jacobian(f, x.detach().clone())
    ny = expect.dim() - x.dim()
    y_shape, x_shape = expect.shape[:ny], expect.shape[ny:]
    flat = expect.reshape(y_shape.numel(), x_shape.numel())
    transposed = flat.T.reshape(x_shape + y_shape)
    hints = [(transposed, TRANSPOSED)]

    def error_hint(text):
        if "backward through the graph a second time" in text:
            return ("each row is one more backward pass through the same graph of y: keep it with "
                    "retain_graph=True (or compute y again for every row)")
        return no_graph_hint(text)

    case = tool_case("autograd.jacobian", fn, [x], [kind], expect, hints=hints, error_hint=error_hint)
    plain_judge = case.judge

    def judge(o):
        problem = plain_judge(o)
        if problem and not problem.hint and o["results"] and tuple(x_shape) != tuple(y_shape):
            # Shaped x.shape + y.shape where torch's is y.shape + x.shape: transposed, whatever the values.
            # (For a square Jacobian only the values can tell, and the value hint above does.)
            got = compare.unrecord(o["results"][0])
            if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(x_shape + y_shape) and ny:
                return problem.with_hint(TRANSPOSED)
        return problem

    case.judge = judge
    return case


@CHECKS.add("2.4", points=2, target="autograd.jacobian")
def jacobian(gen, device):
    yield _jacobian_case("mix", randn(gen, 4, device=device))
    yield _jacobian_case("project", randn(gen, 5, device=device))
    yield _jacobian_case("matrix_square", randn(gen, 2, 2, device=device, dtype=torch.float64))
    yield _jacobian_case("project", randn(gen, 3, device=device), kind="nonleaf")


@CHECKS.hidden("2.4", points=1)
def jacobian_hidden(gen, device):
    yield _jacobian_case("mix", randn(gen, 6, device=device, dtype=torch.float64))
    yield _jacobian_case("project", randn(gen, 3, device=device))


# ---- 2.5 gradient_descent -----------------------------------------------------------------------

def sgd_trajectory(loss_fn, w0, lr, steps, zero_grad=True):
    """torch's SGD on a clone of w0: [w0, w1, ..., w_steps]. zero_grad=False: the forgetful variant.

    Through torch.optim.sgd.sgd, the update torch.optim.SGD.step applies (under no_grad, as step does):
    the class would import torch._dynamo on first use, ~1 s of `course check 02`, a lesson whose
    students never make an optimizer (tests/test_checks.py compares the two trajectories)."""
    w = w0.detach().clone().requires_grad_(True)
    out = [w.detach().clone()]
    for _ in range(steps):
        if zero_grad:
            w.grad = None                     # what optimizer.zero_grad() does
        loss_fn(w).backward()
        with torch.no_grad():
            sgd([w], [w.grad], [None], weight_decay=0.0, momentum=0.0, lr=lr, dampening=0.0, nesterov=False,
                maximize=False)
        out.append(w.detach().clone())
    return torch.stack(out)


NOT_A_LEAF_COPY = ("w0 requires grad here, so w0.clone() is not a leaf: backward fills w0.grad (the caller's) and "
                   "leaves the copy's .grad None. Start from w0.detach().clone().requires_grad_()")


STALE_LOSS = ("compute the loss afresh from the current w inside the loop, every step: a graph built before an "
              "update saved the old w, which the in-place update w -= lr * w.grad has since changed (and "
              "retain_graph=True only lets that stale graph be walked again)")


def _gd_case(fn, w0, lr, steps, kind="plain"):
    f = FUNCTIONS[fn]
    expect = sgd_trajectory(f, w0, lr, steps)
    forgetful = sgd_trajectory(f, w0, lr, steps, zero_grad=False)
    hints = [(forgetful, "this is the trajectory with gradients accumulating from step to step: zero w.grad "
                         "after each update (w.grad = None or w.grad.zero_())")]

    def error_hint(text):
        if kind != "plain" and ("NoneType" in text or "not a leaf" in text.lower()):
            return NOT_A_LEAF_COPY
        if "NoneType" in text or "not a leaf" in text.lower() or ".grad attribute of a Tensor that is not a leaf" in text:
            return ("`w = w - lr * w.grad` replaces the leaf w by a new, non-leaf tensor, whose .grad is never "
                    "filled (None). Update the same leaf in place under torch.no_grad(): w -= lr * w.grad")
        if "leaf Variable that requires grad" in text:
            return "an in-place update of a leaf that requires grad must run under torch.no_grad()"
        if "modified by an inplace operation" in text or "backward through the graph a second time" in text:
            return STALE_LOSS
        if no_graph_hint(text):
            return ("the loss has no graph: w must require grad (w0.detach().clone().requires_grad_()) and "
                    "loss_fn(w) must run with grad mode on; only the update goes under torch.no_grad()")
        return None

    return tool_case("autograd.gradient_descent", fn, [w0], [kind], expect, after=[lr, steps], atol=1e-5,
                     rtol=1e-4, hints=hints, error_hint=error_hint,
                     result_hint=("return torch.stack([w0, w1, ..., w_steps]) (steps + 1 rows), each update "
                                  "w -= lr * w.grad under torch.no_grad(), then zero the gradient"))


@CHECKS.add("2.5", points=3, target="autograd.gradient_descent")
def gradient_descent(gen, device):
    yield _gd_case("rosenbrock", torch.tensor([-0.5, 0.5], device=device) + randn(gen, 2, device=device, scale=0.1),
                   0.01, 25)
    yield _gd_case("quadratic", randn(gen, 4, device=device), 0.05, 15)
    yield _gd_case("regression", randn(gen, 3, device=device, dtype=torch.float64), 0.1, 20)
    yield _gd_case("quadratic", randn(gen, 3, device=device), 0.05, 5, kind="leaf")     # w0 requires grad


@CHECKS.hidden("2.5", points=1)
def gradient_descent_hidden(gen, device):
    yield _gd_case("rosenbrock", randn(gen, 2, device=device, scale=0.5), 0.005, 30)
    yield _gd_case("regression", randn(gen, 5, device=device), 0.05, 12)
    yield _gd_case("rosenbrock", randn(gen, 2, device=device, scale=0.5), 0.005, 8, kind="nonleaf")


# ---- in-notebook answers -------------------------------------------------------------------------

def _example_two_vectors():
    """The notes' two-vector example, run by torch: x1.grad of (x1**2 + 3*x2 - 5).sum()."""
    x1 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    x2 = torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    (x1 ** 2 + 3 * x2 - 5).sum().backward()
    return x1.grad


def _example_accumulated():
    """Two backward passes into the same x = 1: x**2 + 2x - 5, then 2x**2 + 7."""
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    (x ** 2 + 2 * x - 5).backward()
    (2 * x ** 2 + 7).backward()
    return x.grad


@CHECKS.answer("2.a", title="predict: x1.grad in the notes' two-vector example")
def predict_x1_grad(gen, device):
    yield answer(LESSON, "answer_x1_grad", expect=_example_two_vectors(), shown="your prediction `answer_x1_grad`",
                 hints=[(torch.tensor(2., dtype=torch.float64),
                         "x1.grad has one entry per element of x1: the derivative 2·x1 taken at each of them, "
                         "not the number 2"),
                        (torch.full((3,), 3., dtype=torch.float64), "that is x2.grad (the 3 of 3·x2)")])


@CHECKS.answer("2.b", title="predict: an accumulated gradient")
def predict_accumulated(gen, device):
    yield answer(LESSON, "answer_accumulated", expect=_example_accumulated(),
                 shown="your prediction `answer_accumulated`",
                 hints=[(torch.tensor(4., dtype=torch.float64),
                         "that is the gradient of one of the two graphs; backward() *adds* into x.grad, "
                         "so after the second call it holds both")])
