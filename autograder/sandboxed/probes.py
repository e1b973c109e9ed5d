"""Probes: small functions that call student code inside the sandbox and record what happened.

A probe returns plain data only (`record` below): the judge, in the trusted process, decides.
Each probe is named by the trusted checks module in a case's request; its parameters arrive as
tensors and plain data (a function cannot cross the process boundary: fixtures are named).

`observe` is the one observation of autograd behaviour every lesson shares; a lesson adds a probe
module (`probes_<lesson>.py`) only for a genuinely new kind of observation.
"""
import os
import signal

import torch
from torch.overrides import TorchFunctionMode

import fixtures

PID = os.getpid()       # the runner's: imported before any student code runs
ISOLATED = False        # set by the runner when it runs inside bubblewrap
MAX_TEXT = 4000
MAX_ERROR = 1500


def error_text(e):
    """An exception as one short line, for probes that record an expected failure as data."""
    return f"{type(e).__name__}: {e}"[:MAX_ERROR]


def reap():
    """Kill every process the student code left behind (a fork bomb's, say) before going on.

    Inside the sandbox, kill(-1) reaches exactly the sandbox's own processes (its PID namespace,
    its uid), never this one. Outside one it would reach all of the user's: not done there.
    """
    if ISOLATED:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass   # nothing left to kill


def record(obj, depth=0):
    """A returned object as plain data: exact tensors, numbers, strings, lists, dicts; else a tag."""
    if depth > 6:
        return {"__unsupported__": "nesting too deep"}
    kind = type(obj)
    if kind is torch.Tensor or kind is torch.nn.Parameter:
        return {"__tensor__": obj.detach().clone(), "requires_grad": bool(obj.requires_grad),
                "is_leaf": bool(obj.is_leaf), "version": int(obj._version),
                "grad_fn": None if obj.grad_fn is None else type(obj.grad_fn).__name__,
                "parameter": kind is torch.nn.Parameter}
    if isinstance(obj, torch.Tensor):
        return {"__unsupported__": f"tensor subclass {kind.__name__}"}
    if kind in (bool, int, float, type(None)):
        return obj
    if kind is str:
        return obj[:MAX_TEXT]
    if kind in (list, tuple):
        return {"__seq__": [record(x, depth + 1) for x in obj[:10000]], "kind": kind.__name__}
    if kind is dict:
        return {"__dict__": {str(k)[:200]: record(v, depth + 1) for k, v in list(obj.items())[:10000]}}
    if kind is torch.dtype:
        return {"__dtype__": str(obj)}
    if kind is torch.device:
        return {"__device__": str(obj)}
    return {"__unsupported__": f"{kind.__module__}.{kind.__qualname__}"[:200]}


class OpLog(TorchFunctionMode):
    """Records every torch function that runs, however it was reached (torch.round, x.round(), x @ y).

    A function mode rather than a dispatch mode: it sees the API the student called (`matmul`, not the
    `mm` it lowers to) and costs ~0.1 s to start where a dispatch mode costs over a second.
    """

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.ops.add(f"torch.{getattr(func, '__name__', type(func).__name__)}")
        return func(*args, **(kwargs or {}))


def call(ctx, target, args=(), kwargs=None, trace=False):
    """Call target(*args, **kwargs); record the result, the arguments afterwards and the ops used."""
    fn = ctx.resolve(target)
    args = list(args)
    kwargs = dict(kwargs or {})
    log = OpLog()
    if trace:
        with log:
            value = fn(*args, **kwargs)
    else:
        value = fn(*args, **kwargs)
    return {"value": record(value), "args_after": record(list(args)), "ops": sorted(log.ops)}


def _fresh(inputs, kinds):
    """Fresh copies of the inputs. kinds[i]: "plain" (no grad), "leaf" (a leaf requiring grad) or
    "nonleaf" (leaf.clone(): requires grad, not a leaf). Returns (args, leaves): leaves[i] is where
    input i's gradient lands (None for plain)."""
    args, leaves = [], []
    for t, kind in zip(inputs, kinds):
        if kind == "plain" or not isinstance(t, torch.Tensor):
            args.append(t.detach().clone() if isinstance(t, torch.Tensor) else t)
            leaves.append(None)
            continue
        leaf = t.detach().clone().requires_grad_(True)
        leaves.append(leaf)
        args.append(leaf if kind == "leaf" else leaf.clone())
    return args, leaves


def _versions(args):
    return [int(a._version) if isinstance(a, torch.Tensor) else None for a in args]


def _grads(leaves):
    return [record(l.grad) if l is not None and l.grad is not None else None for l in leaves]


def observe(ctx, target, inputs, kinds, grad_output=None, apply=False, fixture=None, build=None,
            extra=(), kwargs=None, repeat=1, gradcheck=False):
    """The one autograd observation: call the student's code on fresh inputs and record what happened.

    The call is `target(*args, *extra, **kwargs)`, args made from `inputs` by `kinds` (see _fresh);
    with `fixture` (a function of fixtures.py) passed first, with `build` (a graph builder of
    fixtures.py) turning the args into the single argument, with `apply` calling a
    torch.autograd.Function's apply. The call is made `repeat` times on the same args. Then, if
    `grad_output` is given and the result is a tensor that requires grad, backward(grad_output).

    Recorded, one schema for every lesson (the judge decides what matters): the results, the error a
    call raised, each arg's _version before and after, whether the result *is* an arg, the args
    afterwards (values, requires_grad), the leaves' .grad after the call and after backward, the error
    backward raised, which gradients a Function's backward returned, and
    gradcheck's outcome in float64.
    """
    fn = ctx.resolve(target)
    returned = []
    if apply:
        if not (isinstance(fn, type) and issubclass(fn, torch.autograd.Function)):
            raise TypeError(f"{target} is not a torch.autograd.Function subclass")
        cls = fn

        class Spy(cls):
            @staticmethod
            def backward(ctx_, *grads):
                result = cls.backward(ctx_, *grads)
                items = result if isinstance(result, tuple) else (result,)
                returned.append([None if g is None else bool(isinstance(g, torch.Tensor)) for g in items])
                return result
        fn = Spy.apply
    args, leaves = _fresh(inputs, kinds)
    head = [fixtures.FIXTURES[fixture]] if fixture else []
    tail = [e.detach().clone() if isinstance(e, torch.Tensor) else e for e in extra]
    out = {"results": [], "call_error": None, "versions_before": _versions(args), "is_input": [False] * len(args),
           "backward_error": None, "grads": [None] * len(args), "backward_returned": None,
           "gradcheck": None, "gradcheck_error": None}
    values = []
    try:
        call_args = [fixtures.FIXTURES[build](*args)] if build else args
        for _ in range(repeat):
            values.append(fn(*head, *call_args, *tail, **(kwargs or {})))
            out["results"].append(record(values[-1]))
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
    out.update({"versions_after": _versions(args), "args_after": record(list(args)),
                "requires_grad_after": [bool(a.requires_grad) if isinstance(a, torch.Tensor) else None for a in args],
                "grads_after_call": _grads(leaves)})
    if out["call_error"] is not None or not values:
        return out
    first = values[0]
    out["is_input"] = [first is a for a in args]
    if grad_output is not None and type(first) is torch.Tensor and first.requires_grad:
        try:
            first.backward(grad_output)
        except NotImplementedError:
            raise
        except Exception as e:     # the "modified by an inplace operation" error lands here
            out["backward_error"] = error_text(e)
        out["grads"] = _grads(leaves)
        out["backward_returned"] = returned[0] if returned else None
    if gradcheck:
        args64 = [t.detach().to(torch.float64).clone().requires_grad_(k != "plain") for t, k in zip(inputs, kinds)]
        try:
            out["gradcheck"] = bool(torch.autograd.gradcheck(cls.apply if apply else fn, tuple(args64), eps=1e-6,
                                                             atol=1e-5, raise_exception=True))
        except NotImplementedError:
            raise
        except Exception as e:
            out["gradcheck"] = False
            out["gradcheck_error"] = error_text(e)
    return out


def call_with_devices(ctx, target, cuda=False, mps=False, args=(), kwargs=None):
    """Call target with torch told that CUDA / MPS are (not) available, to test device choice."""
    fn = ctx.resolve(target)
    saved = torch.cuda.is_available, torch.cuda.device_count, torch.backends.mps.is_available
    torch.cuda.is_available = lambda: cuda
    torch.cuda.device_count = lambda: 1 if cuda else 0
    torch.backends.mps.is_available = lambda: mps
    try:
        value = fn(*args, **(kwargs or {}))
    finally:
        torch.cuda.is_available, torch.cuda.device_count, torch.backends.mps.is_available = saved
    return {"value": record(value)}


_NOTEBOOK = {}


def _run_notebook(path, cell_timeout_s=30):
    """Execute the notebook's code cells in-process, skipping nbgrader test (check) cells.

    Returns the namespace. Runs once per process; later answer probes read the same namespace.
    Errors in a cell are recorded and execution goes on, as nbgrader does.
    """
    if path in _NOTEBOOK:
        return _NOTEBOOK[path]
    import json
    import sys
    import types
    from IPython.core.interactiveshell import InteractiveShell

    stub = types.ModuleType("autograder.notebook")
    stub.check = lambda *a, **k: None          # check cells are skipped; a stray call is a no-op
    sys.modules.setdefault("autograder", types.ModuleType("autograder"))
    sys.modules["autograder.notebook"] = stub
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    shell = InteractiveShell.instance()
    errors = []

    def on_error(shell, etype, value, tb, tb_offset=None):
        # Instead of IPython's rich traceback, which is slow, and which a fork bomb's hundreds of
        # children would each build, copying pages until memory runs out.
        if os.getpid() != PID:
            os._exit(0)
        return []

    shell.set_custom_exc((BaseException,), on_error)

    def on_alarm(signum, frame):
        raise TimeoutError(f"cell ran past {cell_timeout_s} s")

    signal.signal(signal.SIGALRM, on_alarm)
    for i, cell in enumerate(nb.get("cells", [])):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        signal.alarm(cell_timeout_s)
        try:
            result = shell.run_cell(source, store_history=False, silent=True)
            if not result.success:
                err = result.error_in_exec or result.error_before_exec
                errors.append(f"cell {i}: {type(err).__name__}: {err}"[:300])
        finally:
            if os.getpid() != PID:
                os._exit(0)    # a process forked by a cell must not run the rest of the notebook
            signal.alarm(0)
            reap()
    _NOTEBOOK[path] = (shell.user_ns, errors)
    return _NOTEBOOK[path]


def notebook_answer(ctx, notebook, name):
    """Run the submitted notebook (once) and record the value its answer cell bound to `name`."""
    path = os.path.join(ctx.submission, notebook)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the submission has no {notebook}")
    namespace, errors = _run_notebook(path)
    if name not in namespace:
        raise NameError(f"the notebook never set `{name}`" + (f" (errors: {'; '.join(errors[:3])})" if errors else ""))
    return {"value": record(namespace[name])}
