"""Lesson 03: the solution scores full marks, the blank edition zero, each realistic wrong
implementation loses exactly its own exercise's points, a Sigmoid that saves its input still passes,
and the graph drawing (course_pkg/draw.py) matches torch's own graph and renders to PNG."""
import pytest
import torch

from tests.support import exercise_ids, grade, lost, make_submission, messages, student_submission

LESSON = "03_graph"


def test_instructor_edition_scores_full_marks(tmp_path):
    result = grade(LESSON, make_submission(tmp_path))
    assert not lost(result), messages(result)
    assert result.score == result.max > 0


def test_student_edition_scores_zero(tmp_path):
    result = grade(LESSON, student_submission(tmp_path))
    assert result.checks and all(c.points == 0 for c in result.checks)
    assert all("not implemented" in c.message for c in result.checks if not c.hidden), messages(result)


def _fn(name, forward, backward, args="x"):
    return (f"class {name}(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, {args}):\n"
            + "".join(f"        {line}\n" for line in forward)
            + "    @staticmethod\n    def backward(ctx, g):\n"
            + "".join(f"        {line}\n" for line in backward))


LINEAR_ALWAYS = _fn("Linear", ["ctx.save_for_backward(x, W)", "return x @ W.T + b"],
                    ["x, W = ctx.saved_tensors", "return g @ W, g.T @ x, g.sum(0)"], args="x, W, b")
RELU_GE = _fn("ReLU", ["ctx.save_for_backward(x)", "return x.clamp(min=0)"],
              ["(x,) = ctx.saved_tensors", "return g * (x >= 0)"])
SQUARE_NO_CHAIN = _fn("Square", ["ctx.save_for_backward(x)", "return x * x"],
                      ["(x,) = ctx.saved_tensors", "return 2 * x"])
SIGMOID_AT_INPUT = _fn("Sigmoid", ["ctx.save_for_backward(x)", "return torch.sigmoid(x)"],
                       ["(x,) = ctx.saved_tensors", "return g * x * (1 - x)"])
GRAPH_REPEATS = ("def graph_nodes(t):\n    if t.grad_fn is None:\n        return [], []\n"
                 "    names, edges, queue = [], [], [(t.grad_fn, None)]\n    while queue:\n"
                 "        node, parent = queue.pop(0)\n        i = len(names)\n        names.append(type(node).__name__)\n"
                 "        if parent is not None:\n            edges.append((parent, i))\n"
                 "        queue += [(c, i) for c, _ in node.next_functions if c is not None]\n    return names, edges\n")
GRAPH_BY_NAME = ("def graph_nodes(t):\n    if t.grad_fn is None:\n        return [], []\n"
                 "    names, edges, queue = [], set(), [(t.grad_fn, None)]\n    while queue:\n"
                 "        node, parent = queue.pop(0)\n        name = type(node).__name__\n"
                 "        if name not in names:\n            names.append(name)\n"
                 "            queue += [(c, name) for c, _ in node.next_functions if c is not None]\n"
                 "        if parent is not None:\n            edges.add((names.index(parent), names.index(name)))\n"
                 "    return names, sorted(edges)\n")

EXP_SAVES_INPUT = _fn("Exp", ["ctx.save_for_backward(x)", "return torch.exp(x)"],
                      ["(x,) = ctx.saved_tensors", "return g * x"])

WRONG = [
    ("3.1", "Square forgets grad_output", SQUARE_NO_CHAIN, "grad_output"),
    ("3.2", "Exp multiplies by the saved input, not by exp(x)", EXP_SAVES_INPUT, "gradient"),
    ("3.3", "Sigmoid evaluates y(1-y) at the input", SIGMOID_AT_INPUT, "OUTPUT"),
    ("3.4", "Linear ignores needs_input_grad", LINEAR_ALWAYS, "needs_input_grad"),
    ("3.5", "ReLU passes the gradient at 0", RELU_GE, "x > 0"),
    ("3.6", "graph_nodes repeats shared nodes", GRAPH_REPEATS, "listed once"),
    ("3.6", "graph_nodes merges nodes by name", GRAPH_BY_NAME, "identity"),
]


@pytest.mark.parametrize("exercise,what,source,keyword", WRONG, ids=[w[1] for w in WRONG])
def test_wrong_implementation_loses_exactly_its_exercise(tmp_path, exercise, what, source, keyword):
    result = grade(LESSON, make_submission(tmp_path, {"graph": source}))
    assert lost(result) == exercise_ids(result, exercise), messages(result)
    public = next(c for c in result.checks if c.id == exercise)
    assert keyword in public.message, public.message


def test_sigmoid_that_saves_its_input_still_passes(tmp_path):
    """Saving x and recomputing sigmoid(x) in backward is slower, not wrong: it must score."""
    source = _fn("Sigmoid", ["ctx.save_for_backward(x)", "return torch.sigmoid(x)"],
                 ["(x,) = ctx.saved_tensors", "y = torch.sigmoid(x)", "return g * y * (1 - y)"])
    result = grade(LESSON, make_submission(tmp_path, {"graph": source}))
    assert not lost(result), messages(result)


# ---- the graph drawing (course_pkg/draw.py, not an exercise) ------------------------------------------

def _torch_graph(t):
    """torch's own graph: grad_fn node -> list of next nodes, by identity."""
    seen, stack, edges = set(), [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for c, _ in node.next_functions:
            if c is not None:
                edges.add((node, c))
                stack.append(c)
    return seen, edges


def _expressions():
    a = torch.tensor([1., 2., 3.], requires_grad=True)
    b = torch.tensor([4., 5., 6.], requires_grad=True)
    c = a * b
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    return {
        "shared": ((c + c.exp() + a).mean(), {"a": a, "b": b}),
        "square": ((a * a).sum(), {"a": a}),
        "mlp": (model(torch.randn(5, 3)).pow(2).mean(), dict(model.named_parameters())),
    }


@pytest.mark.parametrize("name", ["shared", "square", "mlp"])
def test_drawn_graph_equals_torchs_graph(name):
    from course_pkg.draw import graph_data
    t, params = _expressions()[name]
    data = graph_data(t, params=params)
    nodes, edges = _torch_graph(t)
    drawn = {n["id"]: n for n in data["nodes"]}
    grad_nodes = [n for n in data["nodes"] if n["op"] is not None]
    assert sorted(n["op"] for n in grad_nodes) == sorted(type(n).__name__ for n in nodes)
    # map torch's nodes to drawn ids through the same walk: compare as labelled graphs
    import networkx as nx
    mine = nx.DiGraph([(b, a) for a, b in data["edges"] if a in drawn and drawn[a]["op"] and drawn[b]["op"]])
    mine.add_nodes_from(n["id"] for n in grad_nodes)
    nx.set_node_attributes(mine, {n["id"]: n["op"] for n in grad_nodes}, "op")
    theirs = nx.DiGraph([(id(p), id(c)) for p, c in edges])
    theirs.add_nodes_from(id(n) for n in nodes)
    nx.set_node_attributes(theirs, {id(n): type(n).__name__ for n in nodes}, "op")
    assert nx.is_isomorphic(mine, theirs, node_match=lambda x, y: x["op"] == y["op"])
    assert ("n0", "output") in data["edges"]
    labels = {n["label"].split("\n")[0] for n in data["nodes"] if n["kind"] == "param"}
    assert labels == set(params)


def test_drawing_shows_saved_tensors_and_renders_png(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from course_pkg.draw import draw_graph, graph_data
    w = torch.tensor(2., requires_grad=True)
    z = (w ** 2 * torch.sigmoid(w)).sum()
    saved = [n for n in graph_data(z, show_saved=True)["nodes"] if n["kind"] == "saved"]
    assert {n["label"].split("\n")[0] for n in saved} >= {"result", "self", "other"}
    for name, (t, params) in _expressions().items():
        ax = draw_graph(t, params=params, show_saved=True, title=name)
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        import matplotlib.pyplot as plt
        plt.close(ax.figure)
