"""Lesson 05's own observation: `to_numpy` on a tensor that poses as a CUDA tensor on a CPU-only grader."""
import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from probes import error_text, record

CUDA_NUMPY_ERROR = ("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                    "host memory first. (simulated: the grader ran this on the CPU, with the input posing "
                    "as a CUDA tensor)")


def _is_cpu(value):
    if isinstance(value, torch.device):
        return value.type == "cpu"
    return isinstance(value, str) and value.split(":")[0] == "cpu"


class PretendCuda(TorchFunctionMode):
    """Makes a CPU tensor, and everything computed from it, behave like a CUDA tensor where it
    matters for getting values out: `.device` says cuda:0, `.is_cuda` is True, `.numpy()` and
    `np.asarray` refuse it as CUDA does, and `.cpu()` / `.to("cpu")` return a real copy that is no
    longer marked. Lets a CPU-only grader see the bug a GPU would show (`.numpy()` without `.cpu()`).
    """

    def __init__(self, tensor):
        super().__init__()
        self.marked = [tensor]

    def _marked(self, obj):
        return isinstance(obj, torch.Tensor) and any(obj is m for m in self.marked)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if name == "__get__":
            name = getattr(getattr(func, "__self__", None), "__name__", name)
        marked = any(self._marked(a) for a in args) or any(self._marked(v) for v in kwargs.values())
        if marked:
            if name == "device":
                return torch.device("cuda", 0)
            if name == "is_cuda":
                return True
            if name in ("numpy", "__array__") and not kwargs.get("force"):
                raise TypeError(CUDA_NUMPY_ERROR)
            if name == "cpu" or (name == "to" and any(_is_cpu(a) for a in list(args[1:]) + list(kwargs.values()))):
                out = func(*args, **kwargs)
                return out.clone() if out is args[0] else out
        out = func(*args, **kwargs)
        if marked and isinstance(out, torch.Tensor) and name not in ("numpy", "__array__"):
            self.marked.append(out)
        return out


def to_numpy(ctx, target, t, kind, pretend_cuda=False):
    """Call target(t) with t a leaf requiring grad, a non-leaf, or plain; record what came back.

    pretend_cuda: run under PretendCuda (on a CPU tensor). Records the returned object's type name,
    its values (as a tensor, converted here), and t's requires_grad and _version before and after.
    """
    fn = ctx.resolve(target)
    if kind == "plain":
        arg = t.clone()
    else:
        leaf = t.detach().clone().requires_grad_(True)
        arg = leaf if kind == "leaf" else leaf * 1
    before = (bool(arg.requires_grad), int(arg._version))
    mode = PretendCuda(arg) if pretend_cuda else None
    try:
        if mode is not None:
            with mode:
                out = fn(arg)
        else:
            out = fn(arg)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e)}
    kind_name = f"{type(out).__module__}.{type(out).__qualname__}"[:200]
    result = {"type": kind_name,
              "input_requires_grad": [before[0], bool(arg.requires_grad)],
              "input_version": [before[1], int(arg._version)], "values": None, "returned": None}
    if type(out) is np.ndarray:
        try:
            result["values"] = record(torch.from_numpy(np.array(out, copy=True)))
        except Exception as e:
            result["values"] = {"__unsupported__": f"numpy array of dtype {out.dtype}: {e}"[:200]}
    else:
        result["returned"] = record(out)
    return result
