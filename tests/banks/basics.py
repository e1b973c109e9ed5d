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
]
