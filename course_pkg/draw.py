"""Draw the autograd graph of a tensor with matplotlib alone (no graphviz binary needed).

Not an exercise: a tool used in lessons 02, 03 and 10.

    from course_pkg.draw import draw_graph
    loss = model(x).pow(2).mean()
    draw_graph(loss, params=model.named_parameters(), show_saved=True)

Boxes, from top to bottom, follow the forward pass: leaf tensors (blue; parameters green, with
their names) feed Function nodes (grey: the `grad_fn` objects, e.g. MulBackward0) which feed the
output (yellow). With show_saved=True, the tensors each Function saved for backward hang off it in
orange (dashed), labelled with what they are: `self of MulBackward0` is the node's `_saved_self`,
with its shape ("scalar" for shape ()) and, when it is a leaf, which one. With show_values=True,
small tensors (at most 6 elements) also show their values, and leaves their `.grad` once it is set.
Arrows point the way the forward pass went; backward walks them in reverse.

The layout is a layered (Sugiyama) one, as graphviz's `dot` (and so torchviz) draws it: each node
gets a layer (as close to the output as its uses allow), an edge that skips layers passes each
layer in between through a slot of its own, the order within each layer is chosen to cross few
edges (barycentre sweeps, then swaps of neighbours), and the x positions pull each node towards its
neighbours while keeping the boxes apart. Edges run straight down through a layer and curve only in
the gaps between layers, so no edge ever crosses a box.

`graph_data` returns the graph as plain data (nodes and edges) for tests and for printing;
`layout_graph` returns where `draw_graph` puts each box and each edge.
"""
from __future__ import annotations

from functools import lru_cache

import torch

COLOURS = {"output": "#fff2a8", "function": "#e3e3e3", "leaf": "#cfe2ff", "param": "#c8f0c8", "saved": "#ffd8b0"}
EDGE_COLOURS = {"saved": "#c87020", "other": "#505050"}
FONTSIZE = 9.0           # points, at the drawing's natural size
MAX_VALUES = 6           # show_values prints tensors with at most this many elements

# layout constants, in points at the natural size
_PAD = 4.0               # text to box edge
_GAP_X = 14.0            # between two boxes of a layer
_SLOT = 5.0              # the width an edge takes where it passes a layer
_GAP_Y = (22.0, 64.0)    # the gap between two layers: at least, at most
_PORT = 9.0              # between the ends of two edges on one side of a box
_HEAD = (6.5, 2.8)       # arrow head: length, half width


# ---- the graph as data ---------------------------------------------------------------------------------

def _shape(t) -> str:
    text = "scalar" if t.dim() == 0 else str(tuple(t.shape))
    if t.dtype != torch.get_default_dtype():
        text += f" {str(t.dtype).removeprefix('torch.')}"
    return text


def _number(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _values(t) -> str | None:
    """A small tensor's values on one line (None when it has more than MAX_VALUES elements)."""
    if t is None or t.numel() > MAX_VALUES or t.is_complex():
        return None
    t = t.detach().cpu()
    if t.dim() == 0:
        return _number(t.item())

    def fmt(x):
        return "[" + ", ".join(fmt(r) if isinstance(r, list) else _number(r) for r in x) + "]"
    return fmt(t.tolist())


def _named(params):
    if params is None:
        return {}
    items = params.items() if isinstance(params, dict) else params
    return {id(t): name for name, t in items}


def _same_tensor(a, b) -> bool:
    """True when a and b are views of the same memory with the same shape (a saved leaf unpacks to
    the leaf itself, but a saved output unpacks to a new Python object on the same memory)."""
    if a is b:
        return True
    try:
        return (a.data_ptr() == b.data_ptr() and a.data_ptr() != 0 and a.shape == b.shape
                and a.stride() == b.stride() and a.dtype == b.dtype)
    except RuntimeError:
        return False


def _saved_tensors(node):
    """(attribute name without `_saved_`, tensor) for each tensor `node` saved for backward."""
    first = {"_saved_self": 0, "_saved_other": 1}
    for attr in sorted((a for a in dir(node) if a.startswith("_saved_")), key=lambda a: (first.get(a, 2), a)):
        try:
            value = getattr(node, attr)
        except Exception:          # freed after backward
            continue
        name = attr[len("_saved_"):]
        if isinstance(value, torch.Tensor):
            yield name, value
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if isinstance(v, torch.Tensor):
                    yield f"{name}[{i}]", v


def graph_data(t: torch.Tensor, params=None, show_saved: bool = False, show_values: bool = False) -> dict:
    """The autograd graph of t as data: {"nodes": [...], "edges": [...]}.

    Each node is a dict with "id", "kind" ("output", "function", "leaf", "param" or "saved"),
    "op" (the grad_fn node's class name, e.g. "MulBackward0" or "AccumulateGrad"; None for the
    output and saved tensors), "label" (the text drawn) and "shape" (the tensor's shape as a tuple;
    None for a Function). A saved tensor also has "attr" (the name after `_saved_`, e.g. "self",
    "other", "result"), "of" (its Function's class name), "of_id" (its Function's id) and "is"
    (the name of the leaf it is, or None). Edges are (from_id, to_id) pairs in the forward
    direction: a Function's inputs point at it. Each grad_fn node appears once, however many paths
    reach it, in the order a depth-first walk from t.grad_fn first meets them (not always a
    topological order); an AccumulateGrad node is drawn as the leaf tensor it accumulates into.
    """
    names = _named(params)

    def with_values(label, tensor, grad=None):
        if show_values:
            shown = _values(tensor)
            if shown is not None:
                label += f"\n{shown}"
            if grad is not None:
                shown = _values(grad)
                label += f"\ngrad {shown}" if shown is not None else "\ngrad set"
        return label

    nodes, edges, ids = [], [], {}
    out_id = "output"
    nodes.append({"id": out_id, "kind": "output", "op": None, "shape": tuple(t.shape),
                  "label": with_values(f"output\n{_shape(t)}" + ("" if t.requires_grad else "\n(no grad)"), t)})
    if getattr(t, "grad_fn", None) is None:
        if t.requires_grad:          # t itself is a leaf
            nodes[0]["label"] = with_values(f"{names.get(id(t), 'leaf')}\n{_shape(t)}", t, t.grad)
        return {"nodes": nodes, "edges": edges}

    order, stack = [], [t.grad_fn]
    while stack:                      # every node once, by identity
        node = stack.pop()
        if node in ids:
            continue
        ids[node] = f"n{len(ids)}"
        order += [node]
        stack.extend(c for c, _ in reversed(node.next_functions) if c is not None and c not in ids)
    leaves = {}                        # leaf tensors seen, for naming the saved ones
    for node in order:
        if type(node).__name__ == "AccumulateGrad":
            var = node.variable
            default = "parameter" if isinstance(var, torch.nn.Parameter) else "leaf"
            leaves[ids[node]] = (var, names.get(id(var), default))
    for node in order:
        op = type(node).__name__
        if op == "AccumulateGrad":
            var, name = leaves[ids[node]]
            is_param = isinstance(var, torch.nn.Parameter) or id(var) in names
            nodes.append({"id": ids[node], "kind": "param" if is_param else "leaf", "op": op,
                          "shape": tuple(var.shape), "label": with_values(f"{name}\n{_shape(var)}", var, var.grad)})
        else:
            nodes.append({"id": ids[node], "kind": "function", "op": op, "shape": None, "label": op})
        for child, _slot in node.next_functions:
            if child is not None and (ids[child], ids[node]) not in edges:
                edges.append((ids[child], ids[node]))
        if show_saved and op != "AccumulateGrad":
            for attr, value in _saved_tensors(node):
                sid = f"{ids[node]}_saved_{attr}"
                same = next((name for var, name in leaves.values() if _same_tensor(value, var)), None)
                label = f"{attr} of {op}\n{_shape(value)}" + (f"  (= {same})" if same else "")
                nodes.append({"id": sid, "kind": "saved", "op": None, "shape": tuple(value.shape),
                              "attr": attr, "of": op, "of_id": ids[node], "is": same,
                              "label": with_values(label, value)})
                edges.append((sid, ids[node]))
    edges.append((ids[t.grad_fn], out_id))
    return {"nodes": nodes, "edges": edges}


# ---- the layout --------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _text_size(label: str, fontsize: float) -> tuple[float, float]:
    """Width and height in points of label as matplotlib renders it (measured, not guessed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = _text_size.__dict__.get("fig")
    if fig is None:
        fig = _text_size.fig = Figure(dpi=72)
        FigureCanvasAgg(fig)
    text = fig.text(0, 0, label, fontsize=fontsize, ha="center", va="center", parse_math=False)
    box = text.get_window_extent(fig.canvas.get_renderer())
    text.remove()
    return box.width, box.height


def _isotonic(target, weight):
    """Non-decreasing y minimising sum(weight * (y - target)²): pool adjacent violators."""
    blocks = []                        # [weighted sum, weight, count]
    for t, w in zip(target, weight):
        blocks.append([t * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, w2, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][2] += c
    out = []
    for s, w, c in blocks:
        out += [s / w] * c
    return out


def _apart(width_a, width_b):
    """The least distance between the centres of two neighbours in a layer."""
    return (width_a + width_b) / 2 + (_GAP_X if min(width_a, width_b) > _SLOT else _GAP_X / 2)


def _place(desired, weight, width):
    """x of a layer's nodes, in their order: as close to desired as the boxes allow (no overlap)."""
    offset = [0.0]
    for i in range(1, len(width)):
        offset.append(offset[-1] + _apart(width[i - 1], width[i]))
    y = _isotonic([d - o for d, o in zip(desired, offset)], weight)
    return [a + o for a, o in zip(y, offset)]


def _span(x, width, slot):
    """The part of a box's bottom or top side where edges may end (clear of the rounded corners)."""
    if slot:
        return x, x
    inset = min(width / 2, _PAD + 3.0)
    return x - width / 2 + inset, x + width / 2 - inset


def _spread(ideal, lo, hi):
    """Points in [lo, hi], in order, _PORT apart (closer if they do not fit), near ideal ones."""
    if not ideal:
        return []
    gap = min(_PORT, (hi - lo) / (len(ideal) - 1)) if len(ideal) > 1 else 0.0
    shifted = _isotonic([p - i * gap for i, p in enumerate(ideal)], [1.0] * len(ideal))
    q = [s + i * gap for i, s in enumerate(shifted)]
    q[0] = max(q[0], lo)
    for i in range(1, len(q)):
        q[i] = max(q[i], q[i - 1] + gap)
    q[-1] = min(q[-1], hi)
    for i in range(len(q) - 2, -1, -1):
        q[i] = min(q[i], q[i + 1] - gap)
    return q


def _crossings_between(upper_pos, lower_pos, pairs):
    """Number of crossings among edges (u, v) with u in the upper layer, v in the lower."""
    ends = sorted((upper_pos[u], lower_pos[v]) for u, v in pairs)
    count = 0
    for i in range(len(ends)):
        for j in range(i + 1, len(ends)):
            if ends[i][0] < ends[j][0] and ends[i][1] > ends[j][1]:
                count += 1
    return count


def layout_graph(data: dict, fontsize: float = FONTSIZE) -> dict:
    """Where draw_graph puts everything, in points at the natural size (y grows upwards).

    Returns {"boxes": {id: (x_centre, y_centre, width, height)}, "labels": {id: text},
    "kinds": {id: kind}, "layers": {id: layer (0 at the top)}, "group": {saved node id: box id},
    "edges": {(from_id, to_id): (vertices, codes)} (a matplotlib Path's vertices and codes, ending
    where the arrow head starts), "heads": {(from_id, to_id): (x, y) of the arrow's tip},
    "size": (width, height), "crossings": number of edge crossings}. Box i sits in
    [x - w/2, x + w/2] × [y - h/2, y + h/2], y from 0 (top) down to -height. The saved tensors of
    one Function share one box (id "<function id>_saved", a row each): "group" maps each saved
    node of `data` to it, and the edges use box ids.
    """
    # the tensors one Function saved are drawn as one box, a row each, headed "saved by <op>"
    group, rows_of, kinds, label, ids = {}, {}, {}, {}, []
    for n in data["nodes"]:
        if n["kind"] == "saved" and n.get("of_id") is not None:
            g = group[n["id"]] = f"{n['of_id']}_saved"
            if g not in rows_of:
                rows_of[g] = [f"saved by {n['of']}"]
                ids.append(g)
                kinds[g] = "saved"
            rest = n["label"].split("\n")[1:]
            rows_of[g].append(f"{n['attr']}: " + "  ".join(rest))
        else:
            ids.append(n["id"])
            kinds[n["id"]] = n["kind"]
            label[n["id"]] = n["label"]
    for g, lines in rows_of.items():
        label[g] = "\n".join(lines)
    edges = list(dict.fromkeys((group.get(a, a), group.get(b, b)) for a, b in data["edges"]))
    succ = {i: [] for i in ids}
    pred = {i: [] for i in ids}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)

    # 1. layers: each node as low as its uses allow (longest path to a sink, counted from the bottom)
    depth, state = {}, {}
    for root in ids:
        stack = [root]
        while stack:
            n = stack[-1]
            if n in depth:
                stack.pop()
                continue
            todo = [s for s in succ[n] if s not in depth]
            if todo and state.get(n) != "open":
                state[n] = "open"
                stack.extend(todo)
                continue
            depth[n] = max((depth[s] + 1 for s in succ[n] if s in depth), default=0)
            stack.pop()
    top = max(depth.values(), default=0)
    layer = {n: top - depth[n] for n in ids}

    # 2. an edge that skips layers gets a slot (a dummy node) in each layer it passes
    size = {}
    for n in ids:
        w, h = _text_size(label[n], fontsize)
        size[n] = (w + 2 * _PAD, h + 2 * _PAD)
    vsucc = {n: [] for n in ids}
    vpred = {n: [] for n in ids}
    chain = {}
    for a, b in edges:
        path = [a]
        for k in range(layer[a] + 1, layer[b]):
            d = f"_slot{len(size)}"
            size[d] = (_SLOT, 0.0)
            layer[d] = k
            vsucc[d], vpred[d] = [], []
            path.append(d)
        path.append(b)
        for u, v in zip(path, path[1:]):
            vsucc[u].append(v)
            vpred[v].append(u)
        chain[(a, b)] = path
    rows = [[] for _ in range(top + 1)]
    seen = set()
    for root in [n for n in ids if not vpred[n]]:     # initial order: depth-first from the sources
        stack = [root]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            rows[layer[n]].append(n)
            stack.extend(reversed(vsucc[n]))
    dummy = {n for n in size if n.startswith("_slot")}

    # 3. order within layers: barycentre sweeps, then swaps of neighbours; keep the best
    def positions(rows_):
        return {n: i for row in rows_ for i, n in enumerate(row)}

    def total_crossings(rows_):
        pos = positions(rows_)
        return sum(_crossings_between(pos, pos, [(u, v) for u in rows_[k] for v in vsucc[u]])
                   for k in range(len(rows_) - 1))

    def transpose(rows_):
        pos = positions(rows_)
        for _ in range(4):
            improved = False
            for row in rows_:
                for i in range(len(row) - 1):
                    u, v = row[i], row[i + 1]
                    before = after = 0
                    for nbrs in (vpred, vsucc):
                        for pu in nbrs[u]:
                            for pv in nbrs[v]:
                                before += pos[pu] > pos[pv]
                                after += pos[pu] < pos[pv]
                    if after < before:
                        row[i], row[i + 1] = v, u
                        pos[u], pos[v] = i + 1, i
                        improved = True
            if not improved:
                break

    best, best_count = [list(r) for r in rows], total_crossings(rows)
    for sweep in range(20):
        if best_count == 0:
            break
        down = sweep % 2 == 0
        ks = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for k in ks:
            pos = positions(rows)
            nbrs = vpred if down else vsucc

            def key(n, pos=pos, nbrs=nbrs):
                around = [pos[m] for m in nbrs[n]]
                return (sum(around) / len(around) if around else pos[n], pos[n])
            rows[k].sort(key=key)
        transpose(rows)
        count = total_crossings(rows)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    rows = best

    # 4. x: each node pulled towards its neighbours (long edges kept straight), boxes kept apart
    # how long a chain of work leads into (above) and out of (below) each node: the main line of
    # the graph pulls hardest, so it stays straight and the side branches bend towards it
    above, below = {}, {}
    for row in rows:
        for n in row:
            above[n] = max((above[m] + 1 for m in vpred[n]), default=0)
    for row in reversed(rows):
        for n in row:
            below[n] = max((below[m] + 1 for m in vsucc[n]), default=0)

    def pull(n, m):
        """How strongly m (a neighbour) pulls n: long edges stay straight, a leaf follows its user."""
        if n in dummy and m in dummy:
            return 8.0 * (1 + above[m] + below[m])
        if not vpred[m] and m not in dummy and vpred[n]:
            return 0.15
        chain = 1 + (above[m] if m in vpred[n] else below[m])
        return (2.0 if n in dummy or m in dummy else 1.0) * chain
    def aim(n, m):
        """Where m pulls n's centre to (so that the edge between them runs straight down)."""
        return x[m]

    x = {}
    for row in rows:
        xs = _place([0.0] * len(row), [1.0] * len(row), [size[n][0] for n in row])
        shift = (xs[0] + xs[-1]) / 2 if xs else 0.0
        x.update({n: v - shift for n, v in zip(row, xs)})
    schedule = ["down", "up"] * 8 + ["both"] * 8
    for mode in schedule:
        ks = range(len(rows)) if mode != "up" else range(len(rows) - 1, -1, -1)
        for k in ks:
            row = rows[k]
            desired, weight = [], []
            for n in row:
                nbrs = vpred[n] if mode == "down" else vsucc[n] if mode == "up" else vpred[n] + vsucc[n]
                if nbrs:
                    w = [pull(n, m) for m in nbrs]
                    desired.append(sum(wi * aim(n, m) for wi, m in zip(w, nbrs)) / sum(w))
                    weight.append(sum(w) * (0.1 if not vpred[n] and n not in dummy else 1.0))   # a leaf gives way
                else:
                    desired.append(x[n])
                    weight.append(0.05)
            for n, v in zip(row, _place(desired, weight, [size[n][0] for n in row])):
                x[n] = v
    # small jogs left along a chain: straighten them where the neighbours leave room (top-down for
    # nodes with one input, then bottom-up for sources with one use), so a chain bends once
    def room(row, i):
        lo, hi = -float("inf"), float("inf")
        for j, side in ((i - 1, -1), (i + 1, 1)):
            if 0 <= j < len(row):
                gap = _apart(size[row[i]][0], size[row[j]][0])
                if side < 0:
                    lo = x[row[j]] + gap
                else:
                    hi = x[row[j]] - gap
        return lo, hi

    for order, nbrs in ((rows, vpred), (rows[::-1], vsucc)):
        for row in order:
            for i, n in enumerate(row):
                if len(nbrs[n]) != 1 or (nbrs is vsucc and vpred[n]):
                    continue
                target = aim(n, nbrs[n][0])
                lo, hi = room(row, i)
                if abs(target - x[n]) < 30.0 and lo <= target <= hi:
                    x[n] = target
    left = min(x[n] - size[n][0] / 2 for n in x)
    right = max(x[n] + size[n][0] / 2 for n in x)
    x = {n: v - left for n, v in x.items()}

    # 5. ports: where an edge leaves a box (bottom) and enters one (top). An edge between two boxes
    # that overlap sideways runs straight down; otherwise each end is as close to the other as the
    # box allows. The ends on one side of a box keep the order of the other ends, _PORT apart.
    ideal = {}
    for u in size:
        for v in vsucc[u]:
            lo_u, hi_u = _span(x[u], size[u][0], u in dummy)
            lo_v, hi_v = _span(x[v], size[v][0], v in dummy)
            lo, hi = max(lo_u, lo_v), min(hi_u, hi_v)
            if lo <= hi:
                ideal[(u, v)] = (min(hi, max(lo, (x[u] + x[v]) / 2)),) * 2
            else:
                ideal[(u, v)] = (min(hi_u, max(lo_u, x[v])), min(hi_v, max(lo_v, x[u])))
    out_port, in_port = {}, {}
    for n in size:
        lo, hi = _span(x[n], size[n][0], n in dummy)
        for nbrs, ports, end_ in ((vsucc[n], out_port, 0), (vpred[n], in_port, 1)):
            keys = [(n, m) if end_ == 0 else (m, n) for m in sorted(nbrs, key=lambda m: x[m])]
            for key_, q in zip(keys, _spread([ideal[k][end_] for k in keys], lo, hi)):
                ports[key_] = q

    # 6. y: each layer's band as tall as its tallest box; gaps grow with how far edges travel sideways
    band = [max((size[n][1] for n in row), default=0.0) for row in rows]
    y, level = {}, -band[0] / 2
    centre = []
    for k, row in enumerate(rows):
        if k:
            travel = max((abs(out_port[(u, v)] - in_port[(u, v)]) for u in rows[k - 1] for v in vsucc[u]), default=0.0)
            level -= band[k - 1] / 2 + min(_GAP_Y[1], max(_GAP_Y[0], 0.22 * travel)) + band[k] / 2
        centre.append(level)
        for n in row:
            y[n] = level

    # 7. routes: straight down through each band, an S-curve across each gap
    from matplotlib.path import Path

    routes, heads = {}, {}
    for (a, b), path in chain.items():
        pts = []                                # (x, y_enter, y_leave) for each node on the path
        for i, n in enumerate(path):
            k = layer[n]
            if i == 0:
                pts.append((out_port[(n, path[1])], y[n] - size[n][1] / 2, centre[k] - band[k] / 2))
            elif i == len(path) - 1:
                base = y[n] + size[n][1] / 2 + _HEAD[0]       # where the arrow head starts
                pts.append((in_port[(path[-2], n)], max(centre[k] + band[k] / 2, base), base))
            else:
                pts.append((x[n], centre[k] + band[k] / 2, centre[k] - band[k] / 2))
        verts, codes = [(pts[0][0], pts[0][1])], [Path.MOVETO]
        if pts[0][2] < pts[0][1]:
            verts.append((pts[0][0], pts[0][2]))
            codes.append(Path.LINETO)
        for (x0, _, y0), (x1, y1, y1_leave) in zip(pts, pts[1:]):
            bend = (y0 - y1) * 0.5
            verts += [(x0, y0 - bend), (x1, y1 + bend), (x1, y1)]
            codes += [Path.CURVE4] * 3
            if y1_leave < y1:
                verts.append((x1, y1_leave))
                codes.append(Path.LINETO)
        routes[(a, b)] = (verts, codes)
        heads[(a, b)] = (pts[-1][0], y[b] + size[b][1] / 2)

    boxes = {n: (x[n], y[n], size[n][0], size[n][1]) for n in ids}
    bottom = min(centre[k] - band[k] / 2 for k in range(len(rows)))
    return {"boxes": boxes, "labels": label, "kinds": kinds, "layers": {n: layer[n] for n in ids},
            "group": group, "edges": routes, "heads": heads, "size": (right - left, -bottom),
            "crossings": best_count}


def route_points(vertices, codes, steps: int = 24):
    """The points along a route (a Path's vertices and codes), its cubic curves sampled."""
    from matplotlib.path import Path

    points, i = [vertices[0]], 1
    while i < len(codes):
        if codes[i] == Path.CURVE4:
            p0, p1, p2, p3 = points[-1], vertices[i], vertices[i + 1], vertices[i + 2]
            for s in range(1, steps + 1):
                t = s / steps
                points.append(tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d
                                    for a, b, c, d in zip(p0, p1, p2, p3)))
            i += 3
        else:
            points.append(vertices[i])
            i += 1
    return points


# ---- drawing -----------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _scaled_text_class():
    from matplotlib.text import Text

    class ScaledText(Text):
        """Text whose size follows the data scale, so it fits its box at any figure or axes size."""

        def __init__(self, *args, base_size, **kwargs):
            super().__init__(*args, fontsize=base_size, **kwargs)
            self._base_size = base_size

        def draw(self, renderer):
            if self.axes is not None and self.figure is not None:
                (x0, _), (x1, _) = self.axes.transData.transform([(0.0, 0.0), (1.0, 0.0)])
                points_per_unit = abs(x1 - x0) * 72.0 / self.figure.dpi
                self._fontproperties.set_size(max(0.5, self._base_size * points_per_unit))
            super().draw(renderer)

    return ScaledText


def draw_graph(t: torch.Tensor, params=None, show_saved: bool = False, ax=None, title: str | None = None,
               *, show_values: bool = False, figsize=None, fontsize: float = FONTSIZE):
    """Draw t's autograd graph on ax (a new figure when None); returns the matplotlib Axes.

    params: names for leaf tensors (a dict or `model.named_parameters()`); show_saved: also draw
    the tensors each Function saved for backward; show_values: print the values of small tensors
    (and the `.grad` of leaves that have one). A new figure is sized to the graph (fonts at
    `fontsize` points, smaller only for very large graphs) unless figsize is given; on a given ax
    the drawing is scaled to fit, text included.
    """
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import FancyBboxPatch, PathPatch, Polygon
    from matplotlib.path import Path

    data = graph_data(t, params=params, show_saved=show_saved, show_values=show_values)
    lay = layout_graph(data, fontsize=fontsize)
    kind = lay["kinds"]
    width, height = lay["size"]
    margin = 6.0
    made_here = ax is None
    if ax is None:
        title_h = 0.4 if title else 0.0
        if figsize is None:
            w_in, h_in = (width + 2 * margin) / 72, (height + 2 * margin) / 72
            scale = min(1.0, 13.0 / w_in, 36.0 / h_in)
            title_size = FontProperties(size=plt.rcParams["axes.titlesize"]).get_size_in_points()
            title_w = _text_size(title, title_size)[0] / 72 + 0.3 if title else 0.0
            figsize = (min(13.0, max(2.5, w_in * scale + 0.2, title_w)), max(1.0, h_in * scale + 0.2) + title_h)
        fig, ax = plt.subplots(figsize=figsize)
        fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=1.0 - title_h / figsize[1])
    ScaledText = _scaled_text_class()
    for (a, b), (verts, codes) in lay["edges"].items():
        saved = kind[a] == "saved"
        colour = EDGE_COLOURS["saved" if saved else "other"]
        ax.add_patch(PathPatch(Path(verts, codes), fill=False, ec=colour, lw=1.1, ls=(0, (4, 2.5)) if saved else "-",
                               capstyle="butt", zorder=1))
        tx, ty = lay["heads"][(a, b)]
        length, half = _HEAD
        ax.add_patch(Polygon([(tx, ty), (tx - half, ty + length), (tx + half, ty + length)], closed=True,
                             fc=colour, ec=colour, lw=0.5, zorder=2))
    for n, (x, y, w, h) in lay["boxes"].items():
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=3.5",
                                    fc=COLOURS[kind[n]], ec="#333333", lw=0.9, zorder=3,
                                    ls=(0, (3, 2)) if kind[n] == "saved" else "-"))
        ax.add_artist(ScaledText(x, y, lay["labels"][n], base_size=fontsize, ha="center", va="center",
                                 multialignment="left" if kind[n] == "saved" else "center", zorder=4,
                                 parse_math=False))
    # data units are points at the natural size: on a large axes, widen the limits rather than
    # blow the drawing up (not at all on a figure made here, at most 1.5 times on a given axes)
    most = 1.0 if made_here else 1.5
    box = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    ax_w, ax_h = box.width * fig_w * 72, box.height * fig_h * 72
    half_w, half_h = width / 2 + margin, height / 2 + margin
    if min(ax_w / (2 * half_w), ax_h / (2 * half_h)) > most:
        half_w, half_h = max(half_w, ax_w / most / 2), max(half_h, ax_h / most / 2)
    ax.set_xlim(width / 2 - half_w, width / 2 + half_w)
    ax.set_ylim(-height / 2 - half_h, -height / 2 + half_h)
    ax.set_aspect("equal", adjustable="box")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
