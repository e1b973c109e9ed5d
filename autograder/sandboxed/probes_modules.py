"""Lessons 06–07's observations: a module built and run, frozen, checkpointed; an optimizer stepped; an EMA updated.

What a module holds is read from its registries (`_parameters`, `_buffers`, `_modules`: the instance
dicts nn.Module itself walks), with nn.Module's own functions bound here before any student code
runs, never through methods the student's class could override. As everywhere in the sandbox, this
only records; the trusted judge builds torch's reference and decides.
"""
import os

import torch

import fixtures
from probes import DETACH, CLONE, GRAD, REQUIRES_GRAD, TENSOR, OpLog, _fresh, backward, error_text, record

_BASE = torch._C.TensorBase
SET_GRAD = vars(_BASE)["grad"].__set__
MODULE = torch.nn.Module
STATE_DICT, TRAIN, TO = MODULE.state_dict, MODULE.train, MODULE.to
# An instance's own dict, read through the descriptor nn.Module (and Optimizer) got from `type`: a
# student's class that defines a `__dict__` property can fool vars(), not these.
INSTANCE_DICT = MODULE.__dict__["__dict__"].__get__
OPTIMIZER = torch.optim.Optimizer
OPTIMIZER_DICT = OPTIMIZER.__dict__["__dict__"].__get__
SGD, SGD_STEP = torch.optim.SGD, torch.optim.SGD.step
OPT_STATE_DICT = OPTIMIZER.state_dict
SEED = torch.manual_seed
SAVE = torch.save
NO_GRAD = torch.no_grad


def qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def module_state(module, prefix="", out=None, _vars=INSTANCE_DICT, _type=type, _dict=dict, _record=record):
    """The module tree as torch sees it: parameters and buffers by dotted name (in state_dict order),
    which buffers are persistent, each sub-module's class and training flag."""
    if out is None:
        out = {"parameters": {}, "buffers": {}, "persistent": {}, "types": {}, "training": {}}
    d = _vars(module)
    params, buffers, children = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
    if _type(params) is not _dict or _type(buffers) is not _dict or _type(children) is not _dict:
        raise TypeError("a module's _parameters / _buffers / _modules are not plain dicts")
    here = prefix[:-1]
    out["types"][here] = qualname(_type(module))
    out["training"][here] = bool(d.get("training"))
    for name, p in list(params.items()):
        if p is not None:
            out["parameters"][prefix + name] = _record(p)
    hidden = d.get("_non_persistent_buffers_set") or set()
    for name, b in list(buffers.items()):
        if b is not None:
            out["buffers"][prefix + name] = _record(b)
            out["persistent"][prefix + name] = name not in hidden
    for name, child in list(children.items()):
        if child is not None:
            module_state(child, prefix + name + ".", out)
    return out


def parameters(module, _vars=INSTANCE_DICT):
    """(name, parameter) pairs from the registries, in registration order, each parameter once."""
    found, seen, stack = [], set(), [("", module)]
    while stack:
        prefix, m = stack.pop()
        d = _vars(m)
        for name, p in list(d["_parameters"].items()):
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                found.append((prefix + name, p))
        stack.extend(reversed([(prefix + n + ".", c) for n, c in d["_modules"].items() if c is not None]))
    return found


def _state_dict(module):
    return {"keys": list(STATE_DICT(module).keys())}


def _step(module, step, log):
    """One scripted step on a built module; returns its record."""
    kind = step[0]
    if kind == "forward":
        _, x, x_kind, grad_output = step
        (arg,), (leaf,) = _fresh([x], [x_kind])
        for _, p in parameters(module):
            SET_GRAD(p, None)
        with log:
            y = module(arg)
        rec = {"output": record(y)}
        if grad_output is not None and type(y) is TENSOR and REQUIRES_GRAD(y):
            backward(y, grad_output)
            rec["grads"] = {name: record(GRAD(p)) if GRAD(p) is not None else None for name, p in parameters(module)}
            rec["input_grad"] = record(GRAD(leaf)) if leaf is not None and GRAD(leaf) is not None else None
    elif kind == "train":
        TRAIN(module, step[1])
        rec = {}
    elif kind == "to":
        target = step[1]
        TO(module, getattr(torch, target) if target in ("float64", "float32") else torch.device(target))
        rec = {}
    else:
        raise ValueError(f"unknown step {kind!r}")
    rec["state"] = module_state(module)
    return rec


def module_run(ctx, target, args=(), kwargs=None, script=(), seed=0, attributes=()):
    """Build target(*args, **kwargs) under torch.manual_seed(seed), then run the script's steps
    ("forward", x, kind, grad_output) / ("train", mode) / ("to", dtype or device), recording after each.
    attributes: names of plain instance attributes to record as built (those it has)."""
    log = OpLog()
    fn = ctx.resolve(target)
    SEED(seed)
    out = {"call_error": None, "is_module": False, "mro": [], "built": None, "state_dict": None, "steps": [],
           "step_error": None, "ops": []}
    try:
        with log:
            module = fn(*args, **(kwargs or {}))
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        out["ops"] = sorted(log.ops)
        return out
    out["is_module"] = isinstance(module, MODULE)
    out["mro"] = [qualname(c) for c in type.mro(type(module))]
    if not out["is_module"]:
        return out
    out["built"] = module_state(module)
    out["state_dict"] = _state_dict(module)
    if attributes:
        own = INSTANCE_DICT(module)
        out["attributes"] = {name: record(own[name]) for name in attributes if name in own}
    for step in script:
        try:
            out["steps"].append(_step(module, step, log))
        except NotImplementedError:
            raise
        except Exception as e:
            out["step_error"] = f"{step[0]}: {error_text(e)}"
            break
    out["ops"] = sorted(log.ops)
    return out


def train_step(model, x, y, optimizer):
    """One training step of torch's own SGD on fixtures.mse (bound here: the student's code is not in it)."""
    for _, p in parameters(model):
        SET_GRAD(p, None)
    loss = fixtures.mse(model(x), y)
    backward(loss, torch.ones_like(loss))
    SGD_STEP(optimizer)
    return float(loss)


def freeze_run(ctx, target, model, names, seed=0, frozen_before=(), x=None, y=None):
    """Call target(model, names) on a fixture model (some parameters frozen beforehand), then one
    backward of the loss: record which parameters require grad, which got a gradient, and its value."""
    fn = ctx.resolve(target)
    SEED(seed)
    net = fixtures.MODELS[model]()
    for name, p in parameters(net):
        if name in frozen_before:
            p.requires_grad_(False)
    before = {name: CLONE(DETACH(p)) for name, p in parameters(net)}
    try:
        returned = fn(net, list(names))
    except NotImplementedError:
        raise
    except Exception as e:
        # What a raising call left behind, too: a misspelt name must change nothing.
        try:
            after = {name: bool(REQUIRES_GRAD(p)) for name, p in parameters(net)}
        except Exception:
            after = None
        return {"call_error": error_text(e), "requires_grad": after}
    out = {"call_error": None, "returned": record(returned),
           "requires_grad": {name: bool(REQUIRES_GRAD(p)) for name, p in parameters(net)},
           "values": {name: record(p) for name, p in parameters(net)},
           "changed": sorted(name for name, p in parameters(net) if name in before
                             and not bool(DETACH(p).eq(before[name]).all())),
           "names": [name for name, _ in parameters(net)], "backward_error": None, "grads": {}}
    try:
        loss = fixtures.mse(net(x), y)
        backward(loss, torch.ones_like(loss))
    except Exception as e:
        out["backward_error"] = error_text(e)
    out["grads"] = {name: record(GRAD(p)) if GRAD(p) is not None else None for name, p in parameters(net)}
    return out


def checkpoint_run(ctx, model, x, y, seed=0, lr=0.1, momentum=0.9, before=5, after=10, epoch=3,
                   device="cpu", map_location=None, file_bytes=None, marker=None):
    """Train a fixture model with torch's SGD, save_checkpoint, load_checkpoint into a fresh model and
    optimizer, train on; record the losses. With file_bytes, load that file instead (one the grader
    wrote: saved on a GPU, or one that must be refused), and record whether loading ran its code."""
    save, load = ctx.resolve("modules.save_checkpoint"), ctx.resolve("modules.load_checkpoint")
    path = os.path.abspath("checkpoint.pt")
    out = {"call_error": None, "losses_before": [], "losses_after": [], "returned": None, "state": None,
           "optimizer_state": None, "marker_exists": False}

    def fresh(s):
        SEED(s)
        net = fixtures.MODELS[model]()
        TO(net, torch.device(device))
        return net, SGD([p for _, p in parameters(net)], lr=lr, momentum=momentum)

    net, opt = fresh(seed)
    try:
        if file_bytes is None:
            out["losses_before"] = [train_step(net, x, y, opt) for _ in range(before)]
            save(path, net, opt, epoch)
        else:
            with open(path, "wb") as f:
                f.write(bytes(file_bytes.tolist()))
        net, opt = fresh(seed + 1)
        out["returned"] = record(load(path, net, opt, map_location=map_location))
    except NotImplementedError:
        raise
    except BaseException as e:
        out["call_error"] = error_text(e)
    out["marker_exists"] = bool(marker) and os.path.exists(marker)
    if out["call_error"] is not None:
        return out
    out["state"] = module_state(net)
    out["optimizer_state"] = record(OPT_STATE_DICT(opt)["state"])
    out["losses_after"] = [train_step(net, x, y, opt) for _ in range(after)]
    return out
