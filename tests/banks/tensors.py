"""Realistic wrong answers to lesson 01_tensors (course_pkg/tensors.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/tensors.py, a word the message must say).
"""
LESSON = "01_tensors"
MODULE = "tensors"

WRONG = [
    ("1.1", "trunc via floor", "def trunc(x):\n    return torch.floor(x)\n", "toward zero"),
    ("1.2", "frac as x - floor(x)", "def frac(x):\n    return x - torch.floor(x)\n", "sign"),
    ("1.2", "frac that changes its input", "def frac(x):\n    return x.sub_(torch.where(x >= 0, torch.floor(x), torch.ceil(x)))\n", "in place"),
    ("1.3", "fix via floor", "def fix(x):\n    return torch.floor(x)\n", "toward zero"),
    ("1.4", "ties rounded up", "def round_half_even(x):\n    return torch.floor(x + 0.5)\n", "even neighbour"),
    ("1.4", "ties rounded away from zero",
     "def round_half_even(x):\n    return torch.sign(x) * torch.floor(x.abs() + 0.5)\n", "even neighbour"),
    ("1.4", "a float64 result for float32 input",
     "_right = round_half_even\ndef round_half_even(x):\n    return _right(x.double())\n", "dtype"),
    ("1.4", "delegates to torch.round", "def round_half_even(x):\n    return torch.round(x)\n", "not to use"),
    ("1.4", "delegates to the builtin round()",
     "def round_half_even(x):\n    return x.new_tensor([round(v) for v in x.reshape(-1).tolist()]).reshape(x.shape)\n",
     "not to use"),
    ("1.5", "% confused with fmod", "def py_remainder(a, b):\n    return torch.fmod(a, b)\n", "fmod"),
    ("1.8", "matmul that only handles 2-D",
     "def matmul(a, b):\n    return (a.unsqueeze(-1) * b.unsqueeze(0)).sum(1)\n", ""),
    ("1.7", "norm ignoring keepdim",
     "_right = vector_norm\ndef vector_norm(x, ord=2, dim=None, keepdim=False):\n    return _right(x, ord, dim, False)\n",
     "keepdim"),
    ("1.7", "inf-norm without abs",
     "_right = vector_norm\ndef vector_norm(x, ord=2, dim=None, keepdim=False):\n"
     "    if ord == float('inf'):\n        dims = tuple(range(x.dim())) if dim is None else dim\n"
     "        return x.amax(dim=dims, keepdim=keepdim)\n    return _right(x, ord, dim, keepdim)\n", "max abs error"),
    ("1.9", "gather along dim 0 whatever dim says",
     "_right = gather\ndef gather(input, dim, index):\n    return _right(input, 0, index.clamp(max=input.shape[0] - 1))\n", ""),
    ("1.6", "histc off by one at the top edge",
     "_right = histc\ndef histc(input, bins=100, min=0, max=0):\n"
     "    if min != max:\n        input = input[input < max]\n    return _right(input, bins, min, max)\n", "top edge"),
    ("1.7", "ord 0 counts a nan as zero (abs() > 0 is False for nan)",
     "_right = vector_norm\ndef vector_norm(x, ord=2, dim=None, keepdim=False):\n"
     "    if ord == 0:\n        dims = tuple(range(x.dim())) if dim is None else dim\n"
     "        return (x.abs() > 0).sum(dim=dims, keepdim=keepdim).to(x.dtype)\n    return _right(x, ord, dim, keepdim)\n",
     "nan"),
    ("1.9", "gather as a one-hot product summed over dim (inf·0 is nan, −0.0 + 0 is +0.0)",
     "def gather(input, dim, index):\n    dim = dim % index.dim()\n    src = input\n"
     "    for d in range(index.dim()):\n        if d != dim:\n            src = src.narrow(d, 0, index.shape[d])\n"
     "    onehot = (index.unsqueeze(-1) == torch.arange(src.shape[dim], device=index.device)).to(src.dtype)\n"
     "    return (src.movedim(dim, -1).unsqueeze(dim) * onehot).sum(-1)\n", "nan"),
    ("1.6", "histc keeps nan: 'not outside' written as ~((x < min) | (x > max))",
     "def histc(input, bins=100, min=0, max=0):\n    lo, hi = float(min), float(max)\n"
     "    if lo == hi and input.numel() > 0:\n        lo, hi = input.min().item(), input.max().item()\n"
     "    if lo == hi:\n        lo, hi = lo - 1, hi + 1\n    inside = input[~((input < lo) | (input > hi))]\n"
     "    index = ((inside - lo) * bins / (hi - lo)).long().clamp(0, bins - 1)\n"
     "    return torch.bincount(index, minlength=bins).to(input.dtype)\n", ""),
    ("1.4", "floor(x + 0.5) with ties fixed: x + 0.5 is itself rounded (odd integers beyond 2**23)",
     "def round_half_even(x):\n    r = torch.floor(x + 0.5)\n    tie = (r - x) == 0.5\n"
     "    return torch.where(tie & (torch.remainder(r, 2) == 1), r - 1, r)\n", "rounded before floor"),
    ("1.4", "away from zero by floor(|x| + 0.5), ties fixed: 0.49999997 goes to 1",
     "def round_half_even(x):\n    r = torch.sign(x) * torch.floor(x.abs() + 0.5)\n"
     "    tie = (x.abs() - torch.floor(x.abs())) == 0.5\n"
     "    return torch.where(tie & (torch.remainder(r, 2) != 0), r - torch.sign(x), r)\n", "rounded before floor"),
    ("1.6", "histc dividing before multiplying: other bins on the edges",
     "def histc(input, bins=100, min=0, max=0):\n    lo, hi = float(min), float(max)\n"
     "    if lo == hi and input.numel() > 0:\n        lo, hi = input.min().item(), input.max().item()\n"
     "    if lo == hi:\n        lo, hi = lo - 1, hi + 1\n    inside = input[(input >= lo) & (input <= hi)]\n"
     "    index = ((inside - lo) / (hi - lo) * bins).long().clamp(max=bins - 1)\n"
     "    return torch.bincount(index, minlength=bins).to(input.dtype)\n", "order"),
    ("1.6", "histc by bucketize against linspace edges",
     "def histc(input, bins=100, min=0, max=0):\n    lo, hi = float(min), float(max)\n"
     "    if lo == hi and input.numel() > 0:\n        lo, hi = input.min().item(), input.max().item()\n"
     "    if lo == hi:\n        lo, hi = lo - 1, hi + 1\n    inside = input[(input >= lo) & (input <= hi)]\n"
     "    edges = torch.linspace(lo, hi, bins + 1, dtype=input.dtype, device=input.device)\n"
     "    index = (torch.bucketize(inside, edges, right=True) - 1).clamp(0, bins - 1)\n"
     "    return torch.bincount(index, minlength=bins).to(input.dtype)\n", "max abs error"),
    ("1.10", "NHWC by reshape", "def to_nhwc(x):\n    n, c, h, w = x.shape\n    return x.reshape(n, h, w, c)\n",
     "permute"),
    ("1.11", "NCHW by reshape", "def to_nchw(x):\n    n, h, w, c = x.shape\n    return x.reshape(n, c, h, w)\n",
     "permute"),
]

# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("1.4", "round_half_even deciding from rest = x - floor(x), parity by halving",
     "def round_half_even(x):\n    down = torch.floor(x)\n    rest = x - down\n"
     "    odd = torch.floor(down / 2) * 2 != down\n"
     "    return torch.where((rest > 0.5) | ((rest == 0.5) & odd), down + 1, down)\n"),
    ("1.7", "vector_norm with sqrt for ord 2 and a mask count for ord 0",
     "_right = vector_norm\ndef vector_norm(x, ord=2, dim=None, keepdim=False):\n"
     "    dims = tuple(range(x.dim())) if dim is None else dim\n"
     "    if ord == 2:\n        return (x * x).sum(dim=dims, keepdim=keepdim).sqrt()\n"
     "    if ord == 0:\n        return torch.ne(x, 0).to(x.dtype).sum(dim=dims, keepdim=keepdim)\n"
     "    return _right(x, ord, dim, keepdim)\n"),
    ("1.9", "gather through flat positions (strides of a contiguous copy) and torch.take",
     "def gather(input, dim, index):\n    dim = dim % index.dim()\n    src = input.contiguous()\n"
     "    flat = torch.zeros(index.shape, dtype=torch.long, device=index.device)\n"
     "    for d in range(index.dim()):\n        shape = [1] * index.dim()\n        shape[d] = index.shape[d]\n"
     "        pos = index if d == dim else torch.arange(index.shape[d], device=index.device).view(shape)\n"
     "        flat = flat + pos * src.stride(d)\n    return torch.take(src, flat)\n"),
]
