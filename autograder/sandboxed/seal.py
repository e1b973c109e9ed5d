"""What the probes rely on, as it was before any student code ran, and whether it is still so.

The runner seals after importing torch and the probes and before the job arrives; after every case
it asks `broken()`. A case after which torch's surface, the grader's own functions (their identity,
code and defaults), the import machinery, a trace hook or a still-running thread differ from the
seal fails closed: its observations are not sent, the case is reported as tampered with.

This is a tripwire, not a wall: code that restores what it patched before the check, or that writes
the process's memory directly, is not seen here. The probes make that harder (they bind what they use
before student code runs, from torch's immutable C types) and the judge, in the trusted process,
decides every verdict from values it recomputes; the wall is there too: the trusted side reads the
package as text and grades nothing of a lesson whose code reaches into this process
(autograder/forbidden.py, `tampering`).
"""
import builtins
import sys
import threading
import types

import torch

# Builtins the probes and the runner call after student code ran.
BUILTINS = ("type", "isinstance", "issubclass", "len", "list", "tuple", "dict", "str", "int", "float", "bool",
            "zip", "sorted", "getattr", "iter", "next", "min", "max", "range", "repr", "id", "memoryview", "vars",
            "hasattr", "setattr", "any", "all", "enumerate", "sum", "abs", "round", "object", "super")


# Of torch's own namespace, what the probes and torch's autograd machinery use. Not all of it: torch
# itself rebinds some names on first use of a feature (torch.func brings torch._dynamo, which wraps
# torch.manual_seed), and the runner binds the seeding it needs before any student code runs.
TORCH_NAMES = ("Tensor", "autograd", "nn", "save", "load", "no_grad", "enable_grad", "is_grad_enabled",
               "set_grad_enabled", "from_numpy", "device", "dtype", "float32", "float64", "zeros_like", "ones_like")


def _namespaces(modules):
    """(label, namespace, names watched or None for all, strict): a strict namespace may not even gain
    names (torch.Tensor: a new attribute there would shadow a method of the immutable TensorBase)."""
    spaces = [(m.__name__, m, None, False) for m in modules]
    spaces += [("torch", torch, TORCH_NAMES, False), ("torch.autograd", torch.autograd, None, False),
               ("torch.autograd.function", torch.autograd.function, None, False),
               ("torch.autograd.graph", torch.autograd.graph, None, False),
               ("torch.overrides", torch.overrides, None, False),
               ("torch.Tensor", torch.Tensor, None, True), ("torch.autograd.Function", torch.autograd.Function, None, True),
               ("torch.nn.Module", torch.nn.Module, None, True), ("torch.nn.Parameter", torch.nn.Parameter, None, True)]
    return spaces


class Seal:
    def __init__(self, modules):
        self.spaces = [(label, space, strict, {k: v for k, v in vars(space).items() if names is None or k in names})
                       for label, space, names, strict in _namespaces(modules)]
        self.code = {id(f): (f.__code__, f.__defaults__, f.__kwdefaults__)
                     for _, _, _, names in self.spaces for f in names.values() if isinstance(f, types.FunctionType)}
        self.builtins = {name: getattr(builtins, name) for name in BUILTINS}
        self.modules = {name: sys.modules.get(name) for name in ("torch", "numpy", *(m.__name__ for m in modules))}
        self.meta_path = tuple(sys.meta_path)
        self.threads = _threads()

    def broken(self):
        """What changed since the seal, in a few words (None: nothing)."""
        for label, space, strict, names in self.spaces:
            now = vars(space)
            for name, obj in names.items():
                if now.get(name, _MISSING) is not obj:
                    return f"{label}.{name} was replaced"
                saved = self.code.get(id(obj))
                if saved and (obj.__code__, obj.__defaults__, obj.__kwdefaults__) != saved:
                    return f"the code of {label}.{name} was replaced"
            if strict and len(now) != len(names):
                return f"{label} gained attributes: {sorted(set(now) - set(names))[:3]}"
        for name, obj in self.builtins.items():
            if getattr(builtins, name, None) is not obj:
                return f"the builtin {name} was replaced"
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                return f"the module {name} was replaced in sys.modules"
        if [f for f in sys.meta_path if f in self.meta_path] != list(self.meta_path):
            return "the import machinery (sys.meta_path) lost or reordered a finder"
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return "a trace or profile hook was installed"
        if _threads() > self.threads:
            return "a thread started by the submission is still running"
        return None


_MISSING = object()


def _threads(_frames=sys._current_frames, _count=threading.active_count):
    """Threads running Python code: threading's count misses those started with _thread directly."""
    return max(len(_frames()), _count())
