"""Realistic wrong answers to lesson 05_detach (course_pkg/detach.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/detach.py, a word the message must say).
"""
LESSON = "05_detach"
MODULE = "detach"

WRONG = [
    ("5.1", "straight-through with zero gradient",
     "def straight_through_round(x):\n    return torch.round(x)\n", "zero everywhere"),
    ("5.1", "straight-through that cuts the graph",
     "def straight_through_round(x):\n    return torch.round(x).detach()\n", "does not require grad"),
    ("5.2", "to_numpy that fails on CUDA (no .cpu())",
     "def to_numpy(t):\n    return t.detach().numpy()\n", "CUDA"),
    ("5.2", "to_numpy that keeps the graph",
     "def to_numpy(t):\n    return t.cpu()\n", "keeps the graph"),
    ("5.2", "to_numpy without detach",
     "def to_numpy(t):\n    return t.cpu().numpy()\n", "detach"),
    ("5.3", "masked_gradient masking the value",
     "def masked_gradient(x, mask):\n    return x * mask\n", "masked the value"),
    ("5.3", "masked_gradient hooks the caller's x and returns it: every other use of x is masked too",
     "def masked_gradient(x, mask):\n    x.register_hook(lambda g: g * mask)\n    return x\n", "hook"),
    ("5.3", "masked_gradient hooks the caller's x and returns a clone",
     "def masked_gradient(x, mask):\n    x.register_hook(lambda g: g * mask)\n    return x.clone()\n", "hook"),
    ("5.3", "masked_gradient hooks a clone but masks the incoming gradient in place",
     "def masked_gradient(x, mask):\n    y = x.clone()\n    y.register_hook(lambda g: g.mul_(mask))\n    return y\n",
     "in place"),
    ("5.3", "masked_gradient as an autograd.Function whose backward masks grad_output in place",
     "class _Masked(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x, mask):\n"
     "        ctx.save_for_backward(mask)\n        return x.clone()\n\n    @staticmethod\n"
     "    def backward(ctx, grad):\n        (mask,) = ctx.saved_tensors\n        return grad.mul_(mask), None\n\n\n"
     "def masked_gradient(x, mask):\n    return _Masked.apply(x, mask)\n", "in place"),
    ("5.3", "masked_gradient with the mask inverted",
     "def masked_gradient(x, mask):\n    return torch.where(mask, x.detach(), x)\n", "inverted"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("5.1", "straight-through as round(x).detach() + x - x.detach()",
     "def straight_through_round(x):\n    return torch.round(x).detach() + x - x.detach()\n"),
    ("5.3", "masked_gradient with a hook on a clone",
     "def masked_gradient(x, mask):\n    y = x.clone()\n    y.register_hook(lambda g: g * mask)\n    return y\n"),
    ("5.1", "straight-through as an autograd.Function",
     "class _RoundSTE(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
     "        return torch.round(x)\n\n    @staticmethod\n    def backward(ctx, grad):\n        return grad\n\n\n"
     "def straight_through_round(x):\n    return _RoundSTE.apply(x)\n"),
    ("5.1", "straight-through as a clone whose values are rounded under no_grad",
     "def straight_through_round(x):\n    y = x.clone()\n    with torch.no_grad():\n        y.copy_(torch.round(x))\n"
     "    return y\n"),
    ("5.2", "to_numpy with numpy(force=True)",
     "def to_numpy(t):\n    return t.numpy(force=True)\n"),
    ("5.2", "to_numpy under torch.no_grad() (numpy() only refuses while grad mode is on)",
     "def to_numpy(t):\n    with torch.no_grad():\n        return t.cpu().numpy()\n"),
    ("5.3", "masked_gradient as x * mask plus the detached rest",
     "def masked_gradient(x, mask):\n    return x * mask + (x * ~mask).detach()\n"),
    ("5.3", "masked_gradient with masked_fill",
     "def masked_gradient(x, mask):\n    return x - (x - x.detach()).masked_fill(mask, 0)\n"),
]
