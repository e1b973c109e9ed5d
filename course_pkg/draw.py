"""Draw the autograd graph of a tensor with matplotlib alone (no graphviz binary needed).

Not an exercise: a tool used in lessons 02 and 03.

    from course_pkg.draw import draw_graph
    loss = model(x).pow(2).mean()
    draw_graph(loss, params=model.named_parameters(), show_saved=True)

Boxes, from top to bottom, follow the forward pass: leaf tensors (blue; parameters green, with
their names) feed Function nodes (grey: the `grad_fn` objects, e.g. MulBackward0) which feed the
output (yellow). With show_saved=True, the tensors each Function saved for backward hang off it in
orange (dashed). Arrows point the way the forward pass went; backward walks them in reverse.

`graph_data` returns the same graph as plain data (nodes and edges) for tests and for printing.
"""
from __future__ import annotations

import networkx as nx
import torch

COLOURS = {"output": "#fff2a8", "function": "#e3e3e3", "leaf": "#cfe2ff", "param": "#c8f0c8", "saved": "#ffd8b0"}


def _shape(t):
    return str(tuple(t.shape))


def _named(params):
    if params is None:
        return {}
    items = params.items() if isinstance(params, dict) else params
    return {id(t): name for name, t in items}


def graph_data(t: torch.Tensor, params=None, show_saved: bool = False) -> dict:
    """The autograd graph of t as data: {"nodes": [...], "edges": [...]}.

    Each node is a dict with "id", "kind" ("output", "function", "leaf", "param" or "saved"),
    "op" (the grad_fn node's class name, e.g. "MulBackward0" or "AccumulateGrad"; None for the
    output and saved tensors) and "label" (the text drawn). Edges are (from_id, to_id) pairs in the
    forward direction: a Function's inputs point at it. Each grad_fn node appears once, however
    many paths reach it (the walk of exercise 3.6); an AccumulateGrad node is drawn as the leaf
    tensor it accumulates into.
    """
    names = _named(params)
    nodes, edges, ids = [], [], {}
    out_id = "output"
    nodes.append({"id": out_id, "kind": "output", "op": None,
                  "label": f"output\n{_shape(t)}" + ("" if t.requires_grad else "\n(no grad)")})
    if getattr(t, "grad_fn", None) is None:
        if t.requires_grad:          # t itself is a leaf
            nodes[0]["label"] = f"{names.get(id(t), 'leaf')}\n{_shape(t)}"
        return {"nodes": nodes, "edges": edges}

    order, stack = [], [t.grad_fn]
    while stack:                      # every node once, by identity
        node = stack.pop()
        if node in ids:
            continue
        ids[node] = f"n{len(ids)}"
        order += [node]
        stack.extend(c for c, _ in reversed(node.next_functions) if c is not None and c not in ids)
    for node in order:
        op = type(node).__name__
        if op == "AccumulateGrad":
            var = node.variable
            is_param = isinstance(var, torch.nn.Parameter) or id(var) in names
            name = names.get(id(var), "parameter" if isinstance(var, torch.nn.Parameter) else "leaf")
            nodes.append({"id": ids[node], "kind": "param" if is_param else "leaf", "op": op,
                          "label": f"{name}\n{_shape(var)}"})
        else:
            nodes.append({"id": ids[node], "kind": "function", "op": op, "label": op})
        for child, _slot in node.next_functions:
            if child is not None and (ids[child], ids[node]) not in edges:
                edges.append((ids[child], ids[node]))
        if show_saved and op != "AccumulateGrad":
            for attr in sorted(a for a in dir(node) if a.startswith("_saved_")):
                try:
                    value = getattr(node, attr)
                except Exception:          # freed after backward
                    continue
                if isinstance(value, torch.Tensor):
                    sid = f"{ids[node]}{attr}"
                    nodes.append({"id": sid, "kind": "saved", "op": None, "label": f"{attr[7:]}\n{_shape(value)}"})
                    edges.append((sid, ids[node]))
    edges.append((ids[t.grad_fn], out_id))
    return {"nodes": nodes, "edges": edges}


def _layers(g: nx.DiGraph) -> dict:
    """Layer of each node = its longest distance to a sink (the output at the bottom)."""
    depth = {}
    for n in reversed(list(nx.topological_sort(g))):
        depth[n] = max((depth[s] + 1 for s in g.successors(n)), default=0)
    top = max(depth.values(), default=0)
    return {n: top - d for n, d in depth.items()}


def draw_graph(t: torch.Tensor, params=None, show_saved: bool = False, ax=None, title: str | None = None):
    """Draw t's autograd graph on ax (a new figure when None); returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    data = graph_data(t, params=params, show_saved=show_saved)
    g = nx.DiGraph()
    for n in data["nodes"]:
        g.add_node(n["id"], **n)
    g.add_edges_from(data["edges"])
    layer = _layers(g)
    for n, k in layer.items():
        g.nodes[n]["layer"] = k
    # order each layer by the mean position of its successors, so arrows cross less
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal", scale=1)
    by_layer = {}
    for n, k in layer.items():
        by_layer.setdefault(k, []).append(n)
    width = max(len(v) for v in by_layer.values())
    depth = max(by_layer) + 1
    coords = {}
    for k in sorted(by_layer, reverse=True):          # from the output upwards
        members = by_layer[k]
        key = {n: (sum(coords[s][0] for s in g.successors(n) if s in coords) /
                   max(1, sum(1 for s in g.successors(n) if s in coords)), pos[n][0]) for n in members}
        members.sort(key=lambda n: key[n])
        for i, n in enumerate(members):
            coords[n] = (i - (len(members) - 1) / 2, float(depth - 1 - k))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 2.3 * width), max(3.0, 1.25 * depth)))
    for a, b in g.edges:
        saved = g.nodes[a]["kind"] == "saved"
        ax.annotate("", xy=coords[b], xytext=coords[a],
                    arrowprops=dict(arrowstyle="-|>", color="#d08030" if saved else "#555555", lw=1.2,
                                    linestyle="--" if saved else "-", shrinkA=16, shrinkB=16,
                                    connectionstyle="arc3,rad=0.0"))
    for n, (x, y) in coords.items():
        node = g.nodes[n]
        ax.text(x, y, node["label"], ha="center", va="center", fontsize=9, zorder=3,
                bbox=dict(boxstyle="round,pad=0.4", fc=COLOURS[node["kind"]], ec="#333333",
                          ls="--" if node["kind"] == "saved" else "-"))
    ax.set_xlim(-width / 2 - 0.3, width / 2 + 0.3)
    ax.set_ylim(-0.6, depth - 0.4)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
