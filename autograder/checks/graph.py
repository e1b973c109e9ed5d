"""Checks for lesson 03 (course_pkg/graph.py). References: torch's builtin operations and their
gradients (computed here), and a reference walk of the grad_fn graph built here from the same inputs
with the same builders (autograder/sandboxed/fixtures.py). No verdict is made in the sandbox (no
gradcheck there): every Function is also run on float64 inputs and its gradients compared here.

3.7 (backward by hand) is judged from what probes_graph.backward_run recorded: whether torch's engine
ran (node pre-hooks), .grad left alone, the returned gradients against torch.autograd.grad on the same
graph built here, and, for the custom-Function nodes of fixtures.py, how often, in what order and with
what gradient the student's walk called them.

Long because lesson 03 judges two graph walks (3.6's order, 3.7's backward pass) from recorded data,
each with the diagnoses that name its known mistakes."""
import inspect
import itertools
import re

import torch
import torch.nn.functional as F

from autograder import compare
from autograder.inputs import away_from_zero, grad_output_like, randn, with_zeros
from autograder.observation import observe, reference, vector_jacobian
from autograder.results import Failure
from autograder.sandboxed.fixtures import AROUND, BUILDERS, pieces, walk_nodes
from autograder.spec import Case, CheckList, Reference, answer

CHECKS = CheckList()
LESSON = "03_graph"


def function_case(target, ref_fn, inputs, requires_grad, gen, *, grad_hints=None, needs_input_grad=False,
                  atol=1e-5, rtol=1e-5, names=None, around=None, value_hints=None):
    """Apply the student's Function; compare value and gradients with ref_fn (torch's builtin). The caller's
    inputs must come back unchanged (forward computes a new tensor: no x.clamp_(...) on the input).

    around: backward runs through fixtures.AROUND[around](result, x), so gradients meet at fan-in.
    value_hints: fn(*inputs) -> [(known wrong value, what that mistake is)]."""
    kinds = [r if isinstance(r, str) else "leaf" if r else "plain" for r in requires_grad]
    with torch.no_grad():
        expect = ref_fn(*inputs)
        g = grad_output_like(gen, expect if around is None else AROUND[around](expect, inputs[0]))
    through = ref_fn if around is None else (lambda *a: AROUND[around](ref_fn(*a), a[0]))
    _, expect_grads = reference(through, inputs, kinds, g)
    if around is not None:
        grad_hints = None         # the hints name mistakes of the Function alone
    hints = {i: fn(g, *[t.detach() for t in inputs]) for i, fn in (grad_hints or {}).items()}
    values = value_hints(*[t.detach() for t in inputs]) if value_hints else ()
    return observe(target, inputs, kinds, apply=True, expect=expect, grad_output=g, expect_grads=expect_grads,
                   around=around, atol=atol, rtol=rtol, names=names or [f"input {i}" for i in range(len(inputs))],
                   value_hints=values, result_requires_grad=True, needs_input_grad=needs_input_grad,
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


OVERFLOW_VALUE = ("eˣ overflows to inf once x > 88 (float32), and inf / inf is nan: write it as 1 / (1 + e⁻ˣ), "
                  "whose exp only overflows where the result is 0 anyway")
OVERFLOW_GRAD = ("e⁻ˣ / (1 + e⁻ˣ)² is nan once x < −88 (float32): e⁻ˣ overflows to inf, and inf / inf is nan. "
                 "Write the derivative as y·(1 − y) with the saved output y")


def saturated_value(x):
    """eˣ / (1 + eˣ): sigmoid's other form, nan where eˣ overflows."""
    return [(torch.exp(x) / (1 + torch.exp(x)), OVERFLOW_VALUE)]


SATURATED_HINTS = {0: lambda g, x: SIGMOID_HINTS[0](g, x) + [
    (g * torch.exp(-x) / (1 + torch.exp(-x)) ** 2, OVERFLOW_GRAD)]}


def _saturated(gen, n, device):
    """Inputs beyond ±90, where float32's eˣ or e⁻ˣ overflows: sigmoid is 0 or 1 there, its gradient 0."""
    return away_from_zero(randn(gen, n, device=device, scale=3), margin=90)


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
    yield function_case("graph.Sigmoid", torch.sigmoid, [_saturated(gen, 12, device)], [True], gen,
                        grad_hints=SATURATED_HINTS, value_hints=saturated_value)            # |x| > 90: saturated


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
    import networkx as nx      # here, not at the top: its import would delay every `course check 03`'s job
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
    reference_graph = Reference(lambda: _as_graph(ref_names, ref_edges))
    shared = [ref_names[n] for n in range(len(ref_names)) if sum(j == n for _, j in ref_edges) > 1]

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
        first = {}
        for k, name in enumerate(names):
            first.setdefault(name, k)
        if len(first) < len(names) and all(first[names[j]] == j for _, j in pairs):
            twice = sorted({n for k, n in enumerate(names) if first[n] != k})
            return Failure(f"every edge of yours leads to the first node of its name, so no edge leads to the second "
                           f"{twice[0]}: your edges are {sorted(pairs)}, torch's graph, in one topological order, is "
                           f"{list(zip(ref_names))} with edges {ref_edges}",
                           "two different nodes can have the same name: find an edge's child by identity (a dict "
                           "from node to index), not by names.index(its name)")
        for i, j in sorted(pairs):
            if i >= j:
                return Failure(f"the order is not topological: edge ({i}, {j}) goes from {names[i]} back to "
                               f"{names[j]}", "every node must come before the nodes in its next_functions "
                               "(names[0] is t.grad_fn)")
        from networkx import is_isomorphic
        if not is_isomorphic(_as_graph(names, sorted(pairs)), reference_graph(),
                             node_match=lambda a, b: a["name"] == b["name"]):
            return Failure(f"the edges do not match torch's graph: you gave {sorted(pairs)}; torch's graph, in one "
                           f"topological order, is {list(zip(ref_names))} with edges {ref_edges}")
        return None

    kinds = ["leaf" if r else "plain" for r in requires_grad]
    case = observe("graph.graph_nodes", inputs, kinds, build=builder, judge=judge)
    case.prepare = reference_graph
    return case


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


# ---- 3.7 backward_by_hand --------------------------------------------------------------------------

GRAPHS = {      # what each builder of fixtures.py computes, as feedback shows it
    "square_self": "(a * a).sum()",
    "shared": "(c + c.exp() + a).mean(), c = a * b",
    "counted": "(Cube(c) * Sine(c)).sum(), c = Softsign(a * b), three custom autograd.Functions",
    "residual_tanh": "tanh(x @ w) + x, not a scalar",
    "split_parts": "(b * a * w).sum() + a.exp().sum(), a, b, _ = x.split(2)",
    "unbind_rows": "r[-1] * v + r[0] * r[-1].sin(), r = m.unbind(0), not a scalar",
    "mlp": "mse_loss(relu(x @ w1) @ w2, zeros)",
    "diamond": "(f + a.detach()).sum() + b.sum(), f = 2c · sin(c), c = a + b",
    "chain": "exp(sin(a) * 2).sum()",
    "affine": "x @ w + b, not a scalar",
    "second_piece": "(x * w).split(2)[1], the second piece (output.output_nr = 1)",
}
SUMMED = ("where a tensor is used more than once, the gradients from its uses are SUMMED; yours is the gradient "
          "from one use only (an `=` where `+=` belongs)")
EARLY = ("yours is only the gradient that arrives first, from a use that comes before the others in the graph: "
         "the later ones were dropped, or arrived after you used the slot. Add every gradient into the slot, and use "
         "it only when all have arrived (in a topological order)")
ONCE = ("you called a node once per path that reaches it: collect every gradient that reaches a node first, then "
        "call it once, with their sum")
TOPOLOGICAL = ("a node may run only when every gradient for it has arrived: visit the nodes in a topological order "
               "(as in 3.6: every node before the nodes in its next_functions), not in the order a depth-first "
               "search first meets them")
ENGINE = ("torch.autograd.grad, Tensor.backward and torch.autograd.backward run the engine: this exercise is to do its "
          "work yourself, calling each node")
NOT_CALLABLE = "the node of a custom autograd.Function is not callable: call node.apply(*grads)"
OUTPUT_INDEX = ("a node takes one gradient per OUTPUT of its forward operation (len(node._input_metadata) of them; "
                "a node of x.split(2) has several): next_functions[k] = (child, i) sends gradient k into the child's "
                "slot i, its output index, and None fills a slot no gradient reached")


_walk = walk_nodes        # the probe's walk, from the shared fixtures: indices correspond


def _torch_backward(builder, inputs, kinds, spare, pick):
    """torch's answer on the same graph, built here: the gradients (the engine, seeded with ones), and for the
    hints what the engine saw: the gradients each edge carried into each input's AccumulateGrad, and for each
    custom-Function node (in walk order) what it was called with, what each edge into it carried, its parents.
    An edge's gradient comes as (gradient, whether its node can be the last parent in a topological order)."""
    leaves = [t.detach().clone().requires_grad_(k != "plain") for t, k in zip(inputs, kinds)]
    every = leaves + [t.detach().clone().requires_grad_(True) for t in spare]
    out = BUILDERS[builder](*leaves)
    nodes = _walk(out.grad_fn)
    carried, received, parents = {}, {}, {}

    def carry(node):
        def hook(grad_inputs, grad_outputs):
            for (child, i), g in zip(node.next_functions, grad_inputs):
                if child is not None and g is not None:
                    carried.setdefault((child, i), []).append((node, g.detach().clone()))
        return hook

    custom = [n for n in nodes if isinstance(n, torch.autograd.function.BackwardCFunction)]
    for node in nodes:
        for child, _ in node.next_functions:
            if child is not None:
                parents.setdefault(child, []).append(node)
        if node.next_functions:
            node.register_hook(carry(node))
        if node in custom:
            node.register_prehook(lambda grads, node=node: received.__setitem__(
                node, None if grads[0] is None else grads[0].detach().clone()))
    wanted = [every[i] for i in pick]
    grads = vector_jacobian(out, wanted, torch.ones_like(out))
    below = {n: set(_walk(n)) - {n} for n in nodes}

    def pieces(child, i):
        edges = carried.get((child, i), [])
        return [(g, not any(q in below[p] for q, _ in edges)) for p, g in edges]

    accumulate = {id(n.variable): n for n in nodes if type(n).__name__ == "AccumulateGrad"}
    into = [pieces(accumulate.get(id(t)), 0) for t in wanted]
    info = [{"name": type(n).__name__, "received": received.get(n), "carried": pieces(n, 0),
             "parents": [custom.index(p) if p in custom else None for p in parents.get(n, [])]} for n in custom]
    return list(grads), into, info


def _close(expected, got) -> bool:
    rtol, atol = compare.torch_tolerance(expected.dtype)
    return compare.tensor_problem(expected, got, rtol=rtol, atol=atol) is None


def _one_use_only(got, pieces) -> str:
    """The hint when got is one of ≥ 2 gradients that should have been summed: SUMMED if it is one that can
    arrive last (an overwrite), EARLY if it comes from a parent above another parent (it arrives first)."""
    if len(pieces) < 2 or _close(sum(g for g, _ in pieces), got):
        return ""
    matched = [last for g, last in pieces if _close(g, got)]
    return SUMMED if any(matched) else EARLY if matched else ""


SEED_LIKE = ("seed the backward pass with torch.ones_like(output): a gradient of output's own shape and dtype (the "
             "nodes do not broadcast a 0-d seed, nor promote a float32 one)")
SEED_SLOT = ("this is the gradient of the split's FIRST piece: output is piece output.output_nr of its node, so the "
             "seed goes in that slot, not slot 0")


def _seeded_in_slot_zero(inputs, kinds, pick):
    """second_piece's gradients had the seed gone to slot 0 of its SplitBackward0 (the first piece)."""
    leaves = [t.detach().clone().requires_grad_(k != "plain") for t, k in zip(inputs, kinds)]
    first = pieces(*leaves)[0]
    return vector_jacobian(first, [leaves[i] for i in pick], torch.ones_like(first))


def _backward_case(builder, inputs, kinds, pick, spare=()):
    names = list(inspect.signature(BUILDERS[builder]).parameters) + [f"spare{i}" for i in range(len(spare))]
    every = list(inputs) + list(spare)
    labels = [f"inputs[{j}] ({names[i]})" for j, i in enumerate(pick)]
    expect, into, custom = _torch_backward(builder, inputs, kinds, spare, pick)

    def custom_problem(seen):
        if not isinstance(seen, list) or len(seen) != len(custom) or any(
                not isinstance(s, dict) or s.get("name") != c["name"] for s, c in zip(seen, custom)):
            raise compare.Unreadable("the record of the custom nodes came back malformed")
        calls = [s.get("calls") for s in seen]
        if not all(isinstance(c, list) and all(type(k) is int for k in c) for c in calls):
            raise compare.Unreadable("the record of the custom nodes came back malformed")
        for s, c in zip(calls, custom):
            if len(s) > 1:
                return Failure(f"the node {c['name']} was called {len(s)} times; each node is called once", ONCE)
        for s, c in zip(calls, custom):
            for p in c["parents"]:
                if p is not None and s and calls[p] and s[0] < calls[p][0]:
                    return Failure(f"the node {c['name']} was called before {custom[p]['name']}, which passes it a "
                                   "gradient", TOPOLOGICAL)
        return None

    def summed_hint(seen, j, got):
        at_input = _one_use_only(got, into[j])
        if at_input:
            return at_input
        calls = [s["calls"] for s in seen]
        for s, c, n in zip(seen, custom, calls):
            parents = c["parents"]
            if (n and c["received"] is not None and parents and None not in parents
                    and all(calls[p] and calls[p][0] < n[0] for p in parents)):
                received = compare.unrecord(s.get("received"))
                if isinstance(received, torch.Tensor) and _one_use_only(received, c["carried"]) == SUMMED:
                    return SUMMED     # called after all its parents (ticks): an overwrite, not an early call
        return ""

    slot_zero = _seeded_in_slot_zero(inputs, kinds, pick) if builder == "second_piece" else None

    def judge(o):
        if o.get("call_error") is not None:
            text = o["call_error"]
            hint = (NOT_CALLABLE if re.search(r"'\w+Backward' object is not callable", text) else
                    OUTPUT_INDEX if re.search(r"expected \d+ arguments?, got \d+ instead", text) else
                    SEED_LIKE if builder == "affine" and ("must be a matrix" in text or "same dtype" in text) else "")
            return Failure(f"backward_by_hand raised {text[:600]}", hint)
        if o["fixtures_changed"]:
            return Failure("the submission changed the grader's custom Functions (fixtures.py): this case fails, "
                           "whatever was observed")
        if o["engine"]:
            return Failure(f"torch's autograd engine ran during your call (it ran {', '.join(map(str, o['engine'][:5]))})",
                           ENGINE)
        watched = [names[i] for i, t in enumerate(every) if i >= len(inputs) or kinds[i] != "plain"]
        for name, g in zip(watched, o["grads_after_call"]):
            if g is not None:
                return Failure(f"the .grad of {name} was written during your call; it must stay None",
                               "calling an AccumulateGrad node adds the gradient into its leaf's .grad: do not call "
                               "it, read its leaf from node.variable")
        got = compare.unrecord(o["returned"])
        if not isinstance(got, (list, tuple)) or len(got) != len(pick):
            return Failure(f"expected a list of {len(pick)} gradients (one per tensor of inputs), got {compare.show(got)}")
        if any(g is not None and not isinstance(g, torch.Tensor) for g in got):
            return Failure(f"each gradient must be a tensor or None, got {compare.show(got)}")
        problem = custom_problem(o["custom"])
        if problem:
            return problem
        matches = [all((e is None) == (g is None) and (e is None or _close(e, g)) for e, g in zip(expect, order))
                   for order in itertools.permutations(got)]
        if not matches[0] and any(matches[1:]):
            return Failure("your list holds the right gradients in another order than inputs",
                           "item j of the list is the gradient of inputs[j]")
        for label, e, g in zip(labels, expect, got):
            if e is None and g is not None:
                return Failure(f"{label}: the graph does not reach it, so its gradient is None (as "
                               f"torch.autograd.grad(..., allow_unused=True) says); you returned {compare.show(g)}")
            if e is not None and g is None:
                return Failure(f"{label}: you returned None, but the output depends on it")
        for j, (label, e, g) in enumerate(zip(labels, expect, got)):
            if e is not None and not _close(e, g):
                rtol, atol = compare.torch_tolerance(e.dtype)
                problem = compare.tensor_problem(e, g, rtol=rtol, atol=atol)
                if slot_zero is not None and slot_zero[j] is not None and _close(slot_zero[j], g):
                    return problem.with_hint(SEED_SLOT).within(f"wrong gradient for {label}: ")
                return problem.with_hint(summed_hint(o["custom"], j, g)).within(f"wrong gradient for {label}: ")
        records = o["returned"].get("__seq__", []) if isinstance(o["returned"], dict) else []
        if any(isinstance(r, dict) and r.get("requires_grad") for r in records):
            return Failure("the gradients you returned require grad: calling the nodes recorded a new graph",
                           "call the nodes under torch.no_grad(), as the engine does")
        return None

    shapes = ", ".join(f"{n}: {tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"
                       + ("" if i >= len(inputs) or kinds[i] != "plain" else ", no grad")
                       for i, (n, t) in enumerate(zip(names, every)))
    unreached = " (spare: a leaf the graph does not reach)" if spare else ""
    shown = (f"backward_by_hand(output, inputs): output = {GRAPHS[builder]} ({shapes}){unreached}, "
             f"inputs = [{', '.join(names[i] for i in pick)}]")
    return Case("probes_graph.backward_run", {"target": "graph.backward_by_hand", "build": builder,
                                              "inputs": list(inputs), "kinds": list(kinds), "spare": list(spare),
                                              "pick": list(pick)}, judge, shown=shown)


@CHECKS.add("3.7", points=3, target="graph.backward_by_hand")
def backward_by_hand(gen, device):
    yield _backward_case("counted", [randn(gen, 4, device=device), randn(gen, 4, device=device)],
                         ["leaf", "leaf"], [0, 1])
    yield _backward_case("square_self", [randn(gen, 5, device=device)], ["leaf"], [0])
    yield _backward_case("shared", [randn(gen, 4, device=device, dtype=torch.float64),
                                    randn(gen, 4, device=device, dtype=torch.float64)], ["leaf", "leaf"], [1, 0])
    yield _backward_case("residual_tanh", [randn(gen, 3, 4, device=device), randn(gen, 4, 4, device=device)],
                         ["leaf", "leaf"], [1, 0])
    yield _backward_case("split_parts", [randn(gen, 6, device=device, dtype=torch.float64),
                                         randn(gen, 2, device=device, dtype=torch.float64)], ["leaf", "leaf"],
                         [2, 0, 1], spare=[randn(gen, 3, device=device, dtype=torch.float64)])
    yield _backward_case("mlp", [randn(gen, 5, 3, device=device), randn(gen, 3, 4, device=device),
                                 randn(gen, 4, 2, device=device)], ["plain", "leaf", "leaf"], [2, 1])
    yield _backward_case("affine", [randn(gen, 3, 4, device=device, dtype=torch.float64),           # the seed's
                                    randn(gen, 4, 2, device=device, dtype=torch.float64),           # shape and
                                    randn(gen, 3, 2, device=device, dtype=torch.float64)],          # dtype
                         ["plain", "leaf", "leaf"], [2, 1])
    yield _backward_case("second_piece", [randn(gen, 5, device=device), randn(gen, 5, device=device)],
                         ["leaf", "leaf"], [0, 1])                                # seeded in slot output_nr


@CHECKS.hidden("3.7", points=1)
def backward_by_hand_hidden(gen, device):
    yield _backward_case("counted", [randn(gen, 2, 3, device=device, dtype=torch.float64),
                                     randn(gen, 2, 3, device=device, dtype=torch.float64)], ["leaf", "leaf"], [1, 0])
    yield _backward_case("diamond", [randn(gen, 3, device=device, dtype=torch.float64),
                                     randn(gen, 3, device=device, dtype=torch.float64)], ["leaf", "leaf"], [0, 2, 1],
                         spare=[randn(gen, 2, device=device, dtype=torch.float64)])
    yield _backward_case("unbind_rows", [randn(gen, 3, 4, device=device), randn(gen, 4, device=device)],
                         ["leaf", "leaf"], [1, 0])
    yield _backward_case("mlp", [randn(gen, 2, 3, device=device, dtype=torch.float64),
                                 randn(gen, 3, 3, device=device, dtype=torch.float64),
                                 randn(gen, 3, 1, device=device, dtype=torch.float64)], ["leaf", "leaf", "plain"],
                         [0, 1])
    yield _backward_case("chain", [randn(gen, 3, device=device)], ["leaf"], [1, 0],
                         spare=[randn(gen, 3, device=device)])


# ---- in-notebook answer --------------------------------------------------------------------------

@CHECKS.answer("3.a", title="predict: the gradient through a data-dependent loop")
def predict_dynamic(gen, device):
    yield answer(LESSON, "answer_dynamic_grad", expect=_example_dynamic(), shown="your prediction `answer_dynamic_grad`",
                 hints=[(torch.tensor(1.), "the loop body runs at x = 1 and each `y = y * 2` is recorded: the graph "
                         "is that of the path taken, not of `y = x`"),
                        (torch.tensor(2.), "count the doublings: the loop goes on while the norm is below 5")])


def _example_dynamic():
    """The lesson's data-dependent loop at x = 1, run by torch: y doubles until its norm reaches 5."""
    x = torch.tensor(1.0, requires_grad=True)
    y = x
    while y.norm() < 5:
        y = y * 2
    y.backward()
    return x.grad
