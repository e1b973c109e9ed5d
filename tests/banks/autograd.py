"""Realistic wrong answers to lesson 02_autograd (course_pkg/autograd.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/autograd.py, a word the message must say).
"""
LESSON = "02_autograd"
MODULE = "autograd"

WRONG = [
    ("2.1", "grad_of calls backward on the caller's tensors",
     "def grad_of(f, *xs):\n    xs = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]\n"
     "    f(*xs).backward()\n    return tuple(x.grad.clone() for x in xs)\n", ".grad"),
    ("2.1", "grad_of switches on requires_grad and returns the caller's accumulating .grad",
     "def grad_of(f, *xs):\n    for x in xs:\n        x.requires_grad_(True)\n"
     "    f(*xs).backward()\n    return tuple(x.grad for x in xs)\n", ".grad"),
    ("2.2", "forward differences",
     "def numerical_grad(f, x, eps=1e-6):\n    x = x.detach().double()\n    g = torch.zeros_like(x)\n"
     "    base = float(f(x))\n    for i in range(x.numel()):\n        e = torch.zeros_like(x).view(-1)\n"
     "        e[i] = eps\n        g.view(-1)[i] = (float(f(x + e.view_as(x))) - base) / eps\n    return g\n",
     "forward difference"),
    ("2.2", "central differences in float32",
     "def numerical_grad(f, x, eps=1e-6):\n    x = x.detach().clone()\n    g = torch.zeros_like(x)\n"
     "    for i in range(x.numel()):\n        e = torch.zeros_like(x).view(-1)\n        e[i] = eps\n"
     "        e = e.view_as(x)\n        g.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * eps)\n    return g.double()\n",
     "float64"),
    ("2.1", "grad_of through backward and .grad, tidied up afterwards (a non-leaf's .grad stays None)",
     "def grad_of(f, *xs):\n    was = [x.requires_grad for x in xs]\n    for x in xs:\n"
     "        if not x.requires_grad:\n            x.requires_grad_()\n    f(*xs).backward()\n"
     "    grads = tuple(torch.zeros_like(x) if x.grad is None else x.grad.clone() for x in xs)\n"
     "    for x, r in zip(xs, was):\n        if x.is_leaf:\n            x.grad = None\n            x.requires_grad_(r)\n"
     "    return grads\n", ""),
    ("2.2", "numerical_grad reshapes with view(*x.shape): a 0-d x has no sizes to unpack",
     "def numerical_grad(f, x, eps=1e-6):\n    flat = x.detach().double().flatten().clone()\n"
     "    grad = torch.zeros_like(flat)\n    with torch.no_grad():\n        for i in range(flat.numel()):\n"
     "            old = flat[i].item()\n            flat[i] = old + eps\n            up = float(f(flat.view(x.shape)))\n"
     "            flat[i] = old - eps\n            down = float(f(flat.view(x.shape)))\n            flat[i] = old\n"
     "            grad[i] = (up - down) / (2 * eps)\n    return grad.view(*x.shape)\n", "view"),
    # The instructor's own first solution: clone() keeps a transposed x's strides, so view(-1) refuses.
    ("2.2", "numerical_grad flattens a clone with view(-1): a non-contiguous x cannot be viewed flat",
     "def numerical_grad(f, x, eps=1e-6):\n    x64 = x.detach().to(torch.float64).clone()\n"
     "    grad = torch.zeros_like(x64)\n    flat, gflat = x64.view(-1), grad.view(-1)\n    with torch.no_grad():\n"
     "        for i in range(flat.numel()):\n            old = flat[i].item()\n            flat[i] = old + eps\n"
     "            up = float(f(x64))\n            flat[i] = old - eps\n            down = float(f(x64))\n"
     "            flat[i] = old\n            gflat[i] = (up - down) / (2 * eps)\n    return grad\n", "view"),
    ("2.3", "vjp ignores v",
     "def vjp(func, inputs, v):\n    x = inputs.detach().requires_grad_()\n    y = func(x)\n"
     "    (g,) = torch.autograd.grad(y.sum(), x)\n    return y.detach(), g\n", "v = ones"),
    ("2.3", "vjp returns only the product",
     "def vjp(func, inputs, v):\n    x = inputs.detach().requires_grad_()\n    y = func(x)\n"
     "    return torch.autograd.grad(y, x, v)[0]\n", "pair"),
    ("2.4", "jacobian transposed",
     "def jacobian(func, inputs):\n    return torch.autograd.functional.jacobian(func, inputs).T\n", "transposed"),
    ("2.5", "gradient descent never zeroes the gradient",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.detach().clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    for _ in range(steps):\n        loss_fn(w).backward()\n"
     "        with torch.no_grad():\n            w -= lr * w.grad\n        out.append(w.detach().clone())\n"
     "    return torch.stack(out)\n", "accumulating"),
    ("2.5", "gradient descent replaces the leaf",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.detach().clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    for _ in range(steps):\n        loss_fn(w).backward()\n"
     "        w = w - lr * w.grad\n        out.append(w.detach().clone())\n    return torch.stack(out)\n", "leaf"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("2.1", "grad_of with torch.func.grad",
     "def grad_of(f, *xs):\n    return torch.func.grad(f, argnums=tuple(range(len(xs))))(*[x.detach() for x in xs])\n"),
    ("2.3", "vjp with torch.func.vjp",
     "def vjp(func, inputs, v):\n    y, pull = torch.func.vjp(func, inputs.detach())\n    return y.detach(), pull(v)[0]\n"),
    ("2.4", "jacobian with torch.func.jacrev",
     "def jacobian(func, inputs):\n    return torch.func.jacrev(func)(inputs.detach())\n"),
]
