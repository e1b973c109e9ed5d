"""Realistic wrong answers to lesson 04_inplace (course_pkg/inplace.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/inplace.py, a word the message must say).
"""
LESSON = "04_inplace"
MODULE = "inplace"

WRONG = [
    ("4.1", "fixed with .data: silently wrong gradient",
     "def silu(x):\n    s = torch.sigmoid(x)\n    s.data *= x.data\n    return s\n", ".data"),
    ("4.1", "fixed with detach(): the x factor is lost",
     "def silu(x):\n    return torch.sigmoid(x) * x.detach()\n", "detach"),
    ("4.1", "the original, still in place",
     "def silu(x):\n    s = torch.sigmoid(x)\n    s *= x\n    return s\n", "inplace operation"),
    ("4.2", "rewrite that still mutates its input",
     "def standardize(x):\n    x -= x.mean(dim=-1, keepdim=True)\n    return x / x.std(dim=-1, keepdim=True)\n",
     "in place"),
    ("4.2", "std detached",
     "def standardize(x):\n    c = x - x.mean(dim=-1, keepdim=True)\n    return c / c.std(dim=-1, keepdim=True).detach()\n",
     "constant"),
    ("4.3", "softmax fixed with .data",
     "def softmax_layer(x, w):\n    e = (x @ w).exp()\n    e.data /= e.data.sum(dim=-1, keepdim=True)\n    return e\n",
     "gradient"),
    ("4.4", "rebinds instead of writing in place",
     "def reset_leaf_(w, value):\n    w = torch.full_like(w, 0.0).add(value).requires_grad_()\n    return w\n",
     "rebinds"),
    ("4.4", "loses requires_grad",
     "def reset_leaf_(w, value):\n    w.requires_grad_(False)\n    w.copy_(torch.as_tensor(value, dtype=w.dtype).expand_as(w))\n"
     "    return w\n", "requires grad"),
    ("4.4", "writes through .data: version unchanged",
     "def reset_leaf_(w, value):\n    w.data.copy_(torch.as_tensor(value, dtype=w.dtype).expand_as(w))\n    return w\n",
     "_version"),
    ("4.5", "ReluInplace without mark_dirty",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        x.clamp_(min=0)\n        ctx.save_for_backward(x)\n        return x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n        return g * (y > 0)\n",
     "mark_dirty"),
    ("4.5", "ReluInplace bumping the version twice",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        x.clamp_(min=0)\n        x.mul_(1.0)\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(x)\n"
     "        return x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n        return g * (y > 0)\n",
     "more than once"),
    ("4.2", "an eps added to the std, as LayerNorm does: off where a row's spread is small",
     "def standardize(x):\n    c = x - x.mean(dim=-1, keepdim=True)\n    return c / (c.std(dim=-1, keepdim=True) + 1e-5)\n",
     "eps"),
    ("4.2", "LayerNorm's formula: sqrt(var + eps)",
     "def standardize(x):\n    c = x - x.mean(dim=-1, keepdim=True)\n"
     "    return c / torch.sqrt(c.var(dim=-1, keepdim=True) + 1e-5)\n", "eps"),
    ("4.2", "population std (unbiased=False)",
     "def standardize(x):\n    c = x - x.mean(dim=-1, keepdim=True)\n"
     "    return c / c.std(dim=-1, keepdim=True, unbiased=False)\n", "n - 1"),
    ("4.3", "softmax summed over dim=1: only the last dimension for a 2-D x",
     "def softmax_layer(x, w):\n    e = (x @ w).exp()\n    return e / e.sum(dim=1, keepdim=True)\n", "wrong value"),
    ("4.4", "w[:] = value, as the notebook resets: a 0-d w has no dimension to slice",
     "def reset_leaf_(w, value):\n    with torch.no_grad():\n        w[:] = value\n    return w\n", "0-dim"),
    ("4.4", "reset by arithmetic on the old values: w * 0 is nan where w diverged",
     "def reset_leaf_(w, value):\n    with torch.no_grad():\n        w.mul_(0).add_(value)\n    return w\n", "nan"),
    ("4.4", "torch.tensor(value) is float32: a float64 w gets a rounded number",
     "def reset_leaf_(w, value):\n    with torch.no_grad():\n"
     "        w.copy_(value if isinstance(value, torch.Tensor) else torch.tensor(value))\n    return w\n", "float32"),
    ("4.5", "ReluInplace writing through x.data, with mark_dirty",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        x.data.clamp_(min=0)\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(x)\n        return x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n        return g * (y > 0)\n",
     ".data"),
    ("4.5", "ReluInplace whose backward zeroes grad_output in place (masked assignment)",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        x.clamp_(min=0)\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(x)\n        return x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n        g[y <= 0] = 0\n"
     "        return g\n", "grad_output in place"),
    ("4.5", "ReluInplace whose backward masks grad_output with mul_",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        x.clamp_(min=0)\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(x)\n        return x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n        return g.mul_(y > 0)\n",
     "grad_output in place"),
    ("4.5", "ReluInplace through x.view(-1): fails on a non-contiguous x",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        flat = x.view(-1)\n        flat[flat < 0] = 0\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(x)\n"
     "        return x\n    @staticmethod\n    def backward(ctx, g):\n        (y,) = ctx.saved_tensors\n"
     "        return g * (y > 0)\n", "contiguous"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("4.1", "silu as x / (1 + exp(-x))", "def silu(x):\n    return x / (1 + torch.exp(-x))\n"),
    ("4.3", "softmax_layer through logsumexp",
     "def softmax_layer(x, w):\n    z = x @ w\n    return torch.exp(z - torch.logsumexp(z, dim=-1, keepdim=True))\n"),
    ("4.1", "silu in place on a clone of x", "def silu(x):\n    y = x.clone()\n    y *= torch.sigmoid(x)\n    return y\n"),
    ("4.3", "softmax_layer dividing a clone of exp in place (no shift)",
     "def softmax_layer(x, w):\n    e = (x @ w).exp().clone()\n    e /= e.sum(dim=-1, keepdim=True)\n    return e\n"),
    ("4.4", "reset through w.detach(), which shares w's version counter",
     "def reset_leaf_(w, value):\n    w.detach().copy_(torch.as_tensor(value, dtype=w.dtype))\n    return w\n"),
    ("4.4", "reset by zero_() then add_()",
     "def reset_leaf_(w, value):\n    with torch.no_grad():\n        w.zero_().add_(value)\n    return w\n"),
    ("4.5", "ReluInplace by masked assignment, saving the mask",
     "class ReluInplace(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        mask = x > 0\n        x[~mask] = 0\n        ctx.mark_dirty(x)\n        ctx.save_for_backward(mask)\n"
     "        return x\n    @staticmethod\n    def backward(ctx, g):\n        (mask,) = ctx.saved_tensors\n"
     "        return g * mask\n"),
]
