"""Lesson 04's own observation: a leaf reset in place, and whether a graph built before notices.

Everything recorded here is only an observation; the trusted judge recomputes every reference.
"""
import torch

from probes import error_text, record


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
    result = {"returned_is_w": returned is w, "w": record(w),
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
