"""The autograd graph drawing (course_pkg/draw.py): a layered layout where no boxes overlap and no
edge runs through a box, saved tensors labelled with what they are, values on request.
(tests/test_03_graph.py checks that the drawn graph is torch's graph.)"""
import itertools

import pytest
import torch
from torch import nn
import torch.nn.functional as F


def _my_batch_norm(x, weight, bias, eps=1e-5):
    """A BatchNorm2d written out operation by operation (as lesson 10's students write it)."""
    n, c, h, w = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(-1, c)
    mean, var = flat.mean(0), flat.var(0, unbiased=False)
    out = (flat - mean) / (var + eps).sqrt() * weight + bias
    return out.reshape(n, h, w, c).permute(0, 3, 1, 2)


def _graphs():
    """name -> (output, params, show_saved): the pictures the lessons show, and harder ones."""
    torch.manual_seed(0)
    a = torch.tensor([1., 2.], requires_grad=True)
    c = a * a.sin()
    w = torch.tensor(2., requires_grad=True)
    x = torch.randn(3, requires_grad=True)
    y = torch.randn(3, requires_grad=True)
    h1, h2, h3 = x * y, x + y, x.exp()
    u, v, s = h1 * h2, h2 + h3, h1 - h3
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    images, labels = torch.rand(2, 1, 8, 8), torch.tensor([3, 5])
    # lesson 10's DigitsNet, with torch's BatchNorm2d and with one written out
    c1, c2 = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.Conv2d(16, 32, 3, padding=1, bias=False)
    fc = nn.Linear(128, 10)
    bn1, bn2 = nn.BatchNorm2d(16), nn.BatchNorm2d(32)
    named = {"conv1.weight": c1.weight, "bn1.weight": bn1.weight, "bn1.bias": bn1.bias, "conv2.weight": c2.weight,
             "bn2.weight": bn2.weight, "bn2.bias": bn2.bias, "fc.weight": fc.weight, "fc.bias": fc.bias}

    def digits_net(norm1, norm2):
        h = F.max_pool2d(F.relu(norm1(c1(images))), 2)
        h = F.max_pool2d(F.relu(norm2(c2(h))), 2)
        return F.cross_entropy(fc(F.dropout(h.flatten(1), 0.25)), labels)
    return {
        "lesson03": ((c + c.exp() + a).mean(), {"a": a}, False),
        "lesson03_saved": ((w ** 2 * torch.sigmoid(w)).sum(), {"w": w}, True),
        "fan": ((u + v + s).sum() * (u * v).mean(), {"x": x, "y": y}, False),
        "mlp": (F.cross_entropy(mlp(torch.randn(5, 4)), torch.tensor([0, 1, 2, 0, 1])),
                dict(mlp.named_parameters()), True),
        "conv_saved": (conv(torch.randn(2, 1, 8, 8)).pow(2).mean(), dict(conv.named_parameters()), True),
        "digits_torch": (digits_net(bn1, bn2), named, False),
        "digits_yours": (digits_net(lambda t: _my_batch_norm(t, bn1.weight, bn1.bias),
                                    lambda t: _my_batch_norm(t, bn2.weight, bn2.bias)), named, True),
    }


GRAPHS = _graphs()


def _inside(point, box, shrink=0.5):
    x, y, w, h = box
    return abs(point[0] - x) < w / 2 - shrink and abs(point[1] - y) < h / 2 - shrink


def _segment_hits(p, q, box, shrink=0.5):
    """Whether segment pq meets the open box (Liang–Barsky clipping)."""
    x, y, w, h = box
    lo = (x - w / 2 + shrink, y - h / 2 + shrink)
    hi = (x + w / 2 - shrink, y + h / 2 - shrink)
    t0, t1 = 0.0, 1.0
    for axis in (0, 1):
        d = q[axis] - p[axis]
        if abs(d) < 1e-12:
            if not lo[axis] < p[axis] < hi[axis]:
                return False
            continue
        a, b = (lo[axis] - p[axis]) / d, (hi[axis] - p[axis]) / d
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    return t0 < t1


@pytest.mark.parametrize("name", list(GRAPHS))
def test_layout_is_layered_without_overlaps_or_edges_through_boxes(name):
    from course_pkg.draw import graph_data, layout_graph, route_points
    t, params, saved = GRAPHS[name]
    data = graph_data(t, params=params, show_saved=saved)
    lay = layout_graph(data)
    boxes, layers = lay["boxes"], lay["layers"]
    box_of = lambda n: lay["group"].get(n, n)                              # noqa: E731
    assert {box_of(n["id"]) for n in data["nodes"]} == set(boxes)
    # no two boxes overlap, and each box is as wide and tall as its text needs
    for (i, (xa, ya, wa, ha)), (j, (xb, yb, wb, hb)) in itertools.combinations(boxes.items(), 2):
        assert abs(xa - xb) >= (wa + wb) / 2 or abs(ya - yb) >= (ha + hb) / 2, (name, i, j)
    for n, (_, _, w, h) in boxes.items():
        lines = lay["labels"][n].split("\n")
        assert w > 4 * max(map(len, lines)) and h > 9 * len(lines)
    # top to bottom: every edge goes down at least one layer; the output is the only box at the bottom
    assert all(layers[box_of(a)] < layers[box_of(b)] for a, b in data["edges"])
    assert [n for n, k in layers.items() if k == max(layers.values())] == ["output"]
    # every edge of the data is drawn, from its source's bottom to the top of its target, and no
    # part of it (curves sampled) enters any other box
    assert set(lay["edges"]) == {(box_of(a), box_of(b)) for a, b in data["edges"]}
    for (a, b), (verts, codes) in lay["edges"].items():
        points = route_points(verts, codes)
        xa, ya, wa, ha = boxes[a]
        assert abs(points[0][1] - (ya - ha / 2)) < 1e-6 and abs(points[0][0] - xa) <= wa / 2
        tip = lay["heads"][(a, b)]
        xb, yb, wb, hb = boxes[b]
        assert abs(tip[1] - (yb + hb / 2)) < 1e-6 and abs(tip[0] - xb) <= wb / 2
        assert abs(points[-1][0] - tip[0]) < 1e-6 and points[-1][1] > tip[1]
        for other, box in boxes.items():
            if other in (a, b):
                continue
            assert not any(_inside(p, box) for p in points), (name, a, b, other)
            assert not any(_segment_hits(p, q, box) for p, q in zip(points, points[1:])), (name, a, b, other)


def test_lesson03_picture_is_not_one_column():
    """The picture the issue was about: a feeds Sin, Mul and the last Add; those edges skip layers
    and are routed beside the chain, not through it, so the graph does not look like a chain."""
    from course_pkg.draw import graph_data, layout_graph
    t, params, _ = GRAPHS["lesson03"]
    data = graph_data(t, params=params)
    lay = layout_graph(data)
    op = {n["id"]: n["op"] or n["kind"] for n in data["nodes"]}
    leaf = next(n for n, o in op.items() if o == "AccumulateGrad")
    uses = [b for a, b in data["edges"] if a == leaf]
    assert sorted(op[b] for b in uses) == ["AddBackward0", "MulBackward0", "SinBackward0"]
    assert len({round(lay["boxes"][n][0]) for n in op}) > 2          # not a single column
    assert lay["crossings"] == 0


def test_saved_tensors_say_which_attribute_of_which_op():
    from course_pkg.draw import graph_data
    w = torch.tensor(2., requires_grad=True)
    data = graph_data((w ** 2 * torch.sigmoid(w)).sum(), params={"w": w}, show_saved=True)
    saved = {(n["of"], n["attr"]): n for n in data["nodes"] if n["kind"] == "saved"}
    assert set(saved) == {("PowBackward0", "self"), ("SigmoidBackward0", "result"),
                          ("MulBackward0", "self"), ("MulBackward0", "other")}
    for (op, attr), n in saved.items():
        assert n["label"].split("\n")[0] == f"{attr} of {op}"
        assert "scalar" in n["label"] and n["shape"] == ()
        assert (n["of_id"], ) == tuple(b for a, b in data["edges"] if a == n["id"])
    assert saved[("PowBackward0", "self")]["is"] == "w" and "(= w)" in saved[("PowBackward0", "self")]["label"]
    assert saved[("SigmoidBackward0", "result")]["is"] is None
    # a * b saves a factor only when the other one requires grad
    a = torch.tensor([1., 2., 3.], requires_grad=True)
    b = torch.tensor([4., 5., 6.])
    data = graph_data((a * b).sum(), params={"a": a}, show_saved=True)
    saved = [n for n in data["nodes"] if n["kind"] == "saved"]
    assert [(n["of"], n["attr"], n["shape"]) for n in saved] == [("MulBackward0", "other", (3,))]
    assert saved[0]["label"] == "other of MulBackward0\n(3,)"
    data = graph_data((a * a).sum(), params={"a": a}, show_saved=True)
    saved = sorted((n["attr"], n["is"]) for n in data["nodes"] if n["kind"] == "saved")
    assert saved == [("other", "a"), ("self", "a")]
    # the drawing puts one Function's saved tensors in one box, a row each
    from course_pkg.draw import layout_graph
    lay = layout_graph(data)
    (group,) = {lay["group"][n["id"]] for n in data["nodes"] if n["kind"] == "saved"}
    assert lay["labels"][group].split("\n") == ["saved by MulBackward0", "self: (3,)  (= a)", "other: (3,)  (= a)"]


def test_shapes_dtypes_and_values():
    from course_pkg.draw import graph_data
    a = torch.tensor([1., 2.], requires_grad=True)
    b = torch.tensor(3., requires_grad=True)
    z = (a * b).exp().sum()
    label = {n["op"] or n["kind"]: n["label"] for n in graph_data(z, params={"a": a, "b": b})["nodes"]}
    assert label["output"] == "output\nscalar"
    before = graph_data(z, params={"a": a, "b": b}, show_values=True)["nodes"]
    assert "grad" not in "".join(n["label"] for n in before)
    z.backward(retain_graph=True)
    nodes = {n["label"].split("\n")[0]: n for n in graph_data(z, params={"a": a, "b": b}, show_values=True)["nodes"]}
    assert nodes["a"]["label"] == f"a\n(2,)\n[1, 2]\ngrad [{a.grad[0]:.3g}, {a.grad[1]:.3g}]"
    assert nodes["b"]["label"] == f"b\nscalar\n3\ngrad {b.grad.item():.3g}"
    assert nodes["output"]["label"] == f"output\nscalar\n{z.item():.3g}"
    big = torch.randn(3, 4, requires_grad=True)
    d = torch.arange(3, dtype=torch.float64, requires_grad=True)
    data = graph_data(big.sum() + d.sum(), params={"big": big, "d": d}, show_values=True)
    labels = [n["label"] for n in data["nodes"]]
    assert "big\n(3, 4)" in labels and "d\n(3,) float64\n[0, 1, 2]" in labels


def test_draws_on_given_axes_and_new_figures(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from course_pkg.draw import draw_graph
    t, params, _ = GRAPHS["conv_saved"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    assert draw_graph(t, params=params.items(), ax=axes[0], title="given") is axes[0]
    draw_graph(t, params=params, show_saved=True, show_values=True, ax=axes[1])
    fig.tight_layout()
    fig.savefig(tmp_path / "two.png", dpi=50)
    ax = draw_graph(t, params=params, figsize=(5, 6))
    assert tuple(ax.figure.get_size_inches()) == (5, 6)
    t, params, _ = GRAPHS["digits_yours"]
    ax = draw_graph(t, params=params, title="big")
    w, h = ax.figure.get_size_inches()
    assert w <= 13 and h <= 40
    ax.figure.savefig(tmp_path / "big.png", dpi=30)
    text = "".join(a.get_text() for a in ax.figure.findobj(matplotlib.text.Text))
    assert text and not any("\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in text)   # no CJK
    plt.close("all")
