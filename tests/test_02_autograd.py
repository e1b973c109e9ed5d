"""Lesson 02: the solution scores full marks, the blank edition zero, and each realistic wrong
implementation loses exactly its own exercise's points with a message that says why."""
import pytest
import torch

from tests.support import exercise_ids, grade, lost, make_submission, messages, student_submission

LESSON = "02_autograd"


def test_instructor_edition_scores_full_marks(tmp_path):
    result = grade(LESSON, make_submission(tmp_path))
    assert not lost(result), messages(result)
    assert result.score == result.max > 0
    devices = {"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"}
    assert all(set(c.devices) == devices for c in result.checks if not c.id[-1].isalpha() or c.id.endswith("h"))


def test_student_edition_scores_zero(tmp_path):
    result = grade(LESSON, student_submission(tmp_path))
    assert result.checks and all(c.points == 0 for c in result.checks)
    assert all("not implemented" in c.message for c in result.checks if not c.hidden), messages(result)


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


@pytest.mark.parametrize("exercise,what,source,keyword", WRONG, ids=[w[1] for w in WRONG])
def test_wrong_implementation_loses_exactly_its_exercise(tmp_path, exercise, what, source, keyword):
    result = grade(LESSON, make_submission(tmp_path, {"autograd": source}))
    assert lost(result) == exercise_ids(result, exercise), messages(result)
    public = next(c for c in result.checks if c.id == exercise)
    if keyword:
        assert keyword in public.message, public.message
