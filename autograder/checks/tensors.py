"""Checks for lesson 01 (course_pkg/tensors.py): every reference is the torch builtin itself."""
import torch

from autograder.inputs import INF, extremes, randn, ties
from autograder.spec import CheckList, answer, call

CHECKS = CheckList()


def _rounding_cases(gen, device, name, reference, hints):
    inputs = [ties(gen, device), ties(gen, device, torch.float64),
              randn(gen, 4, 6, device=device, scale=5)[:, ::2],          # non-contiguous
              torch.empty(0, 3, device=device),
              extremes(device), extremes(device, torch.float64),          # ±inf, nan, −0.0, beyond int32
              torch.tensor(-2.5, device=device)]                          # 0-d
    for x in inputs:
        yield call(f"tensors.{name}", x, expect=reference(x), hints=hints(x))


TOWARD_ZERO = "round toward zero: -2.7 → -2 (floor gives -3 for negative numbers)"
FRAC_SIGN = "frac keeps the sign of x: frac(-2.75) = -0.75, not x - floor(x) = 0.25"


@CHECKS.add("1.1", points=1, target="tensors.trunc", forbid=("trunc", "fix"))
def trunc(gen, device):
    yield from _rounding_cases(gen, device, "trunc", torch.trunc, lambda x: [(torch.floor(x), TOWARD_ZERO)])


@CHECKS.add("1.2", points=1, target="tensors.frac", forbid=("frac", "trunc", "fix"))
def frac(gen, device):
    yield from _rounding_cases(gen, device, "frac", torch.frac, lambda x: [(x - torch.floor(x), FRAC_SIGN)])


@CHECKS.add("1.3", points=1, target="tensors.fix", forbid=("fix", "trunc"))
def fix(gen, device):
    yield from _rounding_cases(gen, device, "fix", torch.fix, lambda x: [(torch.floor(x), TOWARD_ZERO)])


TIES_TO_EVEN = "ties go to the even neighbour: 2.5 → 2, 3.5 → 4, -2.5 → -2 (you rounded ties away from zero or up)"


def _round_hints(x):
    return [(torch.floor(x + 0.5), TIES_TO_EVEN),
            (torch.sign(x) * torch.floor(x.abs() + 0.5), TIES_TO_EVEN),
            (torch.floor(x), "that is floor(x): round to the *nearest* integer")]


HALF_ADDED_FIRST = ("x + 0.5 is itself rounded before floor sees it: the largest number below 0.5 plus 0.5 rounds up "
                    "to 1.0, and an odd integer too large for the dtype to hold its .5 (2**23 + 1 in float32) plus 0.5 "
                    "rounds to its even neighbour. Decide from rest = x - floor(x) instead, which is exact")


def _near_half(device, dtype):
    """Just below ±0.5 and ±1.5, and odd integers whose x.5 the dtype cannot hold: where x + 0.5 is rounded."""
    below = torch.nextafter(torch.tensor([0.5, 1.5], dtype=dtype), torch.zeros(2, dtype=dtype))
    odd = 1 / torch.finfo(dtype).eps + torch.tensor([1.0, 3.0, 5.0], dtype=dtype)
    x = torch.cat([below, -below, odd, -odd, torch.tensor([2.5, -3.5, 0.5], dtype=dtype)])
    hints = []
    for y, sign in ((x, 1), (x.abs(), torch.sign(x))):       # floor(x + 0.5), or away from zero; ties then fixed,
        r = torch.floor(y + 0.5)                              # a tie told by r - y or by y - floor(y)
        for tie in ((r - y) == 0.5, (y - torch.floor(y)) == 0.5):
            half_added = torch.where(tie & (torch.remainder(r, 2) == 1), r - 1, r) * sign
            hints.append((half_added.to(device), HALF_ADDED_FIRST))
    return x.to(device), hints


@CHECKS.add("1.4", points=2, target="tensors.round_half_even", forbid=("round",))
def round_half_even(gen, device):
    yield from _rounding_cases(gen, device, "round_half_even", torch.round, _round_hints)
    for dtype in (torch.float32, torch.float64):
        x, hints = _near_half(device, dtype)
        shown = f"round_half_even(tensor({x.tolist()}{', float64' if dtype == torch.float64 else ''}))"
        yield call("tensors.round_half_even", x, expect=torch.round(x), hints=hints + _round_hints(x), shown=shown)


@CHECKS.hidden("1.4", points=1)
def round_half_even_hidden(gen, device):
    ties = (torch.randint(-50, 50, (64,), generator=gen) + 0.5).to(device)
    noise = randn(gen, 64, device=device, scale=30)
    for x in (ties, noise, torch.cat([ties, noise]).to(torch.float64)):
        yield call("tensors.round_half_even", x, expect=torch.round(x), hints=_round_hints(x))


MOD_HINT = ("that is fmod: its sign follows the dividend a. Python's % and torch.remainder follow the divisor b: "
            "-7 % 3 = 2")


def _remainder_cases(gen, device, n):
    a = torch.tensor([-7.0, 7.0, -7.0, 7.0, -6.0, 5.5, -5.5, 0.0], device=device)
    b = torch.tensor([3.0, -3.0, -3.0, 3.0, 3.0, 2.0, 2.0, 3.0], device=device)
    yield a, b
    yield torch.arange(-9, 10, device=device), 4                     # integers and a plain number
    yield extremes(device, torch.float64), 3.0                        # ±inf, nan, −0.0, beyond int32
    yield torch.tensor(-7.0, device=device), torch.tensor(3.0, device=device)   # 0-d
    for _ in range(n):
        yield randn(gen, 5, 6, device=device, scale=10), randn(gen, 6, device=device, scale=3)   # broadcast


def _remainder_case(a, b):
    return call("tensors.py_remainder", a, b, expect=torch.remainder(a, b), atol=1e-5, rtol=1e-6,
                hints=[(torch.fmod(a, b), MOD_HINT)])


@CHECKS.add("1.5", points=2, target="tensors.py_remainder", forbid=("remainder", "%", "__mod__", "__rmod__"))
def py_remainder(gen, device):
    for a, b in _remainder_cases(gen, device, 1):
        yield _remainder_case(a, b)


@CHECKS.hidden("1.5", points=1)
def py_remainder_hidden(gen, device):
    for a, b in list(_remainder_cases(gen, device, 3))[4:]:
        yield _remainder_case(a, b)


TOP_EDGE = "a value exactly equal to max belongs in the last bin (torch.histc's top edge is closed)"


FORMULA_ORDER = ("on a bin edge the order of the arithmetic decides the bin: compute (v - lo) * bins / (hi - lo), "
                 "in that order, as torch does: (v - lo) / (hi - lo) * bins rounds differently")


def _histc_case(x, **kw):
    bins = kw.get("bins", 100)
    hints = []
    lo, hi = float(kw.get("min", 0)), float(kw.get("max", 0))
    if lo != hi:
        half_open = torch.histc(x[x < hi], bins=bins, min=lo, max=hi)
        if not torch.equal(half_open, torch.histc(x, bins=bins, min=lo, max=hi)):
            hints.append((half_open, TOP_EDGE))
        inside = x[(x >= lo) & (x <= hi)]
        divided_first = ((inside - lo) / (hi - lo) * bins).long().clamp(max=bins - 1)
        hints.append((torch.bincount(divided_first, minlength=bins).to(x.dtype), FORMULA_ORDER))
    return call("tensors.histc", x, expect=torch.histc(x, **kw), hints=hints, **kw)


def _on_edges(lo: int, hi: int, bins: int, dtype, device):
    """Every bin edge lo + k·(hi - lo)/bins, as a float64 product and as linspace gives it, in dtype."""
    edges = lo + torch.arange(bins + 1, dtype=torch.float64) * ((hi - lo) / bins)
    x = torch.cat([edges, torch.linspace(lo, hi, bins + 1, dtype=torch.float64)]).to(dtype).to(device)
    return _histc_case(x, bins=bins, min=lo, max=hi)


@CHECKS.add("1.6", points=2, target="tensors.histc", forbid=("histc", "histogram"))
def histc(gen, device):
    grid = torch.arange(0, 4.01, 0.5, device=device)                  # hits every edge, 4.0 the top one
    yield _histc_case(grid, bins=8, min=0, max=4)
    yield _histc_case(torch.tensor([1.0, 2, 1, 4, 2, 2, 6, -1], device=device), bins=4, min=0, max=4)
    yield _histc_case(randn(gen, 200, device=device), bins=10)                  # min = max = 0: data range
    yield _histc_case(torch.full((5,), 3.0, device=device), bins=4)             # all equal: widened by 1
    yield _histc_case(torch.empty(0, device=device), bins=5)
    yield _histc_case(randn(gen, 50, device=device, dtype=torch.float64), bins=7, min=-1, max=1)
    yield _histc_case(extremes(device), bins=4, min=-4e9, max=4e9)     # ±inf and nan lie outside any range
    yield _on_edges(-2, 5, 13, torch.float32, device)
    yield _on_edges(-3, 3, 10, torch.float64, device)


@CHECKS.hidden("1.6", points=1)
def histc_hidden(gen, device):
    x = torch.randint(-8, 9, (300,), generator=gen).to(torch.float32).to(device) / 2
    yield _histc_case(x, bins=8, min=-2, max=2)
    yield _histc_case(randn(gen, 500, device=device, scale=3), bins=13)
    yield _histc_case(extremes(device, torch.float64), bins=5, min=-3e9, max=2.0 ** 40 + 1)
    lo, span, bins = (int(v) for v in torch.randint(1, 16, (3,), generator=gen))
    for dtype in (torch.float32, torch.float64):
        yield _on_edges(-lo, span - lo, bins + 2, dtype, device)


NORM_CASES = [dict(), dict(ord=1), dict(ord=INF), dict(ord=-INF), dict(ord=0), dict(ord=3),
              dict(ord=0.5), dict(dim=1), dict(dim=-1, keepdim=True), dict(dim=(0, 2)),
              dict(ord=1, dim=(0, 2), keepdim=True), dict(keepdim=True)]


def _norm_case(x, kw):
    hints = []
    if kw.get("keepdim") and "dim" in kw:
        hints.append((torch.linalg.vector_norm(x, **{**kw, "keepdim": False}),
                      "keepdim=True keeps each reduced dimension with size 1"))
    return call("tensors.vector_norm", x, expect=torch.linalg.vector_norm(x, **kw), atol=1e-5, rtol=1e-5,
                hints=hints, **kw)


@CHECKS.add("1.7", points=2, target="tensors.vector_norm", forbid=("norm", "linalg_vector_norm", "vector_norm"))
def vector_norm(gen, device):
    x = randn(gen, 3, 4, 5, device=device)
    x[0, 0, :2] = 0
    for kw in NORM_CASES:
        yield _norm_case(x, kw)
    yield _norm_case(randn(gen, 4, 6, device=device, dtype=torch.float64)[:, ::3], dict(dim=0))
    yield _norm_case(torch.empty(0, device=device), dict())
    signs = torch.tensor([[-5.0, 1.0, 2.0], [0.5, -0.1, 3.0]], device=device)   # the extremes are negative
    yield _norm_case(signs, dict(ord=INF, dim=1))
    yield _norm_case(signs, dict(ord=-INF, dim=1))
    for kw in (dict(dim=1), dict(ord=0, dim=1), dict(ord=-INF, dim=1)):
        yield _norm_case(_norm_extremes(device), kw)


def _norm_extremes(device, dtype=torch.float32):
    """Rows holding ±inf, nan, only (−)zeros, and magnitudes beyond int32 (whose squares still fit)."""
    return torch.tensor([[INF, 1, -2, 0], [float("nan"), 1, 2, 3], [-0.0, -0.0, 0, -0.0], [3e9, -4e9, 0, 0],
                         [-INF, 2, 3, 0.5]], dtype=dtype, device=device)


@CHECKS.hidden("1.7", points=1)
def vector_norm_hidden(gen, device):
    x = randn(gen, 2, 3, 4, 2, device=device, scale=4)
    for kw in (dict(ord=2.5, dim=(1, 3), keepdim=True), dict(ord=INF, dim=-2), dict(ord=1, dim=(0, -1))):
        yield _norm_case(x, kw)
    for kw in (dict(dim=1), dict(ord=0, dim=1), dict(ord=INF, dim=1), dict(ord=1, dim=1)):
        yield _norm_case(_norm_extremes(device, torch.float64), kw)


MATMUL_FORBID = ("matmul", "mm", "bmm", "mv", "dot", "vdot", "einsum", "tensordot", "inner", "addmm",
                 "addmv", "baddbmm", "addbmm", "linear", "@", "__matmul__", "__rmatmul__")
MATMUL_SHAPES = [((3,), (3,)), ((4, 3), (3, 5)), ((3,), (3, 5)), ((4, 3), (3,)), ((6, 4, 3), (6, 3, 5)),
                 ((6, 4, 3), (3, 5)), ((3,), (6, 3, 5)), ((6, 4, 3), (3,)), ((2, 1, 4, 3), (5, 3, 2)),
                 ((0, 3), (3, 2)), ((4, 0), (0, 2))]


def _matmul_case(a, b):
    hints = []
    if a.dim() >= 2 and a.shape == b.shape and a.shape[-1] == a.shape[-2]:
        hints.append((a * b, "that is the elementwise product a * b, not the matrix product"))
    return call("tensors.matmul", a, b, expect=torch.matmul(a, b), atol=1e-4, rtol=1e-4, hints=hints,
                timeout_s=20)


@CHECKS.add("1.8", points=3, target="tensors.matmul", forbid=MATMUL_FORBID)
def matmul(gen, device):
    for sa, sb in MATMUL_SHAPES:
        yield _matmul_case(randn(gen, *sa, device=device), randn(gen, *sb, device=device))
    wide = randn(gen, 5, 4, device=device)
    yield _matmul_case(wide.t(), randn(gen, 5, 3, device=device))                 # non-contiguous
    ints = torch.randint(-5, 5, (3, 4), generator=gen).to(device)
    yield _matmul_case(ints, torch.randint(-5, 5, (4, 2), generator=gen).to(device))
    yield _matmul_case(randn(gen, 3, 3, device=device, dtype=torch.float64), randn(gen, 3, 3, device=device,
                                                                                   dtype=torch.float64))


@CHECKS.hidden("1.8", points=1)
def matmul_hidden(gen, device):
    for _ in range(4):
        batch = tuple(int(s) for s in torch.randint(1, 4, (int(torch.randint(0, 3, (1,), generator=gen)),),
                                                    generator=gen))
        n, k, m = (int(s) for s in torch.randint(1, 7, (3,), generator=gen))
        yield _matmul_case(randn(gen, *batch, n, k, device=device), randn(gen, k, m, device=device))
        yield _matmul_case(randn(gen, k, device=device), randn(gen, *batch, k, m, device=device))


def _gather_case(inp, dim, index):
    return call("tensors.gather", inp, dim, index, expect=torch.gather(inp, dim, index))


@CHECKS.add("1.9", points=2, target="tensors.gather", forbid=("gather", "take_along_dim"))
def gather(gen, device):
    inp = randn(gen, 4, 5, device=device)
    yield _gather_case(inp, 0, torch.randint(0, 4, (3, 5), generator=gen).to(device))
    yield _gather_case(inp, 1, torch.randint(0, 5, (4, 2), generator=gen).to(device))
    yield _gather_case(inp, -1, torch.randint(0, 5, (2, 3), generator=gen).to(device))   # smaller than input
    cube = randn(gen, 3, 4, 5, device=device)
    yield _gather_case(cube, 1, torch.randint(0, 4, (3, 6, 5), generator=gen).to(device))
    yield _gather_case(cube, 2, torch.empty(3, 4, 0, dtype=torch.long, device=device))
    yield _gather_case(extremes(device).view(3, 4), 1, torch.randint(0, 4, (3, 6), generator=gen).to(device))


@CHECKS.hidden("1.9", points=1)
def gather_hidden(gen, device):
    inp = randn(gen, 5, 3, 4, device=device)
    for dim in (0, 1, 2, -2):
        size = inp.shape[dim]
        yield _gather_case(inp, dim, torch.randint(0, size, (2, 3, 4), generator=gen).to(device))
    yield _gather_case(extremes(device, torch.float64).view(4, 3), 0,
                       torch.randint(0, 4, (5, 3), generator=gen).to(device))


@CHECKS.add("1.10", points=1, target="tensors.to_nhwc")
def to_nhwc(gen, device):
    x = randn(gen, 2, 3, 4, 5, device=device)
    yield call("tensors.to_nhwc", x, expect=x.permute(0, 2, 3, 1),
               hints=[(x.reshape(2, 4, 5, 3), "reshape keeps the memory order; moving channels last needs a "
                                              "permutation of the dimensions (permute), not a reshape")])
    for other in (torch.arange(24, device=device).reshape(1, 2, 3, 4),                  # integer
                  randn(gen, 3, 2, 2, 3, device=device, dtype=torch.float64).transpose(2, 3)):   # non-contiguous
        yield call("tensors.to_nhwc", other, expect=other.permute(0, 2, 3, 1))


@CHECKS.add("1.11", points=1, target="tensors.to_nchw")
def to_nchw(gen, device):
    x = randn(gen, 2, 4, 5, 3, device=device)
    yield call("tensors.to_nchw", x, expect=x.permute(0, 3, 1, 2),
               hints=[(x.reshape(2, 3, 4, 5), "reshape keeps the memory order; use permute")])
    for other in (torch.arange(24, device=device).reshape(1, 3, 4, 2),
                  randn(gen, 2, 3, 3, 4, device=device, dtype=torch.float64).transpose(1, 2)):
        yield call("tensors.to_nchw", other, expect=other.permute(0, 3, 1, 2))



# In-notebook answer cells of lessons/01_tensors: each expectation is computed here with torch.
LESSON = "01_tensors"


@CHECKS.answer("1.a")
def answer_ties(gen, device):
    x = torch.tensor([0.5, 1.5, 2.5, -2.5])
    yield answer(LESSON, "answer_ties", expect=torch.round(x),
                 hints=[(torch.floor(x + 0.5), TIES_TO_EVEN),
                        (torch.sign(x) * torch.floor(x.abs() + 0.5), TIES_TO_EVEN)])


@CHECKS.answer("1.b")
def answer_fmod_vs_remainder(gen, device):
    a = torch.tensor([-7.0, -7.0])
    yield answer(LESSON, "answer_fmod_vs_remainder",
                 expect=torch.stack([torch.fmod(a[0], 3.0), torch.remainder(a[1], 3.0)]),
                 hints=[(torch.stack([torch.remainder(a[0], 3.0), torch.fmod(a[1], 3.0)]),
                         "the other way round: fmod takes the sign of the dividend (-7), % the sign of the divisor (3)")])


@CHECKS.answer("1.c")
def answer_median(gen, device):
    x = torch.tensor([4.0, 1.0, 3.0, 2.0])
    yield answer(LESSON, "answer_median", expect=torch.median(x),
                 hints=[(x.sort().values[2:3].squeeze(), "for an even count torch.median returns the *lower* "
                                                          "of the two middle values, not the upper one"),
                        (x.mean(), "torch.median returns one of the values (the lower middle one), it does not "
                                   "average the two middle values as numpy.median does")])
