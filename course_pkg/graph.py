"""Lesson 03 — the computation graph (lessons/03_graph/03_graph.ipynb).

Custom autograd Functions (a forward, a backward, and what the forward saves for the backward),
a walk of the graph autograd records, and a backward pass through that graph by hand. The grader
runs each Function on float32 and float64 inputs, also inside a larger graph (its result added to
its input, or used twice), and compares its values and gradients with torch's builtin operations.
"""
import torch


class Square(torch.autograd.Function):
    """Exercise 3.1 — y = x², elementwise. Backward: grad_output · 2x (save x for it)."""

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return x * x
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output * 2 * x
        ### END SOLUTION


class Exp(torch.autograd.Function):
    """Exercise 3.2 — y = eˣ, elementwise. Its derivative is itself: save the output, not the input."""

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        y = torch.exp(x)
        ctx.save_for_backward(y)
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * y
        ### END SOLUTION


class Sigmoid(torch.autograd.Function):
    """Exercise 3.3 — y = 1 / (1 + e⁻ˣ). Save the OUTPUT y: dy/dx = y·(1 − y) needs nothing else.

    (Saving x and recomputing sigmoid(x) in backward is also correct — and graded as correct — but
    costs a second exp; torch's own SigmoidBackward saves the result.)
    """

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * y * (1 - y)
        ### END SOLUTION


class Linear(torch.autograd.Function):
    """Exercise 3.4 — y = x @ W.T + b for x (N, in), W (out, in), b (out,): as torch.nn.functional.linear.

    Backward returns the gradients for x, W and b, in that order. Honour ctx.needs_input_grad: for an
    input that does not require grad (a frozen weight, the data x), return None instead of
    computing its gradient — that is the work autograd lets you skip.
    """

    @staticmethod
    def forward(ctx, x, W, b):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x, W)
        return x @ W.T + b
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        x, W = ctx.saved_tensors
        grad_x = grad_W = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_output @ W
        if ctx.needs_input_grad[1]:
            grad_W = grad_output.T @ x
        if ctx.needs_input_grad[2]:
            grad_b = grad_output.sum(dim=0)
        return grad_x, grad_W, grad_b
        ### END SOLUTION


class ReLU(torch.autograd.Function):
    """Exercise 3.5 — y = max(x, 0). Backward: grad_output where x > 0, else 0.

    At x == 0 ReLU has no derivative; torch's convention (torch.relu) is a gradient of 0 there.
    """

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)
        ### END SOLUTION


def graph_nodes(t):
    """Exercise 3.6 — the backward graph of tensor t, as (names, edges).

    The nodes are t.grad_fn and every node reachable from it through `node.next_functions`
    (skip the None entries). Each node appears ONCE, however many paths reach it: compare nodes by
    identity (`is`, or `id()`), not by name.

    - names: `type(node).__name__` of each node ("MulBackward0", "AccumulateGrad", …) in a
      topological order: every node comes before all the nodes in its next_functions, so
      names[0] is t.grad_fn's name.
    - edges: (i, j) pairs of indices into names, one for each node i and each node j among node
      i's next_functions (any order; a pair listed twice counts once).

    A tensor without grad_fn (a leaf, or computed under no_grad) gives ([], []).
    """
    ### BEGIN SOLUTION
    if t.grad_fn is None:
        return [], []
    order, seen = [], set()

    def visit(node):                      # depth-first post-order: children before parents
        seen.add(node)
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                visit(child)
        order.append(node)

    visit(t.grad_fn)
    order.reverse()                       # reverse post-order: parents before children
    index = {node: i for i, node in enumerate(order)}
    edges = sorted({(index[n], index[c]) for n in order for c, _ in n.next_functions if c is not None})
    return [type(n).__name__ for n in order], edges
    ### END SOLUTION


def backward_by_hand(output, inputs):
    """Exercise 3.7 — a backward pass by hand: call the graph's nodes yourself, as torch's engine does.

    output: a tensor computed from `inputs`, a list of leaf tensors that require grad. Returns a list
    with one entry per tensor of inputs, in the same order: the gradient of output.sum() with respect
    to it (the backward pass is seeded with torch.ones_like(output), so output need not be a scalar),
    or None for an input the graph does not reach. That is exactly what
    torch.autograd.grad(output, inputs, torch.ones_like(output), allow_unused=True) returns — but
    here without torch's engine.

    1. Order the nodes as in 3.6: output.grad_fn and every node reachable through next_functions,
       each once (compared by identity), every node before the nodes in its next_functions.
    2. Give each node slots for its incoming gradients: one per output of its forward operation,
       `len(node._input_metadata)` of them (1 for most nodes; a node of x.split(2) or x.unbind() has
       one per piece). The backward pass starts with torch.ones_like(output) in slot output.output_nr
       of output.grad_fn (0, unless output is one piece of a split).
    3. Visit the nodes in that order.
       - An `AccumulateGrad` node is where a leaf's gradient arrives: do NOT call it (calling it adds
         into the leaf's .grad). Its slot 0 holds the gradient of the leaf `node.variable`.
       - Any other node: call it on its slots, `node(*slots)`, with None in a slot no gradient
         reached. (The node of a custom autograd.Function, an instance of
         torch.autograd.function.BackwardCFunction, is not callable: call `node.apply(*slots)`.)
         It returns one gradient per entry of node.next_functions (a lone tensor when there is one
         entry). Send gradient k along next_functions[k] = (child, i): into the child's slot i — i is
         the child's OUTPUT index, not k. Skip a None child and a None gradient.
    4. Where gradients meet — a tensor used more than once (x * x, f(x) + x) — ADD them into the slot.
       Each node is called once, when all its gradients have arrived: the order of step 1 ensures it.

    Call the nodes under torch.no_grad() (as the engine does: the gradients you return do not require
    grad), leave every .grad as it was, and do not use the engine: no torch.autograd.grad,
    Tensor.backward or torch.autograd.backward (nor torch.func or torch.autograd.functional).
    """
    ### BEGIN SOLUTION
    result = [None] * len(inputs)
    if output.grad_fn is None:
        return [torch.ones_like(output) if t is output else None for t in inputs]
    order, seen = [], set()

    def visit(node):                      # as in graph_nodes: reverse post-order is topological
        seen.add(node)
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                visit(child)
        order.append(node)

    visit(output.grad_fn)
    order.reverse()
    slots = {output.grad_fn: [None] * len(output.grad_fn._input_metadata)}
    slots[output.grad_fn][output.output_nr] = torch.ones_like(output)
    with torch.no_grad():
        for node in order:
            grads = slots.pop(node, None)
            if grads is None or all(g is None for g in grads):
                continue                  # no gradient reached this node
            if type(node).__name__ == "AccumulateGrad":
                for k, t in enumerate(inputs):
                    if t is node.variable:
                        result[k] = grads[0]
                continue
            call = node.apply if isinstance(node, torch.autograd.function.BackwardCFunction) else node
            returned = call(*grads)
            if not isinstance(returned, tuple):
                returned = (returned,)
            for (child, i), g in zip(node.next_functions, returned):
                if child is None or g is None:
                    continue
                slot = slots.setdefault(child, [None] * len(child._input_metadata))
                slot[i] = g if slot[i] is None else slot[i] + g
    return result
    ### END SOLUTION
