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
    ("5.3", "masked_gradient with the mask inverted",
     "def masked_gradient(x, mask):\n    return torch.where(mask, x.detach(), x)\n", "inverted"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("5.1", "straight-through as round(x).detach() + x - x.detach()",
     "def straight_through_round(x):\n    return torch.round(x).detach() + x - x.detach()\n"),
    ("5.3", "masked_gradient with a hook on a clone",
     "def masked_gradient(x, mask):\n    y = x.clone()\n    y.register_hook(lambda g: g * mask)\n    return y\n"),
    ("5.3", "masked_gradient with masked_fill",
     "def masked_gradient(x, mask):\n    return x - (x - x.detach()).masked_fill(mask, 0)\n"),
]
