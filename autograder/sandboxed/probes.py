"""Probes: small functions that call student code inside the sandbox and record what happened.

A probe returns plain data only (`record` below): the judge, in the trusted process, decides.
Each probe is named by the trusted checks module in a case's request; its parameters arrive as
tensors and plain data (a function cannot cross the process boundary: fixtures are named).

`observe` is the one observation of autograd behaviour every lesson shares; a lesson adds a probe
module (`probes_<lesson>.py`) only for a genuinely new kind of observation.

Long because the notebook-answer probes (running a submitted notebook, and reading an answer that is
only written down) live here too: every lesson with predictions uses them.
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


def unwritten(e):
    """Whether a NotImplementedError is an exercise's stub (`course release` writes "Exercise N.M — …"),
    rather than torch saying an op is not implemented for a dtype the student's code passed it."""
    return str(e).startswith("Exercise")


def error_text(e):
    """An exception as one short line, for probes that record an expected failure as data, with the
    place in the student's files it came from (never a grader frame)."""
    where = raised_at(e)
    return (f"{type(e).__name__}: {e}" + (f" (raised at {where})" if where else ""))[:MAX_ERROR]


def raised_at(e):
    """The last frame of an exception's traceback in the submitted files: "course_pkg/x.py, line 3, in f"."""
    marker = os.sep + "submission" + os.sep
    tb, found = e.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if marker in name:
            found = f"{name.split(marker, 1)[1]}, line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return found


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


# The torch the probes use, captured at import, before any student code runs: the C methods and
# attributes of torch._C.TensorBase (an immutable type: nobody can replace them) and the autograd
# engine itself. A student who patches torch.Tensor.backward, .grad or .clone changes nothing the
# probes see; the runner's seal (runner.py) fails the case besides.
_BASE = torch._C.TensorBase
TENSOR, PARAMETER, DTYPE, DEVICE = torch.Tensor, torch.nn.Parameter, torch.dtype, torch.device
GRAD, VERSION, REQUIRES_GRAD, IS_LEAF, GRAD_FN = (vars(_BASE)[name].__get__ for name in
                                                  ("grad", "_version", "requires_grad", "is_leaf", "grad_fn"))
DETACH, CLONE, REQUIRES_GRAD_ = _BASE.detach, _BASE.clone, _BASE.requires_grad_
SHAPE, DTYPE_OF, DEVICE_OF = (vars(_BASE)[name].__get__ for name in ("shape", "dtype", "device"))
STACK = torch._C._VariableFunctions.stack
_RUN_BACKWARD = torch.autograd.variable.Variable._execution_engine.run_backward


def backward(t, grad_output, _run=_RUN_BACKWARD):
    """t.backward(grad_output), straight into the autograd engine."""
    _run((t,), (grad_output,), False, False, (), allow_unreachable=True, accumulate_grad=True)


def record(obj, depth=0, _type=type, _isinstance=isinstance, _str=str, _list=list, _bool=bool, _int=int):
    """A returned object as plain data: exact tensors, numbers, strings, lists, dicts; else a tag."""
    if depth > 6:
        return {"__unsupported__": "nesting too deep"}
    kind = _type(obj)
    if kind is TENSOR or kind is PARAMETER:
        grad_fn = GRAD_FN(obj)
        return {"__tensor__": CLONE(DETACH(obj)), "requires_grad": _bool(REQUIRES_GRAD(obj)),
                "is_leaf": _bool(IS_LEAF(obj)), "version": _int(VERSION(obj)),
                "grad_fn": None if grad_fn is None else _type(grad_fn).__name__, "parameter": kind is PARAMETER}
    if _isinstance(obj, TENSOR):
        return {"__unsupported__": f"tensor subclass {kind.__name__}"}
    if kind in (bool, int, float, type(None)):
        return obj
    if kind is str:
        return obj[:MAX_TEXT]
    if kind in (list, tuple):
        return {"__seq__": [record(x, depth + 1) for x in obj[:10000]], "kind": kind.__name__}
    if kind is dict:
        return {"__dict__": {_str(k)[:200]: record(v, depth + 1) for k, v in _list(obj.items())[:10000]}}
    if kind is DTYPE:
        return {"__dtype__": _str(obj)}
    if kind is DEVICE:
        return {"__device__": _str(obj)}
    return {"__unsupported__": f"{kind.__module__}.{kind.__qualname__}"[:200]}


def record_series(values, _type=type):
    """One record for a quantity followed over many steps (a parameter through training, say).

    A plain tensor of one shape, dtype and device at every step is sent as one stacked tensor: the
    trusted side loads a few thousand small tensors about 300 times slower than one. Anything else
    (a step without a tensor, a shape that changed) goes step by step, exactly as `record` has it.
    """
    first = values[0] if values else None
    if _type(first) in (TENSOR, PARAMETER) and all(
            _type(v) in (TENSOR, PARAMETER) and SHAPE(v) == SHAPE(first) and DTYPE_OF(v) == DTYPE_OF(first)
            and DEVICE_OF(v) == DEVICE_OF(first) for v in values):
        return {"__stack__": STACK([DETACH(v) for v in values])}
    return {"__seq__": [record(v) for v in values], "kind": "list"}


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
    record_ = record                  # bound before any student code runs (ctx.resolve imports it)
    fn = ctx.resolve(target)
    args = tuple(args)                # the probe's own, immutable: the student gets the items, not the tuple
    kwargs = dict(kwargs or {})
    log = OpLog()
    if trace:
        with log:
            value = fn(*args, **kwargs)
    else:
        value = fn(*args, **kwargs)
    return {"value": record_(value), "args_after": record_(list(args)), "ops": sorted(log.ops)}


def _fresh(inputs, kinds, _detach=DETACH, _clone=CLONE, _requires_grad_=REQUIRES_GRAD_):
    """Fresh copies of the inputs. kinds[i]: "plain" (no grad), "leaf" (a leaf requiring grad) or
    "nonleaf" (leaf.clone(): requires grad, not a leaf). Returns (args, leaves): leaves[i] is where
    input i's gradient lands (None for plain)."""
    args, leaves = [], []
    for t, kind in zip(inputs, kinds):
        if kind == "plain" or type(t) is not TENSOR:
            args.append(_clone(_detach(t)) if type(t) is TENSOR else t)
            leaves.append(None)
            continue
        leaf = _requires_grad_(_clone(_detach(t)), True)
        leaves.append(leaf)
        args.append(leaf if kind == "leaf" else _clone(leaf))
    return tuple(args), tuple(leaves)


def _versions(args, _version=VERSION):
    return [int(_version(a)) if type(a) is TENSOR else None for a in args]


def _grads(leaves, _record=record, _grad=GRAD):
    return [_record(_grad(l)) if l is not None and _grad(l) is not None else None for l in leaves]


def observe(ctx, target, inputs, kinds, grad_output=None, apply=False, fixture=None, build=None,
            extra=(), kwargs=None, repeat=1, around=None):
    """The one autograd observation: call the student's code on fresh inputs and record what happened.

    The call is `target(*args, *extra, **kwargs)`, args made from `inputs` by `kinds` (see _fresh);
    with `fixture` (a function of fixtures.py) passed first, with `build` (a graph builder of
    fixtures.py) turning the args into the single argument, with `apply` calling a
    torch.autograd.Function's apply. The call is made `repeat` times on the same args. Then, if
    `grad_output` is given and the result is a tensor that requires grad, backward(grad_output) —
    through `around(result, first arg)` (fixtures.AROUND) when given, so gradients meet at fan-in.

    Recorded, one schema for every lesson (the judge decides what matters): the results, the error a
    call raised, each arg's _version before and after, whether the result *is* an arg, the args
    afterwards (values, requires_grad), the leaves' .grad after the call and after backward, the error
    backward raised, and which gradients a Function's backward returned. Everything used after the
    student's code has run is bound here first, before it can run.
    """
    record_, fresh_, versions_, grads_, backward_, requires_grad = record, _fresh, _versions, _grads, backward, REQUIRES_GRAD
    error_text_ = error_text
    builders, arounds = dict(fixtures.FIXTURES), dict(fixtures.AROUND)
    args, leaves = fresh_(inputs, kinds)
    fn = ctx.resolve(target)          # the student's module is imported here, on the first case
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
    head = (builders[fixture],) if fixture else ()
    tail = tuple(CLONE(DETACH(e)) if type(e) is TENSOR else e for e in extra)
    out = {"results": [], "call_error": None, "versions_before": versions_(args), "is_input": [False] * len(args),
           "backward_error": None, "grads": [None] * len(args), "backward_returned": None,
           "result_version_after_backward": None}
    values = []
    try:
        call_args = (builders[build](*args),) if build else args
        for _ in range(repeat):
            values.append(fn(*head, *call_args, *tail, **(kwargs or {})))
            out["results"].append(record_(values[-1]))
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text_(e)
    out.update({"versions_after": versions_(args), "args_after": record_(list(args)),
                "requires_grad_after": [bool(requires_grad(a)) if type(a) is TENSOR else None for a in args],
                "grads_after_call": grads_(leaves)})
    if out["call_error"] is not None or not values:
        return out
    first = values[0]
    out["is_input"] = [first is a for a in args]
    if grad_output is not None and type(first) is TENSOR and requires_grad(first):
        try:
            backward_(arounds[around](first, args[0]) if around else first, grad_output)
        except NotImplementedError:
            raise
        except Exception as e:     # the "modified by an inplace operation" error lands here
            out["backward_error"] = error_text_(e)
        out["grads"] = grads_(leaves)
        out["backward_returned"] = returned[0] if returned else None
        out["result_version_after_backward"] = int(VERSION(first))     # a backward that wrote into the result
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


def _run_notebook(path, until=None, cell_timeout_s=30):
    """Execute the notebook's code cells in-process, in order, skipping nbgrader test (check) cells,
    up to and including the answer cell whose nbgrader grade_id is `until` (all of them when no cell
    has that id).

    Returns the namespace. Later answer probes go on from where an earlier one stopped, in the same
    namespace: a value is read where nbgrader's check cell would read it, just after its answer
    cell, and the rest of a lesson (its training runs, its figures) is not run for nothing.
    Errors in a cell are recorded and execution goes on, as nbgrader does.
    """
    state = _NOTEBOOK.get(path) or _start_notebook(path)
    shell, cells, errors = state["shell"], state["cells"], state["errors"]
    ids = [((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") for cell in cells]
    if until in ids and ids.index(until) < state["next"]:
        return shell.user_ns, errors

    def on_alarm(signum, frame):
        raise TimeoutError(f"cell ran past {cell_timeout_s} s")

    signal.signal(signal.SIGALRM, on_alarm)
    while state["next"] < len(cells):
        i = state["next"]
        cell = cells[i]
        state["next"] += 1
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
        if until is not None and ids[i] == until:
            break
    return shell.user_ns, errors


def _answer_cell(path, name):
    """The index of the cell whose nbgrader grade_id is `name` (None when there is none)."""
    cells = _NOTEBOOK[path]["cells"]
    ids = [((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") for cell in cells]
    return ids.index(name) if name in ids else None


def notebook_shell():
    """The IPython shell notebooks run in, made on first use. The runner makes it before any student
    code runs whenever a submitted notebook will have to run (answers_to_run), so that its profile
    folder is written then: a submission that fills its disk cannot stop it later. Importing IPython
    costs ~0.3 s of CPU, which a class whose answers are all written down does not pay."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    if not InteractiveShell.initialized():
        config = Config()
        config.HistoryManager.enabled = False     # nothing to remember, nothing to write
        InteractiveShell.instance(config=config)
    return InteractiveShell.instance()


def answers_to_run(submission, cases):
    """Whether any notebook_answer case among `cases` will run its notebook (its answer is computed)."""
    for case in cases:
        if case["probe"] == "notebook_answer":
            path = os.path.join(submission, case["params"]["notebook"])
            if os.path.isfile(path) and _answer_as_written(path, case["params"]["name"]) is None:
                return True
    return False


def _start_notebook(path):
    import json
    import sys
    import types

    stub = types.ModuleType("autograder.notebook")
    stub.check = lambda *a, **k: None          # check cells are skipped; a stray call is a no-op
    sys.modules.setdefault("autograder", types.ModuleType("autograder"))
    sys.modules["autograder.notebook"] = stub
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    shell = notebook_shell()

    def on_error(shell, etype, value, tb, tb_offset=None):
        # Instead of IPython's rich traceback, which is slow, and which a fork bomb's hundreds of
        # children would each build, copying pages until memory runs out.
        if os.getpid() != PID:
            os._exit(0)
        return []

    shell.set_custom_exc((BaseException,), on_error)
    _NOTEBOOK[path] = {"shell": shell, "cells": [c for c in cells if isinstance(c, dict)], "next": 0, "errors": []}
    return _NOTEBOOK[path]


# An answer cell that only writes down a value (`answer = [16, 16, 16, 2]`, `answer = torch.tensor(8.)`)
# binds the same value whatever the cells before it did, so it is read without running them: no
# notebook run (its training runs, its figures) for a check cell that asks about one prediction.
_TENSOR_MAKERS = {"tensor", "full", "zeros", "ones", "arange"}


def _written_down(node, torch_calls):
    """Whether an expression is made of literals only (and, if torch_calls, of torch.tensor(...)-like
    calls on literals with torch dtypes as keywords)."""
    import ast
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_written_down(e, torch_calls) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _written_down(k, torch_calls) and _written_down(v, torch_calls)
                   for k, v in zip(node.keys, node.values))
    if torch_calls and isinstance(node, ast.Attribute):      # torch.float64 as a dtype= keyword
        return (isinstance(node.value, ast.Name) and node.value.id == "torch"
                and isinstance(getattr(torch, node.attr, None), DTYPE))
    if torch_calls and isinstance(node, ast.Call):
        f = node.func
        return (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "torch"
                and f.attr in _TENSOR_MAKERS
                and all(_written_down(a, torch_calls) and not isinstance(a, ast.Attribute) for a in node.args)
                and all(k.arg in ("dtype", "requires_grad") and _written_down(k.value, torch_calls)
                        for k in node.keywords))
    return False


def _answer_as_written(path, name):
    """The value the answer cell of `name` writes down, as (value,); None when the cell computes it,
    or when the notebook changes torch's defaults (a float literal's dtype then depends on them)."""
    import ast
    import json
    try:
        with open(path, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
        sources = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                   for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
        cell = next(c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"
                    and ((c.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") == name)
        source = cell.get("source", "")
        tree = ast.parse("".join(source) if isinstance(source, list) else str(source))
    except Exception:
        return None
    if not (len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
            and [type(t) for t in tree.body[0].targets] == [ast.Name] and tree.body[0].targets[0].id == name):
        return None
    value = tree.body[0].value
    torch_calls = not any("set_default_" in s for s in sources)
    if not _written_down(value, torch_calls):
        return None
    try:      # the expression names nothing but torch (checked above)
        return (eval(compile(ast.Expression(value), "<answer>", "eval"), {"torch": torch}),)
    except Exception:
        return None       # running the notebook reports it as that cell's error


def notebook_answer(ctx, notebook, name):
    """Record the value the submitted notebook's answer cell of `name` binds: the one it writes down,
    or the one it computes when the notebook runs up to it."""
    record_ = record                  # bound before the notebook's code runs
    path = os.path.join(ctx.submission, notebook)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the submission has no {notebook}")
    if path not in _NOTEBOOK:         # once the notebook has run, its cells might have changed torch
        written = _answer_as_written(path, name)
        if written is not None:
            return {"value": record_(written[0])}
    namespace, errors = _run_notebook(path, until=name)
    if name not in namespace:
        own = [e for e in errors if e.startswith(f"cell {_answer_cell(path, name)}:")]
        raise NameError(f"the notebook never set `{name}`: its answer cell must assign it (`{name} = ...`)"
                        + (f"; that cell raised {own[0].split(': ', 1)[1]}" if own else ""))
    return {"value": record_(namespace[name])}
