"""Lesson 04 — in-place operations and the version counter (lessons/04_inplace/04_inplace.ipynb).

Exercises 4.1–4.3 each start from code that autograd rejects. Rewrite it so that it computes the
same maths *out of place*: the grader compares your result and your gradients with torch's
gradients of the original maths, and checks that your function leaves its inputs alone (same values,
same `_version`). Exercise 4.4 is the one place where writing in place is the point, and 4.5 is an
in-place custom autograd Function done properly, with `ctx.mark_dirty`.
"""
import torch


def silu(x: torch.Tensor) -> torch.Tensor:
    """Exercise 4.1 — fix it: x * sigmoid(x) without modifying a tensor autograd saved.

    This version fails at backward with "one of the variables needed for gradient computation has
    been modified by an inplace operation":

        def silu(x):
            s = torch.sigmoid(x)
            s *= x                 # sigmoid saved its output s for backward: s is now wrong
            return s

    Same maths, out of place. Do not "fix" it with .data or detach(): the error goes away and
    the gradient becomes silently wrong.
    """
    ### BEGIN SOLUTION
    return torch.sigmoid(x) * x
    ### END SOLUTION


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Exercise 4.2 — fix it: standardize each row (last dimension) to mean 0 and std 1.

    This version changes the caller's tensor, raises at once when x is a leaf that requires grad,
    and fails at backward otherwise (std and the division saved tensors it then overwrites):

        def standardize(x):
            x -= x.mean(dim=-1, keepdim=True)
            x /= x.std(dim=-1, keepdim=True)      # unbiased std, as torch.std
            return x

    Return a new tensor; x must come back unchanged (values and x._version).
    """
    ### BEGIN SOLUTION
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / centred.std(dim=-1, keepdim=True)
    ### END SOLUTION


def softmax_layer(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exercise 4.3 — fix it: softmax(x @ w) over the last dimension, written by hand.

        def softmax_layer(x, w):
            e = (x @ w).exp()                     # exp saves its output e
            e /= e.sum(dim=-1, keepdim=True)      # ... which this overwrites
            return e

    Rewrite it out of place (you may use torch.exp and sum, not torch.softmax). Gradients for both
    x and w must match torch's.
    """
    ### BEGIN SOLUTION
    scores = x @ w
    exps = torch.exp(scores - scores.amax(dim=-1, keepdim=True).detach())   # a constant shift: same softmax
    return exps / exps.sum(dim=-1, keepdim=True)
    ### END SOLUTION


def reset_leaf_(w: torch.Tensor, value) -> torch.Tensor:
    """Exercise 4.4 — set the values of a leaf that requires grad, in place, and return it.

    `value` is a number or a tensor that broadcasts to w's shape. Afterwards w must be the same
    object, still a leaf, still requiring grad, holding the new values, and the change must be
    visible to autograd: w._version goes up (so a graph that saved w's old values refuses to use
    them). Writing through `w.data` hides the change; rebinding `w = ...` leaves the caller's tensor
    as it was.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        w.copy_(torch.as_tensor(value, dtype=w.dtype, device=w.device).expand_as(w))
    return w
    ### END SOLUTION


class ReluInplace(torch.autograd.Function):
    """Exercise 4.5 — an in-place ReLU as a custom autograd Function.

    forward(ctx, x) sets the negative entries of x to 0 *in x itself* (one in-place op), tells
    autograd with `ctx.mark_dirty`, saves what backward needs and returns x itself. backward
    returns the gradient for x: grad_output where the output is > 0, else 0.
    Use it as `y = ReluInplace.apply(x)`; y is x.

    The exact `_version` rule the check applies: across `ReluInplace.apply(x)`, x._version must go
    up by exactly as much as it does for a reference Function that does what this docstring asks
    (one in-place op on x in forward, then mark_dirty), measured on the same torch in the same run.
    In torch 2.13 that is +2: +1 for the in-place op, +1 when autograd takes in the dirty x after
    forward returns. So use exactly one in-place op on x (one in-place call, such as a `*_` method
    or a masked assignment, counts 1) plus `mark_dirty`: two in-place ops give +3 ("modifies x more
    than once"); forgetting `mark_dirty` gives +1, and the returned tensor is not x.
    The check also requires `y is x`, compares values exactly and gradients within 1e-6, on float32
    and float64 non-leaf inputs (one non-contiguous), with no element exactly 0.
    """

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        x.clamp_(min=0)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * (y > 0)
        ### END SOLUTION
