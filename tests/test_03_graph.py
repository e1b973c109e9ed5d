"""Lesson 03 beyond its row in tests/test_lessons.py: the graph drawing (course_pkg/draw.py) matches
torch's own graph and renders to PNG."""
import pytest
import torch


LESSON = "03_graph"


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
    assert {n["attr"] for n in saved} >= {"result", "self", "other"}
    assert all(n["label"].startswith(f"{n['attr']} of {n['of']}\n") for n in saved)
    for name, (t, params) in _expressions().items():
        ax = draw_graph(t, params=params, show_saved=True, title=name)
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        import matplotlib.pyplot as plt
        plt.close(ax.figure)
