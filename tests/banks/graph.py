"""Realistic wrong answers to lesson 03_graph (course_pkg/graph.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/graph.py, a word the message must say).
"""
LESSON = "03_graph"
MODULE = "graph"

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


SQUARE_INPLACE_GRAD = _fn("Square", ["ctx.save_for_backward(x)", "return x * x"],
                          ["(x,) = ctx.saved_tensors", "g.mul_(2 * x)", "return g"])

WRONG = [
    ("3.1", "Square writes into grad_output in place", SQUARE_INPLACE_GRAD, "residual"),
    ("3.1", "Square forgets grad_output", SQUARE_NO_CHAIN, "grad_output"),
    ("3.2", "Exp multiplies by the saved input, not by exp(x)", EXP_SAVES_INPUT, "gradient"),
    ("3.3", "Sigmoid evaluates y(1-y) at the input", SIGMOID_AT_INPUT, "OUTPUT"),
    ("3.4", "Linear ignores needs_input_grad", LINEAR_ALWAYS, "needs_input_grad"),
    ("3.5", "ReLU passes the gradient at 0", RELU_GE, "x > 0"),
    ("3.6", "graph_nodes repeats shared nodes", GRAPH_REPEATS, "listed once"),
    ("3.6", "graph_nodes merges nodes by name", GRAPH_BY_NAME, "identity"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("3.3", "Sigmoid saving its input and recomputing sigmoid in backward",
     _fn("Sigmoid", ["ctx.save_for_backward(x)", "return torch.sigmoid(x)"],
         ["(x,) = ctx.saved_tensors", "y = torch.sigmoid(x)", "return g * y * (1 - y)"])),
    ("3.6", "graph_nodes by Kahn's algorithm", """
def graph_nodes(t):
    if t.grad_fn is None:
        return [], []
    nodes, stack, parents = [], [t.grad_fn], {}
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        children = {id(c): c for c, _ in node.next_functions if c is not None}
        for c in children.values():
            parents[id(c)] = parents.get(id(c), 0) + 1
            stack.append(c)
    order, ready = [], [t.grad_fn]
    while ready:
        node = ready.pop(0)
        order.append(node)
        for c in {id(c): c for c, _ in node.next_functions if c is not None}.values():
            parents[id(c)] -= 1
            if parents[id(c)] == 0:
                ready.append(c)
    index = {id(n): i for i, n in enumerate(order)}
    edges = sorted({(index[id(n)], index[id(c)]) for n in order for c, _ in n.next_functions if c is not None})
    return [type(n).__name__ for n in order], edges
"""),
]
