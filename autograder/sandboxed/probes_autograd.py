"""Probes and fixture functions for lesson 02 (course_pkg/autograd.py).

The fixtures (the functions the student's tools are applied to) are plain torch code; the trusted
checks import this module too, to compute torch's reference with the very same functions. So this
module must load outside the sandbox as well.
"""
import torch

try:
    from probes import error_text, record              # inside the sandbox
except ImportError:                                    # imported by the trusted checks, for the fixtures
    from autograder.sandboxed.probes import error_text, record


# ---- fixtures: scalar functions of one or several tensors ------------------------------------------

def _weights(n, m, like):
    """A fixed, deterministic (n, m) matrix on like's device and dtype."""
    return (torch.arange(n * m, dtype=torch.float64).reshape(n, m).sin() * 0.7).to(like)


def cubic_sum(x):
    return (x ** 3 - 2 * x).sum()


def sin_poly(x):
    return (torch.sin(x) * x ** 2).sum() + 0.5 * (x ** 2).sum()


def product_mix(x, y):
    return (x * torch.sin(y)).sum() + (x ** 2).sum() * y.mean()


def matrix_tanh(w, x):
    return torch.tanh(x @ w.T).pow(2).sum()


def ignores_second(x, y):
    return (x.exp()).sum()


def logsumexp_rows(x):
    return torch.logsumexp(x, dim=-1).sum() + (x ** 2).mean()


# ---- fixtures: vector functions (vjp / jacobian) ----------------------------------------------------

def mix(x):
    """R^n -> R^n, not elementwise (so a transposed Jacobian is wrong)."""
    return torch.tanh(x) * x.flip(-1) + x.cumsum(-1)


def project(x):
    """R^n -> R^3."""
    w = _weights(3, x.shape[-1], x)
    return torch.sin(w @ x) + x.sum() * torch.arange(1, 4, dtype=x.dtype, device=x.device)


def matrix_square(x):
    """R^{n×n} -> R^{n×n}."""
    return x @ x.T + x.sin()


# ---- fixtures: losses (gradient descent) ------------------------------------------------------------

def rosenbrock(w):
    return (1 - w[0]) ** 2 + 10 * (w[1] - w[0] ** 2) ** 2


def quadratic(w):
    a = _weights(w.shape[0], w.shape[0], w)
    return 0.5 * (w @ (a @ a.T + torch.eye(w.shape[0], dtype=w.dtype, device=w.device)) @ w).sum() + w.sum()


def regression(w):
    x = _weights(6, w.shape[-1], w)
    y = torch.arange(6, dtype=w.dtype, device=w.device) / 3
    return ((x @ w - y) ** 2).mean() + 0.1 * (w ** 4).sum()


FUNCTIONS = {f.__name__: f for f in (cubic_sum, sin_poly, product_mix, matrix_tanh, ignores_second,
                                     logsumexp_rows, mix, project, matrix_square, rosenbrock, quadratic,
                                     regression)}


def fixture_ref(name):
    return {"__fixture__": f"probes_autograd.{name}"}


# ---- the probe --------------------------------------------------------------------------------------

def observed_call(ctx, target, fn, tensors, requires_grad, before=(), after=(), kwargs=None, repeat=1):
    """Call target(*before, FIXTURE fn, *tensors, *after, **kwargs) `repeat` times, on fresh copies.

    tensors[i] is made a leaf requiring grad when requires_grad[i]. Records each call's result and,
    afterwards, each tensor's .grad, requires_grad, values and _version — the judge decides.
    """
    fn_ = getattr(ctx, "resolve")(target)
    f = FUNCTIONS[fn]
    args = [t.detach().clone().requires_grad_(bool(r)) for t, r in zip(tensors, requires_grad)]
    versions = [int(a._version) for a in args]
    results = []
    for _ in range(repeat):
        try:
            value = fn_(*before, f, *args, *after, **(kwargs or {}))
        except NotImplementedError:
            raise
        except Exception as e:
            return {"call_error": error_text(e), "results": results}
        results.append(record(value))
    return {
        "results": results,
        "grads_after": [None if a.grad is None else record(a.grad) for a in args],
        "requires_grad_after": [bool(a.requires_grad) for a in args],
        "values_after": [record(a.detach().clone()) for a in args],
        "versions_before": versions,
        "versions_after": [int(a._version) for a in args],
    }
