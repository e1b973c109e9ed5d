"""Checks for lesson 03 (course_pkg/graph.py). References: torch's builtin operations and their
gradients (computed here), and a reference walk of the grad_fn graph built here from the same inputs
with the same builders (autograder/sandboxed/fixtures.py). No verdict is made in the sandbox (no
gradcheck there): every Function is also run on float64 inputs and its gradients compared here."""
import networkx as nx
import torch
import torch.nn.functional as F

from autograder import compare
from autograder.inputs import away_from_zero, grad_output_like, randn, with_zeros
from autograder.observation import observe, reference
from autograder.results import Failure
from autograder.sandboxed.fixtures import AROUND, BUILDERS
from autograder.spec import CheckList, answer

CHECKS = CheckList()
LESSON = "03_graph"


def function_case(target, ref_fn, inputs, requires_grad, gen, *, grad_hints=None, needs_input_grad=False,
                  atol=1e-5, rtol=1e-5, names=None, around=None):
    """Apply the student's Function; compare value and gradients with ref_fn (torch's builtin).

    around: backward runs through fixtures.AROUND[around](result, x), so gradients meet at fan-in."""
    kinds = [r if isinstance(r, str) else "leaf" if r else "plain" for r in requires_grad]
    with torch.no_grad():
        expect = ref_fn(*inputs)
        g = grad_output_like(gen, expect if around is None else AROUND[around](expect, inputs[0]))
    through = ref_fn if around is None else (lambda *a: AROUND[around](ref_fn(*a), a[0]))
    _, expect_grads = reference(through, inputs, kinds, g)
    if around is not None:
        grad_hints = None         # the hints name mistakes of the Function alone
    hints = {i: fn(g, *[t.detach() for t in inputs]) for i, fn in (grad_hints or {}).items()}
    return observe(target, inputs, kinds, apply=True, expect=expect, grad_output=g, expect_grads=expect_grads,
                   around=around, atol=atol, rtol=rtol, names=names or [f"input {i}" for i in range(len(inputs))],
                   inputs_unchanged=False, result_requires_grad=True, needs_input_grad=needs_input_grad,
                   no_grad_hint=f"call the Function through {target.rsplit('.', 1)[1]}.apply(...), and do not "
                                "detach inside forward's result",
                   missing_grad_hint="backward returns one gradient per forward input, in order", grad_hints=hints)


IGNORES_GRAD_OUTPUT = "this is the local derivative alone: multiply it by grad_output (the chain rule)"


# ---- 3.1 Square, 3.2 Exp, 3.3 Sigmoid --------------------------------------------------------------

@CHECKS.add("3.1", points=1, target="graph.Square")
def square(gen, device):
    hints = {0: lambda g, x: [(2 * x, IGNORES_GRAD_OUTPUT), (g * x, "the derivative of x² is 2x, not x")]}
    yield function_case("graph.Square", lambda x: x * x, [randn(gen, 6, device=device)], [True], gen, grad_hints=hints)
    yield function_case("graph.Square", lambda x: x * x, [randn(gen, 2, 3, device=device, dtype=torch.float64)],
                        [True], gen, grad_hints=hints)
    yield function_case("graph.Square", lambda x: x * x, [randn(gen, 5, device=device)], [True], gen,
                        around="residual")
    yield function_case("graph.Square", lambda x: x * x, [randn(gen, device=device)], ["nonleaf"], gen,
                        grad_hints=hints)                                                  # 0-d, not a leaf


@CHECKS.add("3.2", points=1, target="graph.Exp")
def exp(gen, device):
    hints = {0: lambda g, x: [(x.exp(), IGNORES_GRAD_OUTPUT)]}
    yield function_case("graph.Exp", torch.exp, [randn(gen, 5, device=device)], [True], gen, grad_hints=hints)
    yield function_case("graph.Exp", torch.exp, [randn(gen, 3, 2, device=device, dtype=torch.float64)], [True], gen,
                        grad_hints=hints)
    yield function_case("graph.Exp", torch.exp, [randn(gen, 4, device=device)], [True], gen, around="residual")
    yield function_case("graph.Exp", torch.exp, [randn(gen, 2, 3, device=device)], ["nonleaf"], gen, grad_hints=hints)


SIGMOID_HINTS = {0: lambda g, x: [(torch.sigmoid(x) * (1 - torch.sigmoid(x)), IGNORES_GRAD_OUTPUT),
                                  (g * x * (1 - x), "this is y·(1 − y) with y = x, the input: evaluate it at the "
                                                    "OUTPUT y = sigmoid(x) (save y in forward)")]}


@CHECKS.add("3.3", points=2, target="graph.Sigmoid")
def sigmoid(gen, device):
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 7, device=device, scale=3)], [True], gen,
                        grad_hints=SIGMOID_HINTS)
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 2, 4, device=device, dtype=torch.float64)],
                        [True], gen, grad_hints=SIGMOID_HINTS)
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 6, device=device)], [True], gen,
                        around="residual")
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 4, device=device)], ["nonleaf"], gen,
                        grad_hints=SIGMOID_HINTS)


@CHECKS.hidden("3.3", points=1)
def sigmoid_hidden(gen, device):
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 3, 3, device=device, scale=5)], [True], gen,
                        grad_hints=SIGMOID_HINTS)
    yield function_case("graph.Sigmoid", torch.sigmoid, [randn(gen, 5, device=device, dtype=torch.float64)], [True],
                        gen, around="used_twice")


# ---- 3.4 Linear ------------------------------------------------------------------------------------

def _linear_case(gen, device, n, i, o, requires_grad, dtype=torch.float32):
    x = randn(gen, n, i, device=device, dtype=dtype)
    W = randn(gen, o, i, device=device, dtype=dtype)
    b = randn(gen, o, device=device, dtype=dtype)
    hints = {1: lambda g, x, W, b: [(x.T @ g, "this is the transpose of W's gradient: grad_W = grad_output.T @ x "
                                              "has W's shape (out, in)")],
             2: lambda g, x, W, b: [(g.mean(0), "b's gradient sums grad_output over the batch (dim 0), not mean")]}
    return function_case("graph.Linear", F.linear, [x, W, b], requires_grad, gen, grad_hints=hints,
                         needs_input_grad=True, atol=1e-5, rtol=1e-4, names=["x", "W", "b"])


@CHECKS.add("3.4", points=3, target="graph.Linear")
def linear(gen, device):
    yield _linear_case(gen, device, 4, 3, 2, [True, True, True])
    yield _linear_case(gen, device, 5, 4, 3, [False, True, True])        # the data x needs no gradient
    yield _linear_case(gen, device, 3, 2, 4, [True, False, False], dtype=torch.float64)   # frozen layer
    yield _linear_case(gen, device, 3, 4, 2, ["nonleaf", "nonleaf", "leaf"])   # x from a layer below, W computed


@CHECKS.hidden("3.4", points=1)
def linear_hidden(gen, device):
    yield _linear_case(gen, device, 6, 5, 2, [False, True, False])
    yield _linear_case(gen, device, 2, 3, 3, [True, True, True], dtype=torch.float64)


# ---- 3.5 ReLU --------------------------------------------------------------------------------------

RELU_AT_ZERO = ("at x == 0 your gradient is grad_output; torch's convention (torch.relu) is 0 there: "
                "mask with x > 0, not x >= 0")
RELU_HINTS = {0: lambda g, x: [(g * (x >= 0), RELU_AT_ZERO), ((x > 0).to(x.dtype), IGNORES_GRAD_OUTPUT)]}


@CHECKS.add("3.5", points=2, target="graph.ReLU")
def relu(gen, device):
    yield function_case("graph.ReLU", torch.relu, [away_from_zero(randn(gen, 8, device=device))], [True], gen,
                        grad_hints=RELU_HINTS)
    yield function_case("graph.ReLU", torch.relu, [with_zeros(randn(gen, 3, 4, device=device))], [True], gen,
                        grad_hints=RELU_HINTS)      # at 0: torch's convention
    yield function_case("graph.ReLU", torch.relu,
                        [away_from_zero(randn(gen, 2, 5, device=device, dtype=torch.float64))], [True], gen,
                        grad_hints=RELU_HINTS)
    yield function_case("graph.ReLU", torch.relu, [away_from_zero(randn(gen, 7, device=device))], [True], gen,
                        around="residual")
    yield function_case("graph.ReLU", torch.relu, [away_from_zero(randn(gen, 3, 3, device=device))], ["nonleaf"],
                        gen, grad_hints=RELU_HINTS)


@CHECKS.hidden("3.5", points=1)
def relu_hidden(gen, device):
    yield function_case("graph.ReLU", torch.relu, [with_zeros(randn(gen, 9, device=device))], [True], gen,
                        grad_hints=RELU_HINTS)


# ---- 3.6 graph_nodes -------------------------------------------------------------------------------

def _as_graph(names, edges):
    g = nx.DiGraph()
    for i, name in enumerate(names):
        g.add_node(i, name=name)
    g.add_edges_from(edges)
    return g


def reference_walk(t):
    """torch's graph of t.grad_fn, walked here: names in reverse DFS post-order, and the unique edges."""
    if t.grad_fn is None:
        return [], []
    order, seen, stack = [], set(), [(t.grad_fn, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for child, _ in reversed(node.next_functions):
            if child is not None and child not in seen:
                stack.append((child, False))
    order.reverse()
    index = {n: i for i, n in enumerate(order)}
    edges = sorted({(index[n], index[c]) for n in order for c, _ in n.next_functions if c is not None})
    return [type(n).__name__ for n in order], edges


def _walk_case(builder, inputs, requires_grad):
    leaves = [t.detach().clone().requires_grad_(bool(r)) for t, r in zip(inputs, requires_grad)]
    ref_names, ref_edges = reference_walk(BUILDERS[builder](*leaves))
    reference_graph = _as_graph(ref_names, ref_edges)
    shared = [ref_names[n] for n in reference_graph if reference_graph.in_degree(n) > 1]

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"graph_nodes raised {o['call_error'][:600]}")
        got = compare.unrecord(o["results"][0]) if o["results"] else None
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return Failure(f"expected (names, edges), got {compare.show(got)}")
        names, edges = got
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            return Failure(f"names must be a list of strings, got {compare.show(names)}")
        pairs = set()
        for e in edges if isinstance(edges, (list, tuple)) else [None]:
            if (not isinstance(e, (list, tuple)) or len(e) != 2 or not all(type(k) is int for k in e)
                    or not all(0 <= k < len(names) for k in e)):
                return Failure(f"edges must be a list of (i, j) index pairs into names; found {compare.show(e)}")
            pairs.add(tuple(e))
        if len(names) != len(ref_names):
            msg = f"you listed {len(names)} nodes; torch's graph has {len(ref_names)}: {ref_names}"
            if len(names) > len(ref_names) and shared:
                return Failure(msg, f"a node reached along several paths (here {', '.join(sorted(set(shared)))}) "
                                    "must be listed once: remember the nodes already seen, compared by identity "
                                    "(`is`/id()), not by name")
            if len(names) < len(ref_names):
                return Failure(msg, "different nodes can have the same name (two MulBackward0); compare nodes by "
                                    "identity, not by name, and follow every entry of next_functions")
            return Failure(msg)
        if sorted(names) != sorted(ref_names):
            return Failure(f"the node names differ: you have {sorted(names)}, torch's graph has {sorted(ref_names)}")
        for i, j in sorted(pairs):
            if i >= j:
                return Failure(f"the order is not topological: edge ({i}, {j}) goes from {names[i]} back to "
                               f"{names[j]}", "every node must come before the nodes in its next_functions "
                               "(names[0] is t.grad_fn)")
        if not nx.is_isomorphic(_as_graph(names, sorted(pairs)), reference_graph,
                                node_match=lambda a, b: a["name"] == b["name"]):
            return Failure(f"the edges do not match torch's graph: you gave {sorted(pairs)}; torch's graph, in one "
                           f"topological order, is {list(zip(ref_names))} with edges {ref_edges}")
        return None

    kinds = ["leaf" if r else "plain" for r in requires_grad]
    return observe("graph.graph_nodes", inputs, kinds, build=builder, judge=judge)


@CHECKS.add("3.6", points=3, target="graph.graph_nodes")
def graph_nodes(gen, device):
    yield _walk_case("chain", [randn(gen, 3, device=device)], [True])
    yield _walk_case("shared", [randn(gen, 4, device=device), randn(gen, 4, device=device)], [True, True])
    yield _walk_case("square_self", [randn(gen, 3, device=device)], [True])
    yield _walk_case("mlp", [randn(gen, 5, 3, device=device), randn(gen, 3, 4, device=device),
                             randn(gen, 4, 2, device=device)], [False, True, True])
    yield _walk_case("chain", [randn(gen, 3, device=device)], [False])          # no graph at all: ([], [])


@CHECKS.hidden("3.6", points=1)
def graph_nodes_hidden(gen, device):
    yield _walk_case("diamond", [randn(gen, 3, device=device), randn(gen, 3, device=device)], [True, True])
    yield _walk_case("mlp", [randn(gen, 2, 3, device=device), randn(gen, 3, 3, device=device),
                             randn(gen, 3, 1, device=device)], [True, True, False])


# ---- in-notebook answer (graded hidden) ------------------------------------------------------------

@CHECKS.answer("3.a", hidden=True, title="predict: the gradient through a data-dependent loop")
def predict_dynamic(gen, device):
    yield answer(LESSON, "answer_dynamic_grad", expect=_example_dynamic(), shown="your prediction `answer_dynamic_grad`")


def _example_dynamic():
    """The lesson's data-dependent loop at x = 1, run by torch: y doubles until its norm reaches 5."""
    x = torch.tensor(1.0, requires_grad=True)
    y = x
    while y.norm() < 5:
        y = y * 2
    y.backward()
    return x.grad
