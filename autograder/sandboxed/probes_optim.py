"""Lesson 07's observations: the student's SGD stepping a fixture model, and a ModelEMA following one.

Every step's parameters and momentum buffers are recorded; the trusted judge replays the same steps
with torch.optim.SGD (and torch's AveragedModel, or the ramp's reference) and compares.
"""
import sys
from collections import defaultdict

import torch

import fixtures
from probes import DETACH, CLONE, GRAD, TENSOR, VERSION, backward, error_text, record, record_series
from probes_modules import (INSTANCE_DICT, OPTIMIZER_DICT, SEED, SET_GRAD, SGD, TO, module_state, parameters,
                            qualname, train_step)

# torch's SGD and its functional form live in this file: code from it running inside the student's
# step means the exercise was delegated, whatever name or alias reached it.
TORCH_SGD_FILE = "optim/sgd.py"
GET_PROFILE, SET_PROFILE = sys.getprofile, sys.setprofile
ZERO_ = torch._C.TensorBase.zero_
# self.state is read through dict's own get, and only when it is the dict or defaultdict(dict) that
# Optimizer makes: a subclass could answer .get(p) with buffers kept elsewhere (state_dict() would
# then save nothing of them).
DICT_GET = dict.get


def _place(net, device, dtype):
    TO(net, torch.device(device))
    TO(net, getattr(torch, dtype))
    return net


def _groups(net, groups):
    return fixtures.param_groups(parameters(net), groups)


def _state(optimizer, _vars=OPTIMIZER_DICT, _type=type):
    """The optimizer's self.state if it is a plain dict (or Optimizer's defaultdict), else None."""
    state = DICT_GET(_vars(optimizer), "state")
    kind = _type(state)
    return state if kind is dict or kind is defaultdict else None   # `is`: a metaclass may define ==


def _buffers(optimizer, named, _type=type, _dict=dict):
    state = _state(optimizer)
    found = []
    for _, p in named:
        entry = DICT_GET(state, p) if state is not None else None
        buf = DICT_GET(entry, "momentum_buffer") if _type(entry) is _dict else None
        found.append(CLONE(DETACH(buf)) if _type(buf) is TENSOR else None)
    return found


def _same(a, b):
    """Elementwise equal, NaN equal to NaN (a diverging run has NaN gradients)."""
    return bool((a.eq(b) | (a.ne(a) & b.ne(b))).all())


def _by_parameter(steps):
    """Per-step lists of tensors as one series per parameter (probes.record_series)."""
    return [record_series([step[i] for step in steps]) for i in range(len(steps[0]))] if steps else []


def sgd_run(ctx, target, model, x, y, options, steps, seed=0, groups=None, lr_factors=None, add_group=None,
            reload_at=None, closure=False, device="cpu", dtype="float32", zero_in_place=False):
    """target(groups, **options) on a fixture model, then `steps` training steps on fixtures.mse; after
    each, every parameter, its _version and its momentum buffer (params and buffers: one series per
    parameter, each entry a step). Options: an lr schedule (a factor per step on each
    group's first lr, as schedulers do), a group added at a step, a reload through state_dict() into
    a new optimizer at a step, step(closure), gradients zeroed in place between steps (as
    zero_grad(set_to_none=False) does: backward then adds into the same .grad tensors, so a
    momentum buffer that is the gradient tensor itself rather than a copy changes with them)."""
    cls = ctx.resolve(target)
    SEED(seed)
    net = _place(fixtures.MODELS[model](), device, dtype)
    named = parameters(net)
    out = {"call_error": None, "mro": [], "params": [], "versions": [], "buffers": [], "returned": [],
           "step_error": None, "delegated": [], "unhooked": False, "state_type": None, "grad_changed": []}
    try:
        optimizer = cls(_groups(net, groups), **options)
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        return out
    out["mro"] = [qualname(c) for c in type.mro(type(optimizer))]
    delegated = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.replace("\\", "/").endswith(TORCH_SGD_FILE):
            delegated.add(frame.f_code.co_name)

    def loss_and_backward():
        for _, p in named:
            grad = GRAD(p) if zero_in_place else None
            if grad is not None:
                ZERO_(grad)
            else:
                SET_GRAD(p, None)
        loss = fixtures.mse(net(x), y)
        backward(loss, torch.ones_like(loss))
        return loss

    params, buffers = [], []
    try:
        first_lrs = [g["lr"] for g in optimizer.param_groups]
        for t in range(steps):
            if add_group is not None and t == add_group["at"]:
                optimizer.add_param_group(_groups(net, [add_group["group"]])[0])
                first_lrs.append(add_group["group"]["lr"])
            if reload_at is not None and t == reload_at:
                saved = optimizer.state_dict()
                optimizer = cls(_groups(net, groups), **options)
                optimizer.load_state_dict(saved)
            if lr_factors is not None:
                for group, lr in zip(optimizer.param_groups, first_lrs):
                    group["lr"] = lr * lr_factors[t]
            if not closure:
                loss_and_backward()
            grads = [(name, GRAD(p), CLONE(DETACH(GRAD(p))) if GRAD(p) is not None else None) for name, p in named]
            SET_PROFILE(profile)
            try:
                returned = optimizer.step(loss_and_backward) if closure else optimizer.step()
            finally:
                out["unhooked"] = out["unhooked"] or GET_PROFILE() is not profile
                SET_PROFILE(None)
            if closure:
                out["returned"].append(float(returned) if type(returned) is TENSOR else record(returned))
            if not closure:
                # torch's step reads .grad and never writes it: the caller's gradient must survive the step.
                for (name, before, value), (_, p) in zip(grads, named):
                    now = GRAD(p)
                    if value is not None and name not in out["grad_changed"] and (
                            now is not before or not _same(DETACH(now), value)):
                        out["grad_changed"].append(name)
            params.append([CLONE(DETACH(p)) for _, p in named])
            out["versions"].append([VERSION(p) for _, p in named])
            buffers.append(_buffers(optimizer, named))
            if _state(optimizer) is None and out["state_type"] is None:
                out["state_type"] = qualname(type(DICT_GET(OPTIMIZER_DICT(optimizer), "state")))
    except NotImplementedError:
        raise
    except Exception as e:
        out["step_error"] = f"step {len(params)}: {error_text(e)}"
    out["params"], out["buffers"] = _by_parameter(params), _by_parameter(buffers)
    out["delegated"] = sorted(delegated)
    return out


def sgd_errors(ctx, target, settings, options=()):
    """Construct target([p], **kwargs) for each setting; record the exception's type (None: no error).
    With options, also target([p]) with no arguments: its first group's value of each option (the
    defaults), or the error that building it raised."""
    cls = ctx.resolve(target)
    raised, defaults = [], None
    if options:
        try:
            group = cls([torch.zeros(2, requires_grad=True)]).param_groups[0]
            defaults = {name: record(group[name]) if name in group else "missing" for name in options}
        except NotImplementedError:
            raise
        except Exception as e:
            defaults = error_text(e)
    for kwargs in settings:
        try:
            cls([torch.zeros(2, requires_grad=True)], **kwargs)
            raised.append(None)
        except NotImplementedError:
            raise
        except Exception as e:
            raised.append(type(e).__name__)
    return {"raised": raised, "defaults": defaults}


def ema_run(ctx, target, model, x, y, decay, tau, steps, seed=0, lr=0.1, device="cpu", update_other=False):
    """ModelEMA(model, decay, tau) on a fixture model trained by torch's SGD; after each training step,
    update(model); record the averaged copy's state and `updates` each time. With update_other, the
    model trained and passed to update is another instance of the same net, built from the same seed
    (so the same starting weights) as the one ModelEMA was built from: update must average the model
    it is given."""
    cls = ctx.resolve(target)
    SEED(seed)
    net = _place(fixtures.MODELS[model](), device, "float32")
    trained = net
    if update_other:
        SEED(seed)
        trained = _place(fixtures.MODELS[model](), device, "float32")
    named = parameters(trained)
    optimizer = SGD([p for _, p in named], lr=lr, momentum=0.9)
    out = {"call_error": None, "same_object": False, "is_module": False, "source_training": None,
           "states": [], "updates": [], "source_changed": False, "step_error": None}
    try:
        ema = cls(net, decay=decay, tau=tau)
        averaged = getattr(ema, "module", None)
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        return out
    out["source_training"] = bool(INSTANCE_DICT(net).get("training"))
    out["same_object"] = averaged is net
    out["is_module"] = isinstance(averaged, torch.nn.Module)
    if not out["is_module"]:
        return out
    out["states"].append(module_state(averaged))
    out["updates"].append(record(getattr(ema, "updates", None)))
    try:
        for _ in range(steps):
            train_step(trained, x, y, optimizer)
            before = [CLONE(DETACH(p)) for _, p in named]
            ema.update(trained)
            out["source_changed"] |= any(not bool(DETACH(p).eq(b).all()) for (_, p), b in zip(named, before))
            out["states"].append(module_state(getattr(ema, "module", None)))
            out["updates"].append(record(getattr(ema, "updates", None)))
    except NotImplementedError:
        raise
    except Exception as e:
        out["step_error"] = f"update {len(out['states'])}: {error_text(e)}"
    return out
