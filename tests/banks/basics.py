"""Realistic wrong answers to lesson 00_basics (course_pkg/basics.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/basics.py, a word the message must say).
"""
LESSON = "00_basics"
MODULE = "basics"

WRONG = [
    ("0.1", "returns a string", "def pick_device():\n    return 'cuda' if torch.cuda.is_available() else 'cpu'\n",
     "torch.device"),
    ("0.1", "ignores MPS", "def pick_device():\n    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n",
     "mps"),
    ("0.2", "dtype as an object",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['dtype'] = t.dtype\n    return d\n",
     "expected"),
    ("0.2", "shape as a torch.Size list",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['shape'] = list(t.shape)\n    return d\n",
     "expected"),
    ("0.2", "shape as the torch.Size that t.shape is",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['shape'] = t.shape\n    return d\n",
     "tuple(t.shape)"),
    ("0.2", "numel as a 0-d tensor (the product of the shape)",
     "_right = tensor_summary\ndef tensor_summary(t):\n    d = _right(t)\n    d['numel'] = torch.tensor(t.shape).prod()\n"
     "    return d\n", "a plain int"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("0.1", "cuda:0 names the same device as cuda",
     "def pick_device():\n    if torch.cuda.is_available():\n        return torch.device('cuda:0')\n"
     "    if torch.backends.mps.is_available():\n        return torch.device('mps')\n    return torch.device('cpu')\n"),
]
