"""Lesson 02 — autograd basics (lessons/02_autograd/02_autograd.ipynb).

Five small tools built on autograd. The grader compares each with torch's own machinery:
`torch.autograd.grad`, `torch.autograd.functional.vjp` / `jacobian`, and the trajectory of
`torch.optim.SGD`. None of them may leave anything behind on the caller's tensors: no `.grad`,
no changed `requires_grad`, no changed values.
"""
import torch


def grad_of(f, *xs):
    """Exercise 2.1 — the gradients of the scalar f(*xs) with respect to each x, as a tuple.

    `grad_of(lambda x, y: (x * y).sum(), a, b)` returns `(b, a)` (values, not the same objects).
    It must work whether or not the xs require grad, return gradients that do not require grad
    (same shapes, dtypes and devices as the xs; zeros for an x that f does not use), and leave the
    caller's tensors exactly as they were: in particular `x.grad` stays None. Calling it twice
    gives the same answer twice. Reference: torch.autograd.grad.
    """
    ### BEGIN SOLUTION
    leaves = [x.detach().requires_grad_(True) for x in xs]
    out = f(*leaves)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))
    ### END SOLUTION


def numerical_grad(f, x, eps=1e-6):
    """Exercise 2.2 — the gradient of the scalar f(x) by central differences, in float64.

    For each element i: (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps), where e_i is 1 at i and 0
    elsewhere. Work on a float64 copy of x (f receives float64 tensors; x may be non-contiguous)
    and return a float64 tensor shaped like x. Leave x unchanged. Reference: autograd's gradient, in
    float64 — and, for a function autograd cannot see, the central difference itself.

    Why float64 and central differences: the error of a forward difference (f(x+eps) − f(x))/eps
    is about eps·f''/2, of a central one about eps²·f'''/6; and in float32 (7 significant digits)
    dividing by 2·eps = 2e-6 turns rounding errors of f into errors of order 0.1.
    """
    ### BEGIN SOLUTION
    x64 = x.detach().to(torch.float64).contiguous().clone()
    grad = torch.zeros_like(x64)
    flat, gflat = x64.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + eps
            up = float(f(x64))
            flat[i] = old - eps
            down = float(f(x64))
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
    return grad
    ### END SOLUTION


def vjp(func, inputs, v):
    """Exercise 2.3 — the vector-Jacobian product vᵀ·J of func at inputs, as torch.autograd.functional.vjp.

    `inputs` is one tensor x, `func(x)` a tensor y of any shape, `v` a tensor shaped like y.
    Return the pair `(func_output, vjp)`: y (detached: it does not require grad) and the tensor
    Σ_i v[i] · ∂y[i]/∂x, shaped like x. This is exactly what `y.backward(v)` accumulates into
    x.grad — but leave the caller's x alone (no .grad, no requires_grad change).
    """
    ### BEGIN SOLUTION
    x = inputs.detach().requires_grad_(True)
    y = func(x)
    (g,) = torch.autograd.grad(y, x, v, allow_unused=True)
    return y.detach(), torch.zeros_like(x) if g is None else g
    ### END SOLUTION


def jacobian(func, inputs):
    """Exercise 2.4 — the Jacobian of func at inputs, as torch.autograd.functional.jacobian.

    `inputs` is one tensor x, `func(x)` a tensor y. Return J of shape y.shape + x.shape with
    J[i..., j...] = ∂y[i...]/∂x[j...]: for 1-D y and x, row i is the gradient of y[i] (one
    vector-Jacobian product with v = e_i). Leave the caller's x alone.
    """
    ### BEGIN SOLUTION
    x = inputs.detach().requires_grad_(True)
    y = func(x)
    rows = []
    for i in range(y.numel()):
        v = torch.zeros_like(y).view(-1)
        v[i] = 1
        (g,) = torch.autograd.grad(y, x, v.view_as(y), retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(x) if g is None else g)
    if not rows:
        return y.new_zeros(y.shape + x.shape)
    return torch.stack(rows).reshape(y.shape + x.shape)
    ### END SOLUTION


def gradient_descent(loss_fn, w0, lr, steps):
    """Exercise 2.5 — plain gradient descent on loss_fn from w0; return the trajectory.

    Start from a copy of w0 that requires grad (w0 itself stays unchanged). Each step: compute
    loss_fn(w), backward, step w in place by −lr times its gradient **under torch.no_grad()** (w stays the same
    leaf), and zero the gradient. Return a tensor of shape (steps + 1, *w0.shape) holding w0, w1,
    ..., w_steps, that does not require grad. Reference: torch.optim.SGD(lr=lr) on a clone of w0.
    """
    ### BEGIN SOLUTION
    w = w0.detach().clone().requires_grad_(True)
    trajectory = [w.detach().clone()]
    for _ in range(steps):
        loss = loss_fn(w)
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
        w.grad = None
        trajectory.append(w.detach().clone())
    return torch.stack(trajectory)
    ### END SOLUTION
