"""Lesson 03 — the computation graph (lessons/03_graph/03_graph.ipynb).

Custom autograd Functions (a forward, a backward, and what the forward saves for the backward),
and a walk of the graph autograd records. The grader runs each Function on float32 and float64
inputs, also inside a larger graph (its result added to its input, or used twice), and compares its
values and gradients with torch's builtin operations.
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
