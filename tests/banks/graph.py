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

SIGMOID_EXP_RATIO = _fn("Sigmoid", ["y = torch.exp(x) / (1 + torch.exp(x))", "ctx.save_for_backward(y)", "return y"],
                        ["(y,) = ctx.saved_tensors", "return g * y * (1 - y)"])
SIGMOID_DERIVED_FROM_X = _fn("Sigmoid", ["ctx.save_for_backward(x)", "return 1 / (1 + torch.exp(-x))"],
                             ["(x,) = ctx.saved_tensors", "return g * torch.exp(-x) / (1 + torch.exp(-x)) ** 2"])
SIGMOID_OF_Y = _fn("Sigmoid", ["y = torch.sigmoid(x)", "ctx.save_for_backward(y)", "return y"],
                   ["(y,) = ctx.saved_tensors", "s = torch.sigmoid(y)", "return g * s * (1 - s)"])
EXP_INPLACE_INPUT = _fn("Exp", ["y = x.exp_()", "ctx.save_for_backward(y)", "return y"],
                        ["(y,) = ctx.saved_tensors", "return g * y"])
RELU_INPLACE_INPUT = _fn("ReLU", ["ctx.save_for_backward(x)", "return x.clamp_(min=0)"],
                         ["(x,) = ctx.saved_tensors", "return g * (x > 0)"])
RELU_CLAMPS_GRAD = _fn("ReLU", ["ctx.save_for_backward(x)", "return x.clamp(min=0)"], ["return g.clamp(min=0)"])
LINEAR_ZEROS = _fn("Linear", ["ctx.save_for_backward(x, W)", "return x @ W.T + b"],
                   ["x, W = ctx.saved_tensors", "n = ctx.needs_input_grad",
                    "return (g @ W if n[0] else torch.zeros_like(x)), (g.T @ x if n[1] else torch.zeros_like(W)), "
                    "(g.sum(0) if n[2] else torch.zeros(W.shape[0], dtype=W.dtype))"], args="x, W, b")

# backward_by_hand (3.7): the solution's walk, with one piece changed per wrong answer.
_TOPO = """
    order, seen = [], set()

    def visit(node):
        seen.add(node)
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                visit(child)
        order.append(node)

    visit(output.grad_fn)
    order.reverse()
"""
_BFS = """
    order, seen, queue = [], {output.grad_fn}, [output.grad_fn]
    while queue:                          # breadth-first: a node may come before one that points at it
        n = queue.pop(0)
        order.append(n)
        for c, _ in n.next_functions:
            if c is not None and c not in seen:
                seen.add(c)
                queue.append(c)
"""
_GRAPH_HEAD = "def graph_nodes(t):\n    if t.grad_fn is None:\n        return [], []\n"
GRAPH_BFS = _GRAPH_HEAD + _BFS.replace("output.grad_fn", "t.grad_fn") + """
    index = {n: i for i, n in enumerate(order)}
    edges = sorted({(index[n], index[c]) for n in order for c, _ in n.next_functions if c is not None})
    return [type(n).__name__ for n in order], edges
"""
GRAPH_EDGES_BY_NAME = (_GRAPH_HEAD
                       + _TOPO.replace("output.grad_fn", "t.grad_fn") + """
    names = [type(n).__name__ for n in order]
    edges = {(i, names.index(type(c).__name__)) for i, n in enumerate(order) for c, _ in n.next_functions
             if c is not None}
    return names, sorted(edges)
""")
_CALL = """
def _call(node, grads):
    call = node.apply if isinstance(node, torch.autograd.function.BackwardCFunction) else node
    returned = call(*grads)
    return returned if isinstance(returned, tuple) else (returned,)
"""


def _by_hand(*, add="slot[i] = g if slot[i] is None else slot[i] + g", leaf="result[k] = grads[0]",
             route="i", result="result", call_leaf=""):
    return (_CALL + "\n\ndef backward_by_hand(output, inputs):\n    result = [None] * len(inputs)\n" + _TOPO
            + "    slots = {output.grad_fn: [None] * len(output.grad_fn._input_metadata)}\n"
            + "    slots[output.grad_fn][output.output_nr] = torch.ones_like(output)\n"
            + "    with torch.no_grad():\n        for node in order:\n            grads = slots.pop(node, None)\n"
            + "            if grads is None:\n                continue\n"
            + "            if type(node).__name__ == 'AccumulateGrad':\n" + call_leaf
            + "                for k, t in enumerate(inputs):\n                    if t is node.variable:\n"
            + f"                        {leaf}\n                continue\n"
            + "            for k, ((child, i), g) in enumerate(zip(node.next_functions, _call(node, grads))):\n"
            + "                if child is None or g is None:\n                    continue\n"
            + "                slot = slots.setdefault(child, [None] * len(child._input_metadata))\n"
            + (f"                i = {route}\n" if route != "i" else "") + f"                {add}\n"
            + f"    return {result}\n")


BY_HAND_OVERWRITES = _by_hand(add="slot[i] = g")
BY_HAND_SLOT_0 = _by_hand(route="0")
BY_HAND_ACCUMULATE = _by_hand(call_leaf="                node(*grads)\n", leaf="pass",
                              result="[t.grad for t in inputs]")
BY_HAND_ARRIVAL = _by_hand(leaf="found.append(grads[0])", result="found").replace(
    "    result = [None] * len(inputs)\n", "    found = []\n", 1)
BY_HAND_ONE_SLOT = _CALL + """
def backward_by_hand(output, inputs):
    result = [None] * len(inputs)
""" + _TOPO + """
    incoming = {output.grad_fn: torch.ones_like(output)}
    with torch.no_grad():
        for node in order:
            g = incoming.pop(node, None)
            if g is None:
                continue
            if type(node).__name__ == "AccumulateGrad":
                for k, t in enumerate(inputs):
                    if t is node.variable:
                        result[k] = g
                continue
            for (child, _), gk in zip(node.next_functions, _call(node, [g])):
                if child is not None and gk is not None:
                    incoming[child] = incoming[child] + gk if child in incoming else gk
    return result
"""
BY_HAND_DFS = _CALL + """
def backward_by_hand(output, inputs):
    result = [None] * len(inputs)
    slots = {output.grad_fn: [torch.ones_like(output)]}
    stack, seen = [output.grad_fn], set()
    with torch.no_grad():
        while stack:                      # depth-first, each node called when first popped
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            grads = slots[node]
            if type(node).__name__ == "AccumulateGrad":
                for k, t in enumerate(inputs):
                    if t is node.variable:
                        result[k] = grads[0]
                continue
            for (child, i), g in zip(node.next_functions, _call(node, grads)):
                if child is None or g is None:
                    continue
                slot = slots.setdefault(child, [None] * len(child._input_metadata))
                slot[i] = g if slot[i] is None else slot[i] + g
                stack.append(child)
    return result
"""
BY_HAND_PER_PATH = _CALL + """
def backward_by_hand(output, inputs):
    result = [None] * len(inputs)

    def push(node, grads):                # recursion along every path: a shared node runs once per path
        if type(node).__name__ == "AccumulateGrad":
            for k, t in enumerate(inputs):
                if t is node.variable:
                    result[k] = grads[0] if result[k] is None else result[k] + grads[0]
            return
        for (child, i), g in zip(node.next_functions, _call(node, grads)):
            if child is not None and g is not None:
                slots = [None] * len(child._input_metadata)
                slots[i] = g
                push(child, slots)

    with torch.no_grad():
        push(output.grad_fn, [torch.ones_like(output)])
    return result
"""
BY_HAND_CALLS_CUSTOM_NODE = _by_hand().replace(
    "call = node.apply if isinstance(node, torch.autograd.function.BackwardCFunction) else node", "call = node")
BY_HAND_ENGINE = """
def backward_by_hand(output, inputs):
    return list(torch.autograd.grad(output, inputs, torch.ones_like(output), allow_unused=True))
"""
BY_HAND_RECORDS_GRAPH = _by_hand().replace("    with torch.no_grad():\n        for node", "    if True:\n        for node")

BY_HAND_INPLACE_ADD = _by_hand(add="if slot[i] is None:\n                    slot[i] = g\n"
                                   "                else:\n                    slot[i] += g")
BY_HAND_BFS = _by_hand().replace(_TOPO, _BFS)
BY_HAND_SKIPS_PARTIAL = _by_hand().replace("if grads is None:", "if grads is None or any(x is None for x in grads):")
BY_HAND_NO_TUPLE = _by_hand().replace("return returned if isinstance(returned, tuple) else (returned,)",
                                      "return returned")
BY_HAND_SCALAR_SEED = _by_hand().replace("= torch.ones_like(output)", "= torch.tensor(1.0)")
BY_HAND_FLOAT32_SEED = _by_hand().replace("= torch.ones_like(output)", "= torch.ones(output.shape)")
BY_HAND_SEED_SLOT_0 = _by_hand().replace("[output.output_nr] = torch.ones_like", "[0] = torch.ones_like")
BY_HAND_ZERO_UNREACHED = _by_hand(result="[torch.zeros_like(t) if r is None else r for r, t in zip(result, inputs)]")

WRONG = [
    ("3.1", "Square writes into grad_output in place", SQUARE_INPLACE_GRAD, "residual"),
    ("3.1", "Square forgets grad_output", SQUARE_NO_CHAIN, "grad_output"),
    ("3.2", "Exp multiplies by the saved input, not by exp(x)", EXP_SAVES_INPUT, "gradient"),
    ("3.2", "Exp computes exp in place on its input", EXP_INPLACE_INPUT, "in place"),
    ("3.2", "Exp's backward multiplies the saved output in place (the very tensor the caller holds)",
     _fn("Exp", ["y = torch.exp(x)", "ctx.save_for_backward(y)", "return y"],
         ["(y,) = ctx.saved_tensors", "return y.mul_(g)"]), "changed the result"),
    ("3.3", "Sigmoid's backward computes y(1-y)g in place on the saved output",
     _fn("Sigmoid", ["y = torch.sigmoid(x)", "ctx.save_for_backward(y)", "return y"],
         ["(y,) = ctx.saved_tensors", "return y.mul_(1 - y).mul_(g)"]), "changed the result"),
    ("3.3", "Sigmoid evaluates y(1-y) at the input", SIGMOID_AT_INPUT, "OUTPUT"),
    ("3.3", "Sigmoid as e^x / (1 + e^x): nan where e^x overflows", SIGMOID_EXP_RATIO, "overflows"),
    ("3.3", "Sigmoid's derivative as e^-x / (1 + e^-x)^2: nan where e^-x overflows", SIGMOID_DERIVED_FROM_X,
     "overflows"),
    ("3.3", "Sigmoid applies sigmoid again to the saved output", SIGMOID_OF_Y, "wrong gradient"),
    ("3.4", "Linear ignores needs_input_grad", LINEAR_ALWAYS, "needs_input_grad"),
    ("3.4", "Linear returns zeros, not None, for an input that needs no gradient", LINEAR_ZEROS, "needs_input_grad"),
    ("3.5", "ReLU passes the gradient at 0", RELU_GE, "x > 0"),
    ("3.5", "ReLU clamps its input in place", RELU_INPLACE_INPUT, "in place"),
    ("3.5", "ReLU clamps the gradient instead of masking it by x", RELU_CLAMPS_GRAD, "wrong gradient"),
    ("3.6", "graph_nodes repeats shared nodes", GRAPH_REPEATS, "listed once"),
    ("3.6", "graph_nodes lists the nodes breadth-first", GRAPH_BFS, "topological"),
    ("3.6", "graph_nodes merges nodes by name", GRAPH_BY_NAME, "identity"),
    ("3.6", "graph_nodes finds an edge's child by its name", GRAPH_EDGES_BY_NAME, "names.index"),
    ("3.7", "backward_by_hand overwrites instead of summing at fan-in", BY_HAND_OVERWRITES, "SUMMED"),
    ("3.7", "backward_by_hand adds into a slot in place (+=): a gradient tensor shared by two slots changes",
     BY_HAND_INPLACE_ADD, "wrong gradient"),
    ("3.7", "backward_by_hand calls nodes in depth-first pre-order", BY_HAND_DFS, "topological"),
    ("3.7", "backward_by_hand calls the nodes in breadth-first order", BY_HAND_BFS, "wrong gradient"),
    ("3.7", "backward_by_hand calls a shared node once per path", BY_HAND_PER_PATH, "called 2 times"),
    ("3.7", "backward_by_hand skips a node whose slots are not all filled", BY_HAND_SKIPS_PARTIAL, "returned None"),
    ("3.7", "backward_by_hand keeps one slot per node (ignores the output index)", BY_HAND_ONE_SLOT, "OUTPUT"),
    ("3.7", "backward_by_hand zips next_functions with a lone tensor a node returned", BY_HAND_NO_TUPLE,
     "wrong gradient"),
    ("3.7", "backward_by_hand sends every gradient into slot 0, whatever the output index", BY_HAND_SLOT_0,
     "wrong gradient for inputs[1] (x)"),
    ("3.7", "backward_by_hand seeds with torch.tensor(1.0), a 0-d seed for a matrix output", BY_HAND_SCALAR_SEED,
     "ones_like(output)"),
    ("3.7", "backward_by_hand seeds with torch.ones(output.shape): float32 for a float64 output", BY_HAND_FLOAT32_SEED,
     "ones_like(output)"),
    ("3.7", "backward_by_hand seeds slot 0, not output.output_nr", BY_HAND_SEED_SLOT_0, "output_nr"),
    ("3.7", "backward_by_hand returns zeros for an input the graph does not reach", BY_HAND_ZERO_UNREACHED,
     "does not reach"),
    ("3.7", "backward_by_hand calls a custom Function's node like torch's nodes", BY_HAND_CALLS_CUSTOM_NODE,
     "node.apply"),
    ("3.7", "backward_by_hand calls AccumulateGrad and reads .grad", BY_HAND_ACCUMULATE, "AccumulateGrad"),
    ("3.7", "backward_by_hand uses torch.autograd.grad", BY_HAND_ENGINE, "engine"),
    ("3.7", "backward_by_hand returns the gradients in the order found", BY_HAND_ARRIVAL, "another order"),
    ("3.7", "backward_by_hand calls the nodes with grad mode on", BY_HAND_RECORDS_GRAPH, "no_grad"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("3.1", "Square's backward returns a trailing None (torch drops it)",
     _fn("Square", ["ctx.save_for_backward(x)", "return x * x"],
         ["(x,) = ctx.saved_tensors", "return g * 2 * x, None"])),
    ("3.2", "Exp saving its input and recomputing exp in backward",
     _fn("Exp", ["ctx.save_for_backward(x)", "return torch.exp(x)"],
         ["(x,) = ctx.saved_tensors", "return g * torch.exp(x)"])),
    ("3.2", "Exp keeping its output on ctx as an attribute", _fn("Exp", ["ctx.y = torch.exp(x)", "return ctx.y"],
                                                                 ["return g * ctx.y"])),
    ("3.3", "Sigmoid as 1 / (1 + exp(-x)) (inf in the denominator gives 0, not nan)",
     _fn("Sigmoid", ["y = 1 / (1 + torch.exp(-x))", "ctx.save_for_backward(y)", "return y"],
         ["(y,) = ctx.saved_tensors", "return g * y * (1 - y)"])),
    ("3.4", "Linear by addmm, b's gradient kept 2-D (torch sums it down to b's shape)",
     _fn("Linear", ["ctx.save_for_backward(x, W)", "return torch.addmm(b, x, W.t())"],
         ["x, W = ctx.saved_tensors", "n = ctx.needs_input_grad",
          "return (g.mm(W) if n[0] else None), (g.t().mm(x) if n[1] else None), "
          "(g.sum(0, keepdim=True) if n[2] else None)"], args="x, W, b")),
    ("3.5", "ReLU masking by the saved output's sign", _fn("ReLU", ["y = x.clamp(min=0)", "ctx.save_for_backward(y)",
                                                                    "return y"],
                                                           ["(y,) = ctx.saved_tensors", "return g * y.sign()"])),
    ("3.5", "ReLU by torch.where", _fn("ReLU", ["ctx.save_for_backward(x)", "return torch.where(x > 0, x, 0.)"],
                                       ["(x,) = ctx.saved_tensors", "return torch.where(x > 0, g, 0.)"])),
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
    ("3.7", "backward_by_hand as torch's engine does it: dependency counts, a ready queue, nodes keyed by id", """
@torch.no_grad()
def backward_by_hand(output, inputs):
    root = output.grad_fn
    waiting, stack, nodes = {id(root): 0}, [root], {id(root): root}
    while stack:                                   # count how many edges lead into each node
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            if id(child) not in nodes:
                nodes[id(child)] = child
                waiting[id(child)] = 0
                stack.append(child)
            waiting[id(child)] += 1
    buffers = {id(root): {output.output_nr: torch.ones_like(output)}}
    ready, found = [root], {}
    while ready:
        node = ready.pop()
        got = buffers.pop(id(node), {})
        if not hasattr(node, "next_functions") or type(node).__name__ == "AccumulateGrad":
            found[id(node.variable)] = got.get(0)
            continue
        grads = [got.get(i) for i in range(len(node._input_metadata))]
        out = (node.apply if hasattr(node, "_forward_cls") else node)(*grads)
        out = out if isinstance(out, tuple) else (out,)
        for (child, i), g in zip(node.next_functions, out):
            if child is None:
                continue
            if g is not None:
                box = buffers.setdefault(id(child), {})
                box[i] = g if i not in box else box[i] + g
            waiting[id(child)] -= 1
            if waiting[id(child)] == 0:
                ready.append(child)
    return [found.get(id(t)) for t in inputs]
"""),
]
