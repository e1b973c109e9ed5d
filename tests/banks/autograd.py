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
    ("2.1", "grad_of differentiates one x at a time through the same graph, without retain_graph",
     "def grad_of(f, *xs):\n    leaves = [x.detach().requires_grad_() for x in xs]\n    out = f(*leaves)\n"
     "    grads = []\n    for leaf in leaves:\n        (g,) = torch.autograd.grad(out, leaf, allow_unused=True)\n"
     "        grads.append(torch.zeros_like(leaf) if g is None else g)\n    return tuple(grads)\n", "in one call"),
    ("2.1", "grad_of under torch.no_grad(), so that the gradients come back without a graph",
     "def grad_of(f, *xs):\n    with torch.no_grad():\n        leaves = [x.detach().requires_grad_(True) for x in xs]\n"
     "        grads = torch.autograd.grad(f(*leaves), leaves, allow_unused=True)\n"
     "    return tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))\n", "grad mode on"),
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
    ("2.4", "jacobian walks the graph once per row without retain_graph",
     "def jacobian(func, inputs):\n    x = inputs.detach().requires_grad_()\n    y = func(x)\n"
     "    rows = [torch.autograd.grad(y.reshape(-1)[i], x)[0] for i in range(y.numel())]\n"
     "    return torch.stack(rows).reshape(y.shape + x.shape)\n", "one more backward pass"),
    ("2.5", "gradient descent never zeroes the gradient",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.detach().clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    for _ in range(steps):\n        loss_fn(w).backward()\n"
     "        with torch.no_grad():\n            w -= lr * w.grad\n        out.append(w.detach().clone())\n"
     "    return torch.stack(out)\n", "accumulating"),
    ("2.1", "grad_of makes an unused input's zeros with torch.zeros(x.shape): float32 whatever x is",
     "def grad_of(f, *xs):\n    leaves = [x.detach().requires_grad_(True) for x in xs]\n"
     "    grads = torch.autograd.grad(f(*leaves), leaves, allow_unused=True)\n"
     "    return tuple(torch.zeros(x.shape) if g is None else g for x, g in zip(leaves, grads))\n", "zeros_like"),
    ("2.1", "grad_of returns a list comprehension where a tuple is asked for",
     "def grad_of(f, *xs):\n    leaves = [x.detach().requires_grad_(True) for x in xs]\n"
     "    grads = torch.autograd.grad(f(*leaves), leaves, allow_unused=True)\n"
     "    return [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]\n", "tuple"),
    ("2.2", "numerical_grad leaves each element at x - eps instead of putting it back",
     "def numerical_grad(f, x, eps=1e-6):\n    x64 = x.detach().to(torch.float64).contiguous().clone()\n"
     "    grad = torch.zeros_like(x64)\n    flat, gflat = x64.view(-1), grad.view(-1)\n    with torch.no_grad():\n"
     "        for i in range(flat.numel()):\n            old = flat[i].item()\n            flat[i] = old + eps\n"
     "            up = float(f(x64))\n            flat[i] = old - eps\n            down = float(f(x64))\n"
     "            gflat[i] = (up - down) / (2 * eps)\n    return grad\n", "put back"),
    ("2.2", "numerical_grad writes float64 differences into a float32 torch.zeros(n), then returns .double()",
     "def numerical_grad(f, x, eps=1e-6):\n    x64 = x.detach().double().flatten()\n    grad = torch.zeros(x64.numel())\n"
     "    for i in range(x64.numel()):\n        e = torch.zeros_like(x64)\n        e[i] = eps\n"
     "        up, down = f((x64 + e).reshape(x.shape)), f((x64 - e).reshape(x.shape))\n"
     "        grad[i] = (float(up) - float(down)) / (2 * eps)\n    return grad.reshape(x.shape).double()\n", "float32"),
    ("2.5", "gradient descent starts from w0.clone().requires_grad_(): not a leaf when w0 requires grad",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    for _ in range(steps):\n        loss_fn(w).backward()\n"
     "        with torch.no_grad():\n            w -= lr * w.grad\n        w.grad = None\n"
     "        out.append(w.detach().clone())\n    return torch.stack(out)\n", "is not a leaf"),
    ("2.5", "gradient descent computes the loss once, before the loop, and backs it up with retain_graph=True",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.detach().clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    loss = loss_fn(w)\n    for _ in range(steps):\n"
     "        loss.backward(retain_graph=True)\n        with torch.no_grad():\n            w -= lr * w.grad\n"
     "        w.grad = None\n        out.append(w.detach().clone())\n    return torch.stack(out)\n", "inside the loop"),
    ("2.5", "gradient descent runs the whole loop under torch.no_grad()",
     "def gradient_descent(loss_fn, w0, lr, steps):\n    w = w0.detach().clone().requires_grad_()\n"
     "    out = [w.detach().clone()]\n    with torch.no_grad():\n        for _ in range(steps):\n"
     "            loss_fn(w).backward()\n            w -= lr * w.grad\n            w.grad = None\n"
     "            out.append(w.detach().clone())\n    return torch.stack(out)\n", "grad mode on"),
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
    ("2.1", "grad_of through backward() on detached leaves, zeros where .grad stays None",
     "def grad_of(f, *xs):\n    leaves = [x.detach().requires_grad_() for x in xs]\n    f(*leaves).backward()\n"
     "    return tuple(torch.zeros_like(l) if l.grad is None else l.grad for l in leaves)\n"),
    ("2.1", "grad_of that detaches only the inputs that do not require grad",
     "def grad_of(f, *xs):\n    leaves = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]\n"
     "    grads = torch.autograd.grad(f(*leaves), leaves, allow_unused=True, materialize_grads=True)\n"
     "    return tuple(grads)\n"),
    ("2.2", "numerical_grad indexing a float64 clone in its own layout, one tuple index at a time",
     "import itertools\n\n\ndef numerical_grad(f, x, eps=1e-6):\n    xt = x.detach().double().clone()\n"
     "    out = torch.zeros(xt.shape, dtype=torch.float64)\n    with torch.no_grad():\n"
     "        for idx in itertools.product(*[range(s) for s in xt.shape]):\n            old = xt[idx].item()\n"
     "            xt[idx] = old + eps\n            up = float(f(xt))\n            xt[idx] = old - eps\n"
     "            down = float(f(xt))\n            xt[idx] = old\n            out[idx] = (up - down) / (2 * eps)\n"
     "    return out\n"),
    ("2.2", "numerical_grad stepping by eps * torch.eye(n)[i] (a float32 row: the step is eps rounded to float32)",
     "def numerical_grad(f, x, eps=1e-6):\n    x64 = x.detach().double().flatten()\n    eye = torch.eye(x64.numel())\n"
     "    grad = torch.zeros_like(x64)\n    for i in range(x64.numel()):\n        e = eps * eye[i]\n"
     "        grad[i] = (float(f((x64 + e).reshape(x.shape))) - float(f((x64 - e).reshape(x.shape)))) / (2 * eps)\n"
     "    return grad.reshape(x.shape)\n"),
    ("2.3", "vjp through y.backward(v) on a detached copy",
     "def vjp(func, inputs, v):\n    x = inputs.detach().requires_grad_()\n    y = func(x)\n    y.backward(v)\n"
     "    return y.detach(), x.grad\n"),
    ("2.4", "jacobian in one batched call (is_grads_batched)",
     "def jacobian(func, inputs):\n    x = inputs.detach().requires_grad_()\n    y = func(x)\n"
     "    eye = torch.eye(y.numel(), dtype=y.dtype, device=y.device).reshape(y.numel(), *y.shape)\n"
     "    (j,) = torch.autograd.grad(y, x, eye, is_grads_batched=True)\n    return j.reshape(y.shape + x.shape)\n"),
    ("2.5", "gradient descent copying w0 with torch.tensor(w0.tolist()) and zeroing before backward",
     "def gradient_descent(loss_fn, w0, lr, steps):\n"
     "    w = torch.tensor(w0.tolist(), dtype=w0.dtype, device=w0.device, requires_grad=True)\n"
     "    out = [w.detach().clone()]\n    for _ in range(steps):\n        if w.grad is not None:\n"
     "            w.grad.zero_()\n        loss_fn(w).backward()\n        with torch.no_grad():\n"
     "            w -= lr * w.grad\n        out.append(w.detach().clone())\n    return torch.stack(out)\n"),
]
