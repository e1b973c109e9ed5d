"""Probes for lesson 04 (and the gradient probe lesson 05 reuses): call, backward, observe.

Everything recorded here is only an observation; the trusted judge recomputes every reference.
"""
import torch

from probes import error_text, record



def _prepare(inputs, kinds):
    """Fresh inputs: "leaf" (a leaf requiring grad), "nonleaf" (leaf.clone(): requires grad, not a
    leaf), "plain" (no grad). Returns (args, leaves), leaves[i] being where the gradient lands."""
    args, leaves = [], []
    for t, kind in zip(inputs, kinds):
        if kind == "plain" or not isinstance(t, torch.Tensor):
            args.append(t.clone() if isinstance(t, torch.Tensor) else t)
            leaves.append(None)
            continue
        leaf = t.detach().clone().requires_grad_(True)
        leaves.append(leaf)
        args.append(leaf if kind == "leaf" else leaf.clone())
    return args, leaves


def _versions(args):
    return [int(a._version) if isinstance(a, torch.Tensor) else None for a in args]


def _backward_and_record(out, args, leaves, grad_output, versions_before):
    result = {"value": record(out), "versions_before": versions_before, "versions_after_call": _versions(args),
              "is_input": [out is a for a in args], "args_after": record(list(args)),
              "backward_error": None, "grads": [None] * len(leaves)}
    if isinstance(out, torch.Tensor) and type(out) is torch.Tensor and out.requires_grad and grad_output is not None:
        try:
            out.backward(grad_output)
        except NotImplementedError:
            raise
        except Exception as e:     # the "modified by an inplace operation" error lands here
            result["backward_error"] = error_text(e)
        result["grads"] = [record(l.grad) if l is not None and l.grad is not None else None for l in leaves]
    return result


def grad_call(ctx, target, inputs, kinds, grad_output=None, extra=(), kwargs=None):
    """Call target(*inputs, *extra, **kwargs) on fresh inputs, then backward(grad_output).

    Records the output, the gradients that reached each input's leaf, each input's `_version`
    before and after the call, whether the output *is* one of the inputs, the inputs afterwards,
    and the text of an error raised by the call or by backward (not raised further).
    """
    fn = ctx.resolve(target)
    args, leaves = _prepare(inputs, kinds)
    before = _versions(args)
    try:
        out = fn(*args, *extra, **(kwargs or {}))
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e), "versions_before": before, "versions_after_call": _versions(args)}
    return _backward_and_record(out, args, leaves, grad_output, before)


def function_apply(ctx, target, inputs, kinds, grad_output=None):
    """Like grad_call for a custom autograd.Function: target.apply(*args)."""
    cls = ctx.resolve(target)
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise TypeError(f"{target} is not a torch.autograd.Function subclass")
    args, leaves = _prepare(inputs, kinds)
    before = _versions(args)
    try:
        out = cls.apply(*args)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e), "versions_before": before, "versions_after_call": _versions(args)}
    result = _backward_and_record(out, args, leaves, grad_output, before)
    result["grad_fn"] = None if getattr(out, "grad_fn", None) is None else type(out.grad_fn).__name__
    return result


def reset_leaf(ctx, target, w, value, grad_output):
    """Call target(w, value) on a fresh leaf w that requires grad; observe w afterwards.

    Also records whether a graph built from w *before* the reset notices the change at backward
    (it should: the version counter moved), and that w still works as a leaf afterwards.
    """
    fn = ctx.resolve(target)
    w = w.detach().clone().requires_grad_(True)
    if isinstance(value, torch.Tensor):
        value = value.clone()
    saved_graph = (w * w).sum()              # mul saved w itself
    before = int(w._version)
    try:
        returned = fn(w, value)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e)}
    result = {"returned_is_w": returned is w, "returned": record(returned), "w": record(w),
              "version_before": before, "version_after": int(w._version),
              "is_leaf": bool(w.is_leaf), "requires_grad": bool(w.requires_grad)}
    try:
        saved_graph.backward()
        result["stale_backward_error"] = None
    except Exception as e:
        result["stale_backward_error"] = error_text(e)
    w.grad = None
    try:
        (w * grad_output).sum().backward()
        result["grad_after"] = record(w.grad) if w.grad is not None else None
        result["fresh_backward_error"] = None
    except Exception as e:
        result["grad_after"] = None
        result["fresh_backward_error"] = error_text(e)
    return result
