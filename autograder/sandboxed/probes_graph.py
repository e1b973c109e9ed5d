"""Probes and graph builders for lesson 03 (course_pkg/graph.py).

The builders make known graphs from input tensors; the trusted checks import this module too, to
build the same graphs and walk them as the reference. So it must load outside the sandbox as well.
"""
import torch

try:
    from probes import error_text, record              # inside the sandbox
except ImportError:                                    # imported by the trusted checks, for the fixtures
    from autograder.sandboxed.probes import error_text, record


# ---- graph builders: input leaves -> a tensor with a known graph ---------------------------------------

def chain(a):
    return torch.exp(torch.sin(a) * 2).sum()


def shared(a, b):
    c = a * b                    # used twice below: its node is shared
    return (c + c.exp() + a).mean()


def square_self(a):
    return (a * a).sum()        # MulBackward0 points at the same AccumulateGrad twice


def mlp(x, w1, w2):
    h = torch.relu(x @ w1)
    return torch.nn.functional.mse_loss(h @ w2, torch.zeros(x.shape[0], w2.shape[1], device=x.device, dtype=x.dtype))


def diamond(a, b):
    c = a + b
    d = c * 2
    e = c.sin()
    f = d * e
    return (f + a.detach()).sum() + b.sum()


BUILDERS = {f.__name__: f for f in (chain, shared, square_self, mlp, diamond)}


def reference_walk(t):
    """The reference walk of t.grad_fn (trusted side): names in reverse DFS post-order, unique edges."""
    if t.grad_fn is None:
        return [], []
    order, seen, stack = [], set(), [(t.grad_fn, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for child, _ in reversed(node.next_functions):
            if child is not None and child not in seen:
                stack.append((child, False))
    order.reverse()
    index = {n: i for i, n in enumerate(order)}
    edges = sorted({(index[n], index[c]) for n in order for c, _ in n.next_functions if c is not None})
    return [type(n).__name__ for n in order], edges


def walk(ctx, target, builder, inputs, requires_grad):
    """Build a known graph from fresh leaves and record what target (graph_nodes) says about it."""
    fn = ctx.resolve(target)
    leaves = [t.detach().clone().requires_grad_(bool(r)) for t, r in zip(inputs, requires_grad)]
    out = BUILDERS[builder](*leaves)
    try:
        value = fn(out)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e)}
    return {"value": record(value)}


# ---- custom Functions --------------------------------------------------------------------------------

def function_check(ctx, target, inputs, requires_grad, grad_output, gradcheck=True):
    """Run target.apply on fresh inputs, backward with grad_output, and gradcheck in float64.

    Records the output, the gradients reaching each input, what backward itself returned for each
    input (None or not), and gradcheck's verdict (an observation only: the judge also compares the
    gradients with torch's builtin ones).
    """
    cls = ctx.resolve(target)
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError(f"{target} is not a torch.autograd.Function subclass")
    returned = []

    class Spy(cls):
        @staticmethod
        def backward(ctx_, *grads):
            result = cls.backward(ctx_, *grads)
            items = result if isinstance(result, tuple) else (result,)
            returned.append([None if g is None else bool(isinstance(g, torch.Tensor)) for g in items])
            return result

    args = [t.detach().clone().requires_grad_(bool(r)) for t, r in zip(inputs, requires_grad)]
    result = {"backward_error": None, "grads": [None] * len(args), "returned": None, "gradcheck": None,
              "gradcheck_error": None}
    try:
        out = Spy.apply(*args)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e)}
    result["value"] = record(out)
    result["grad_fn"] = None if getattr(out, "grad_fn", None) is None else type(out.grad_fn).__name__
    if isinstance(out, torch.Tensor) and out.requires_grad:
        try:
            out.backward(grad_output)
        except NotImplementedError:
            raise
        except Exception as e:
            result["backward_error"] = error_text(e)
        result["grads"] = [None if a.grad is None else record(a.grad) for a in args]
        result["returned"] = returned[0] if returned else None
    if gradcheck:
        args64 = [t.detach().to(torch.float64).clone().requires_grad_(bool(r)) for t, r in zip(inputs, requires_grad)]
        try:
            result["gradcheck"] = bool(torch.autograd.gradcheck(cls.apply, tuple(args64), eps=1e-6, atol=1e-5,
                                                                raise_exception=True))
        except NotImplementedError:
            raise
        except Exception as e:
            result["gradcheck"] = False
            result["gradcheck_error"] = error_text(e)
    return result
