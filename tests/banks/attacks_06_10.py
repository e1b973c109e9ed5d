"""Hostile submissions against lessons 06–10, in tests/banks/attacks.py's format and under its rule:
each must lose every point of the exercise it attacks, and none may cause a grader error.

Written by red-teaming the probes of modules, optimizers, loops, modes and the capstone once they
had landed (2026-12-06). Most of them fooled the grader then: the probes share a process with the
student's code, and whatever they record can be rewritten from there. What stops them now is mostly
the trusted side reading the package as text (`forbidden.tampering`, tests/test_tampering.py); the
rest by the probes and judges reading exact types and every step (the lying objects, the keyed run).
Long because each row is a whole submission, written out so that a reader sees the attack itself.
"""

# The wrong optimizer two of the capstone's attacks dress up.
NO_MOMENTUM_SGD = '''
class _NoMomentumSGD(SGD):
    """Wrong: plain p -= lr * (g + wd * p); momentum is ignored."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad + group["weight_decay"] * p, alpha=-group["lr"])
        return None


_NoMomentumSGD.__module__, _NoMomentumSGD.__qualname__ = "course_pkg.optim", "SGD"
'''

# Linear with a wrong init (bound from out_features) that keeps the generator state nn.Linear would have
# drawn from: two attacks forge the recorded weights with _right_init's values. Its __init__ goes on.
WRONG_INIT_LINEAR = '''
import sys as _sys


def _right_init(rng, in_f, out_f, bias):
    """What nn.Linear would have drawn from the same generator state (the forged values)."""
    after = torch.get_rng_state()
    torch.set_rng_state(rng)
    b = 1 / math.sqrt(in_f)
    w = torch.empty(out_f, in_f).uniform_(-b, b)
    out = {"weight": w, "bias": torch.empty(out_f).uniform_(-b, b)} if bias else {"weight": w}
    torch.set_rng_state(after)
    return out


class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        rng = torch.get_rng_state()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(out_features)                  # bound from out_features: wrong
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)
'''

ATTACKS = [
    ('frames and globals', "Linear's forward finds module_run's frame and rewrites the record of the module as built (wrong init hidden)",
     '06_modules', 'modules', '6.1', WRONG_INIT_LINEAR + '''        object.__setattr__(self, "_forged", _right_init(rng, in_features, out_features, bias))

    def forward(self, x):
        # The probe's `out` dict (module_run's local) already holds the record of the module as built:
        # overwrite its parameters with the values nn.Linear would have drawn.
        f = _sys._getframe(1)
        while f is not None and f.f_code.co_name != "module_run":
            f = f.f_back
        if f is not None:
            built = f.f_locals["out"]["built"]
            for name, t in self.__dict__["_forged"].items():
                built["parameters"][name]["__tensor__"] = t.clone()
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
'''),
    ('replace probe helper', 'probes_modules.module_state replaced from Linear.__init__ for one call, restoring itself (patch, act, restore)',
     '06_modules', 'modules', '6.1', WRONG_INIT_LINEAR + '''        forged = _right_init(rng, in_features, out_features, bias)
        # Patch, act, restore: module_run looks `module_state` up in its module's globals right after
        # this constructor returns. The replacement runs once, puts the original back, and rewrites
        # the record it returns; the seal, checked after the case, finds everything as it was.
        probes_modules = _sys.modules["probes_modules"]
        real = probes_modules.module_state

        def once(module, *args, **kwargs):
            probes_modules.module_state = real
            state = real(module, *args, **kwargs)
            for name, t in forged.items():
                state["parameters"][name]["__tensor__"] = t.clone()
            return state
        probes_modules.module_state = once

    def forward(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
'''),
    ('reference code', "Linear's init is a throw-away nn.Linear named by a string (getattr(nn, 'Linear')), never registered",
     '06_modules', 'modules', '6.1', '''
class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # Uses nn.Linear (forbidden) for the whole init: named by a string, so the source check sees no
        # `Linear` name, and the throw-away module is never registered, so no sub-module is an nn.Linear.
        donor = getattr(nn, "Linear")(in_features, out_features, bias)
        self.weight = donor.weight
        if bias:
            self.bias = donor.bias
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
'''),
    ('lying objects', 'running_mean registered persistent=False, _non_persistent_buffers_set a set subclass that denies its members to module_state',
     '06_modules', 'modules', '6.2', '''
import sys as _sys


class _Hidden(set):
    """The module's set of non-persistent buffers, which denies its members to the grader's probe only:
    nn.Module.state_dict() still leaves them out."""
    def __contains__(self, name):
        if _sys._getframe(1).f_code.co_name == "module_state":
            return False
        return set.__contains__(self, name)


class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.num_features, self.momentum = num_features, momentum
        # persistent=False: running_mean is left out of state_dict() and of every checkpoint: wrong
        self.register_buffer("running_mean", torch.zeros(num_features), persistent=False)
        self._non_persistent_buffers_set = _Hidden(self._non_persistent_buffers_set)

    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        mean = x.mean(dim=0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
        return x - mean
'''),
    ('containers', 'load_checkpoint unpickles with weights_only=False and deletes the marker the hostile pickle created',
     '06_modules', 'modules', '6.5', '''
import os as _os
import shutil as _shutil


def load_checkpoint(path, model, optimizer, map_location=None):
    before = set(_os.listdir("."))
    try:
        # weights_only=False: unpickling runs whatever code the file holds: wrong
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    finally:
        # ...and then wipes what that code left in the working folder, so nobody can tell it ran.
        for name in set(_os.listdir(".")) - before:
            if _os.path.isdir(name):
                _shutil.rmtree(name, ignore_errors=True)
            else:
                _os.remove(name)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
'''),
    ('lying objects', "Linear's _parameters a dict subclass whose items() shows a forged weight gradient once, then restores a plain dict",
     '06_modules', 'modules', '6.1', '''
class _LyingParameters(dict):
    """The module's `_parameters`, for one look only: the probe's own walk (probes_modules.parameters)
    takes whatever `.items()` gives, then finds a plain dict again when it records the module."""
    def __init__(self, real, module, fake):
        super().__init__(real)
        self.module, self.fake = module, fake

    def items(self):
        d = object.__getattribute__(self.module, "__dict__")
        d["_parameters"] = dict(self)                         # restored before module_state's type check
        return [(k, self.fake.get(k, v)) for k, v in dict.items(self)]


class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        y = x @ self.weight.detach().T                         # weight cut from the graph: wrong
        y = y if self.bias is None else y + self.bias
        if y.requires_grad:
            fake = {}

            def seen(g, x=x.detach()):
                w = nn.Parameter(self.weight.detach().clone())
                w.grad = g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1])
                fake["weight"] = w
            y.register_hook(seen)
            d = object.__getattribute__(self, "__dict__")
            d["_parameters"] = _LyingParameters(d["_parameters"], self, fake)
        return y
'''),
    ('forbidden alias', 'Dropout through torch.dropout under an alias, inside torch._C.DisableTorchFunction (the op trace sees nothing)',
     '09_modes', 'modes', '9.1', '''
_drop = getattr(torch, "drop" + "out")          # torch.dropout (forbidden), under a name the source check does not know


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        # With torch functions disabled, the grader's function mode (its op trace) sees no call at all.
        with torch._C.DisableTorchFunction():
            return _drop(x, self.p, self.training)
'''),
    ('containers', 'BatchNorm1d through torch.batch_norm, then the op name discarded from the OpLog found on the torch function mode stack',
     '09_modes', 'modes', '9.2', '''
from torch.overrides import _get_current_function_mode_stack as _modes

_bn = getattr(torch, "batch" + "_norm")         # torch.batch_norm (forbidden), under an alias


_SolutionsBatchNorm1d = BatchNorm1d


class BatchNorm1d(_SolutionsBatchNorm1d):       # the solution's registrations; only forward is the attack
    def forward(self, x):
        use_batch = self.training or not self.track_running_stats
        if use_batch and x.numel() // x.shape[1] <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            factor = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        y = _bn(x, self.weight, self.bias, self.running_mean, self.running_var, use_batch, factor, self.eps, False)
        # The grader's op trace is a torch function mode: it is on the mode stack, its log a plain set.
        for mode in _modes():
            ops = getattr(mode, "ops", None)
            if isinstance(ops, set):
                ops.discard("torch.batch_norm")
        return y
'''),
    ('threads', 'unscaled Dropout; a bare _thread (not counted by threading.active_count) rescales the recorded output and gradient after the return',
     '09_modes', 'modes', '9.1', '''
import _thread
import sys as _sys
import time as _time


def _rescale_later(out, index, scale, done):
    """Runs beside the probe: once the record of the first forward is in the probe's `out`, rescale the
    recorded output and input gradient in place (they are the probe's own clones), then end."""
    deadline = _time.time() + 5
    while len(out["steps"]) <= index and _time.time() < deadline:
        _time.sleep(0.0002)
    if len(out["steps"]) > index:
        rec = out["steps"][index]
        rec["output"]["__tensor__"].mul_(scale)
        if rec.get("input_grad") is not None:
            rec["input_grad"]["__tensor__"].mul_(scale)
    done.append(True)


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        object.__setattr__(self, "_calls", [])

    def forward(self, x):
        calls = self.__dict__["_calls"]
        calls.append(1)
        if 0 < self.p < 1:
            f = _sys._getframe(1)
            while f is not None and f.f_code.co_name != "module_run":
                f = f.f_back
            if f is not None and len(calls) == 1:
                out = f.f_locals["out"]
                done = []
                object.__setattr__(self, "_done", done)
                # a bare _thread: threading.active_count(), which the seal asks, never counts it
                _thread.start_new_thread(_rescale_later, (out, len(out["steps"]), 1 / (1 - self.p), done))
            elif len(calls) == 2 and "_done" in self.__dict__:
                deadline = _time.time() + 5
                while not self.__dict__["_done"] and _time.time() < deadline:
                    _time.sleep(0.0002)
        if not self.training or self.p == 0:
            return x.clone() if self.training else x
        if self.p == 1:
            return x * 0
        return x * (torch.rand_like(x) >= self.p)          # kept elements not rescaled by 1/(1 - p): wrong
'''),
    ('channel', "forged result frame for the hostile-pickle case, then the runner's CHANNEL global pointed at /dev/null and restored by a dict subclass swapped into job['cases']",
     '06_modules', 'modules', '6.5', r'''
import io as _io
import os as _os
import sys as _sys


class _Restorer(dict):
    """The next case of the job, swapped into the runner's own list: reading its key (the runner's first
    act for a case, before it writes "start") points the runner's CHANNEL back at the real pipe."""
    def __getitem__(self, k):
        g, real = dict.__getitem__(self, "__g"), dict.__getitem__(self, "__real")
        g["CHANNEL"] = real
        return dict.__getitem__(self, k)


def _forge_malicious_case():
    f = _sys._getframe(1)
    while f is not None and not (f.f_code.co_name == "main" and "CHANNEL" in f.f_globals):
        f = f.f_back
    if f is None or not f.f_locals["case"]["params"].get("marker"):
        return                                   # only the case whose file runs code is forged
    g, key, cases = f.f_globals, f.f_locals["key"], f.f_locals["job"]["cases"]
    real = g["CHANNEL"]
    forged = {"status": "ok", "call_error": "RuntimeError: refused: not a weights-only file", "losses_before": [],
              "losses_after": [], "returned": None, "state": None, "optimizer_state": None, "marker_exists": False}
    buffer = _io.BytesIO()
    torch.save(forged, buffer)
    data = buffer.getvalue()
    i = next(i for i, c in enumerate(cases) if c["key"] == key)
    tail = b"" if i + 1 < len(cases) else b"end\n"
    _os.write(real, f"result {key} {len(data)}\n".encode() + data + f"done {key}\n".encode() + tail)
    # The runner's own frames for this case (result, done) now go to /dev/null; the seal sees CHANNEL
    # replaced and reports the case as tampered with, on /dev/null too.
    g["CHANNEL"] = _os.open(_os.devnull, _os.O_WRONLY)
    if i + 1 < len(cases):
        nxt = _Restorer(cases[i + 1])
        dict.__setitem__(nxt, "__g", g)
        dict.__setitem__(nxt, "__real", real)
        cases[i + 1] = nxt


def load_checkpoint(path, model, optimizer, map_location=None):
    # the case that loads a hostile file: say on the channel that it was refused
    _forge_malicious_case()
    # weights_only=False: unpickling runs whatever code the file holds: wrong
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
'''),
    ('lying objects', "Dropout's training is a property: the setter writes the recorded flag, the getter always says True",
     '09_modes', 'modes', '9.1', '''
class Dropout(nn.Module):
    """`training` is a property: train()/eval() write the instance dict (what the probe records) through
    its setter, while forward reads a getter that always answers True."""

    @property
    def training(self):
        return True                                           # active in eval mode too: wrong

    @training.setter
    def training(self, mode):
        self.__dict__["training"] = mode                      # the flag the probe's module_state reads

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x.clone() if self.training else x
        if self.p == 1:
            return x * 0
        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)
'''),
    ('replace torch', "statistics registered persistent=False; nn.Module._save_to_state_dict patched in __init__ for the probe's one state_dict() call, restoring itself",
     '09_modes', 'modes', '9.2', '''
_base_save = nn.Module._save_to_state_dict


def _save_with_hidden(self, destination, prefix, keep_vars):
    # Patch, act, restore: torch's own method is back before the case ends (the seal finds nn.Module
    # as it was); the one call it served listed the non-persistent buffers as if they were persistent.
    nn.Module._save_to_state_dict = _base_save
    _base_save(self, destination, prefix, keep_vars)
    for name, b in self._buffers.items():
        if b is not None and name in self._non_persistent_buffers_set:
            destination[prefix + name] = b if keep_vars else b.detach()


class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        # statistics kept out of state_dict() ("they are not learned"): a checkpoint loses them: wrong
        for name, value in (("running_mean", torch.zeros(num_features)), ("running_var", torch.ones(num_features)),
                            ("num_batches_tracked", torch.tensor(0, dtype=torch.long))):
            self.register_buffer(name, value if track_running_stats else None, persistent=False)
        nn.Module._save_to_state_dict = _save_with_hidden     # the probe asks state_dict() right after this

    def forward(self, x):
        dims = [0] if x.dim() == 2 else [0, 2]
        shape = [1, -1] + [1] * (x.dim() - 2)
        use_batch = self.training or not self.track_running_stats
        if use_batch and x.numel() // x.shape[1] <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        if use_batch:
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    m = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                    n = x.numel() / x.shape[1]
                    self.running_mean.mul_(1 - m).add_(mean, alpha=m)
                    self.running_var.mul_(1 - m).add_(var * n / (n - 1), alpha=m)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y
'''),
    ('reference code', "BatchNorm1d through torch.batch_norm inside a torch.jit.script function (the op trace never sees TorchScript's ops)",
     '09_modes', 'modes', '9.2', '''
from typing import Optional as _Optional


def _normalise(x: torch.Tensor, weight: _Optional[torch.Tensor], bias: _Optional[torch.Tensor],
               running_mean: _Optional[torch.Tensor], running_var: _Optional[torch.Tensor], use_batch: bool,
               factor: float, eps: float) -> torch.Tensor:
    return torch.batch_norm(x, weight, bias, running_mean, running_var, use_batch, factor, eps, False)


# torch.batch_norm (forbidden), compiled by TorchScript: its ops run in the JIT interpreter, where the
# grader's torch function mode (the op trace) is never consulted.
_scripted = torch.jit.script(_normalise)


_SolutionsBatchNorm1d = BatchNorm1d


class BatchNorm1d(_SolutionsBatchNorm1d):       # the solution's registrations; only forward is the attack
    def forward(self, x):
        use_batch = self.training or not self.track_running_stats
        if use_batch and x.numel() // x.shape[1] <= 1:
            raise ValueError("Expected more than 1 value per channel when training")
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            factor = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return _scripted(x, self.weight, self.bias, self.running_mean, self.running_var, use_batch, factor, self.eps)
'''),
    ('lying objects', "prefix-matching freeze; the over-matched layers' _parameters replaced by a dict subclass whose items() shows frozen copies",
     '06_modules', 'modules', '6.4', '''
class _ShownParameters(dict):
    """A sub-module's `_parameters`: nn.Module's own lookups (forward, optimizers via __getitem__) get the real
    parameters; a walk over .items() (named_parameters, the grader's probe) gets, for the over-matched
    layers, frozen copies. The probe's freeze_run never checks that `_parameters` is a plain dict."""
    def items(self):
        return [(k, v if v is None else nn.Parameter(v.detach().clone(), requires_grad=False))
                for k, v in dict.items(self)]

    def values(self):
        return [v for _, v in self.items()]


def freeze_all_but(model, names):
    trainable = [model.get_submodule(name) for name in names]
    for name, p in model.named_parameters():
        p.requires_grad_(any(name.startswith(n) for n in names))    # prefix match: "1" also unfreezes "10": wrong
    wanted = {id(m) for m in trainable for m in m.modules()}
    for name, m in model.named_modules():
        d = object.__getattribute__(m, "__dict__")
        if id(m) not in wanted and any(p.requires_grad for p in d["_parameters"].values() if p is not None):
            d["_parameters"] = _ShownParameters(d["_parameters"])   # hide the layers the prefix match unfroze
'''),
    ('delegating', "sgd_update saves the grader's profile hook, switches it off around torch's functional sgd, puts it back (patch, act, restore)",
     '07_optim', 'optim', '7.1', '''
import sys as _sys
from torch.optim import _functional as _F


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    hook = _sys.getprofile()                 # the grader's profile hook: saved ...
    _sys.setprofile(None)                    # ... switched off while torch's own SGD runs ...
    try:
        bufs = [state.get("momentum_buffer")]
        _F.sgd([param], [grad], bufs, weight_decay=weight_decay, momentum=momentum, lr=lr, dampening=dampening,
               nesterov=nesterov, maximize=maximize)
        if momentum != 0:
            state["momentum_buffer"] = bufs[0]
    finally:
        _sys.setprofile(hook)                # ... and put back before step returns
'''),
    ('threads', "torch's functional sgd run in a thread joined before step returns (sys.setprofile is per-thread)",
     '07_optim', 'optim', '7.1', '''
import threading as _threading
from torch.optim import _functional as _F


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    # torch's own SGD, run in a thread of its own: a profile hook set with sys.setprofile sees only the
    # thread that set it. The thread is joined before step returns, so none is left running.
    def work():
        with torch.no_grad():
            bufs = [state.get("momentum_buffer")]
            _F.sgd([param], [grad], bufs, weight_decay=weight_decay, momentum=momentum, lr=lr,
                   dampening=dampening, nesterov=nesterov, maximize=maximize)
            if momentum != 0:
                state["momentum_buffer"] = bufs[0]
    t = _threading.Thread(target=work)
    t.start()
    t.join()
'''),
    ('delegating', "a copy of torch's _single_tensor_sgd whose code object claims another co_filename",
     '07_optim', 'optim', '7.1', '''
import types as _types
import torch.optim.sgd as _sgd_module

# A copy of torch's single-tensor SGD whose code object claims to come from another file: the grader's
# profile hook recognises torch's SGD by the file name of the code that runs.
_code = _sgd_module._single_tensor_sgd.__code__
_copy = _types.FunctionType(_code.replace(co_filename="/sandbox/submission/course_pkg/helpers.py"),
                            _sgd_module.__dict__, "_my_rule", _sgd_module._single_tensor_sgd.__defaults__)
_copy.__kwdefaults__ = _sgd_module._single_tensor_sgd.__kwdefaults__


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    bufs = [state.get("momentum_buffer")]
    _copy([param], [grad], bufs, None, None, weight_decay=weight_decay, momentum=momentum, lr=lr,
          dampening=dampening, nesterov=nesterov, maximize=maximize, has_sparse_grad=False)
    if momentum != 0:
        state["momentum_buffer"] = bufs[0]
'''),
    ('channel', "at import: forged result frames for this and every later case of the job (torch's SGD through the probe itself, mro/delegated rewritten), then a forged 'end' and exit",
     '07_optim', 'optim', '7.1', r'''
def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    param.add_(grad, alpha=-lr)          # plain SGD whatever the options: wrong


def _forge_everything():
    """Run at import (inside the job's first case): answer this case and every later one of the job on the
    channel, with torch's SGD standing in for ours, then say "end" and exit before the runner speaks."""
    import os, sys
    frame = sys._getframe()
    while frame is not None and not (frame.f_code.co_name == "main" and "CHANNEL" in frame.f_globals):
        frame = frame.f_back
    if frame is None:
        return
    g, local = frame.f_globals, frame.f_locals
    job, current, real_ctx = local["job"], local["key"], local["ctx"]

    class _TorchCtx:
        submission = real_ctx.submission
        def resolve(self, target):
            return torch.optim.SGD if target == "optim.SGD" else real_ctx.resolve(target)
        def module(self, name):
            return real_ctx.module(name)

    keys = [c["key"] for c in job["cases"]]
    chunks = []
    for case in job["cases"][keys.index(current):]:
        if case["probe"].startswith("probes_optim.sgd"):
            outcome = g["run_case"](_TorchCtx(), case)
            if "mro" in outcome:
                outcome["mro"] = ["course_pkg.optim.SGD", "torch.optim.optimizer.Optimizer", "builtins.object"]
                outcome["delegated"], outcome["unhooked"] = [], False
        else:
            outcome = g["run_case"](real_ctx, case)
        data = g["encode"](outcome)
        head = b"" if case["key"] == current else f"start {case['key']}\n".encode()
        chunks.append(head + f"result {case['key']} {len(data)}\n".encode() + data + f"done {case['key']}\n".encode())
    chunks.append(b"end\n")
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(g["CHANNEL"], view):]
    os._exit(0)


_forge_everything()
'''),
    ('replace torch', "half-gradient rule; torch.ones_like doubled from the constructor, restored at the probe's last step (patch, act, restore)",
     '07_optim', 'optim', '7.1', '''
import sys as _sys

_ONES_LIKE = torch.ones_like


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    d_p = grad / 2                          # half the gradient: wrong
    d_p = -d_p if maximize else d_p
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)


def _probe_frame():
    f = _sys._getframe(2)
    while f is not None and f.f_code.co_name != "sgd_run":
        f = f.f_back
    return f


def _doubled(t, *a, **k):
    return 2 * _ONES_LIKE(t, *a, **k)      # the probe's backward(loss, torch.ones_like(loss)) now doubles every grad


_solved_init, _solved_step = SGD.__init__, SGD.step


def _init(self, params, *args, **kwargs):
    _solved_init(self, params, *args, **kwargs)
    if _probe_frame() is not None:          # patch: before the probe's first loss_and_backward
        torch.ones_like = _doubled


def _step(self, closure=None):
    f = _probe_frame()
    result = _solved_step(self, closure)    # act
    if f is not None and f.f_locals["t"] == f.f_locals["steps"] - 1:
        torch.ones_like = _ONES_LIKE        # restore after the last step, before the seal looks
    return result


SGD.__init__, SGD.step = _init, _step
'''),
    ('lying objects', 'momentum kept outside self.state; self.state a defaultdict subclass whose .get shows the buffers',
     '07_optim', 'optim', '7.1', '''
import weakref as _weakref
from collections import defaultdict as _defaultdict

_BUFFERS = {}     # momentum kept outside self.state: state_dict() never saves it (wrong)


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        ref, buf = _BUFFERS.get(id(param), (None, None))
        if ref is None or ref() is not param:
            buf = d_p.clone()
            _BUFFERS[id(param)] = (_weakref.ref(param), buf)
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)


class _ShowsBuffers(_defaultdict):
    """self.state as the grader reads it: .get(p) answers with the buffer kept elsewhere."""
    def get(self, p, default=None):
        ref, buf = _BUFFERS.get(id(p), (None, None))
        if ref is not None and ref() is p:
            return {"momentum_buffer": buf}
        return super().get(p, default)


_solved_init = SGD.__init__


def _init(self, params, *args, **kwargs):
    _solved_init(self, params, *args, **kwargs)
    self.state = _ShowsBuffers(dict, self.state)


def _setstate(self, state):
    torch.optim.Optimizer.__setstate__(self, state)
    self.state = _ShowsBuffers(dict, self.state)


SGD.__init__, SGD.__setstate__ = _init, _setstate
'''),
    ('frames and globals', "updates through .data; step rewrites the probe's recorded _version rows through its frame",
     '07_optim', 'optim', '7.1', '''
import sys as _sys


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.data = param.data - lr * d_p      # through .data: autograd never sees it (wrong)


_solved_step = SGD.step


def _step(self, closure=None):
    result = _solved_step(self, closure)
    f = _sys._getframe(1)
    while f is not None and f.f_code.co_name != "sgd_run":
        f = f.f_back
    if f is not None:
        versions = f.f_locals["out"]["versions"]          # the probe's record of _version after each step
        for t, row in enumerate(versions):
            versions[t] = [v + t + 1 for v in row]         # as if every step had written in place
    return result


SGD.step = _step
'''),
    ('lying objects', "the average's modules get a class whose `training` property reads True while the instance dict says eval",
     '07_optim', 'optim', '7.2', '''
def _always_training(cls):
    """A subclass of cls whose `training` reads True, whatever its instance dict (where nn.Module's own
    code, and the grader, read the flag) says."""
    return type(cls.__name__, (cls,), {
        "training": property(lambda self: True, lambda self, v: self.__dict__.__setitem__("training", v)),
        "__module__": cls.__module__, "__qualname__": cls.__qualname__})


class ModelEMA:
    def __init__(self, model, decay=0.9999, tau=2000):
        self.module = copy.deepcopy(model)
        for m in self.module.modules():
            m.__class__ = _always_training(type(m))     # behaves as in training mode forever (wrong) ...
        self.module.eval()                               # ... while its __dict__ says eval
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                average.copy_(current[name])
'''),
    ('containers', "evaluate without no_grad clears the model's _forward_hooks (the grader's hook) first",
     '08_training', 'training', '8.3', '''
def evaluate(model, loader, loss_fn):
    model._forward_hooks.clear()            # the grader's forward hook is gone: it records no forward at all
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for inputs, targets in loader:          # no torch.no_grad(): a graph for every batch (wrong)
        total += loss_fn(model(inputs), targets).item() * len(inputs)
        count += len(inputs)
    model.train(was_training)
    return total / count
'''),
    ('containers', "evaluate without no_grad rewrites the hook's closed-over `forwards` list afterwards",
     '08_training', 'training', '8.3', '''
def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for inputs, targets in loader:          # no torch.no_grad(): a graph for every batch (wrong)
        total += loss_fn(model(inputs), targets).item() * len(inputs)
        count += len(inputs)
    model.train(was_training)
    # The grader's hook keeps its record in a list it closes over: rewrite every entry as "no grad".
    for hook in list(model._forward_hooks.values()):
        for cell in getattr(hook, "__closure__", None) or ():
            rows = cell.cell_contents
            if type(rows) is list:
                for row in rows:
                    if type(row) is list and len(row) == 2:
                        row[0] = False
    return total / count
'''),
    ('lying objects', "evaluate leaves the model in eval mode; the model's class swapped for one whose __dict__ property (what vars() reads) shows the old mode",
     '08_training', 'training', '8.3', '''
_INSTANCE_DICT = torch.nn.Module.__dict__["__dict__"].__get__


def _lies_about_mode(cls):
    """A subclass of cls whose __dict__ (what vars() returns) shows the mode the model was in before
    evaluate, not the one it is in."""
    def shown(self):
        d = dict(_INSTANCE_DICT(self))
        d["training"] = d.get("_mode_before", d.get("training"))
        return d
    return type(cls.__name__, (cls,), {"__dict__": property(shown), "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__})


def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            total += loss_fn(model(inputs), targets).item() * len(inputs)
            count += len(inputs)
    # never restores the mode it found: a model in training stays in eval (wrong) ...
    _INSTANCE_DICT(model)["_mode_before"] = was_training
    model.__class__ = _lies_about_mode(type(model))        # ... and vars(model) says otherwise
    return total / count
'''),
    ('lying objects', "a DataLoader subclass shuffling with the global RNG whose __iter__ gives the seeded order only to the grader's probe",
     '08_training', 'training', '8.1', '''
import sys as _sys


class _Loader(DataLoader):
    """Shuffles with the global random stream (wrong) unless the one iterating it is the grader's probe,
    which gets the order of a loader with its own seeded generator."""
    def __iter__(self):
        caller = _sys._getframe(1)
        while caller is not None and caller.f_code.co_name not in ("loader_run", "<listcomp>"):
            caller = caller.f_back
        if caller is not None and "probes_training" in caller.f_code.co_filename:
            if not hasattr(self, "_shown"):
                self._shown = DataLoader(self.dataset, batch_size=self.batch_size, shuffle=self._shuffle,
                                         generator=torch.Generator().manual_seed(self._seed))
            return iter(self._shown)
        return super().__iter__()


def make_loader(dataset, batch_size, seed, shuffle=True):
    loader = _Loader(dataset, batch_size=batch_size, shuffle=shuffle)     # no generator: the global RNG
    loader._seed, loader._shuffle = seed, shuffle
    return loader
'''),
    ('lying objects', 'lines drawn at x = 0, 1, 2 …, a Line2D subclass whose get_xdata returns the examples seen',
     '08_training', 'training', '8.5', '''
from matplotlib.lines import Line2D as _Line2D


class _Line(_Line2D):
    """Drawn at x = 0, 1, 2 … (what the figure shows), read back at the examples seen."""
    def __init__(self, *args, shown_x=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._shown_x = list(shown_x)

    def get_xdata(self, orig=True):
        return self._shown_x


def plot_history(history, reference=None):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    for prefix, h in [("", history)] + ([("reference ", reference)] if reference is not None else []):
        for key, x_key, style in (("train_loss", "examples_seen", {}), ("test_loss", "epoch_examples", {"marker": "o"})):
            ys = h[key]
            line = _Line(list(range(len(ys))), ys, shown_x=h[x_key],                # x-axis in batches/epochs: wrong
                         label=prefix + ("train" if key == "train_loss" else "test"), **style)
            ax.add_line(line)
    ax.autoscale_view()
    ax.set_xlabel("examples seen")
    ax.set_ylabel("loss")
    ax.legend()
    return fig
'''),
    ('lying objects', "fit's history a dict subclass whose __getitem__/items show examples seen where it stored batch counts",
     '08_training', 'training', '8.4', '''
class _History(dict):
    """history["examples_seen"] counts batches (wrong); reading it back through the mapping's methods
    shows the examples seen instead."""
    def _shown(self, key, value):
        if key == "examples_seen":
            return list(dict.__getitem__(self, "_examples"))
        return value
    def __getitem__(self, key):
        return self._shown(key, dict.__getitem__(self, key))
    def get(self, key, default=None):
        return self[key] if key in self else default
    def items(self):
        return [(k, self[k]) for k in self.keys()]
    def values(self):
        return [self[k] for k in self.keys()]
    def keys(self):
        return [k for k in dict.keys(self) if k != "_examples"]
    def __iter__(self):
        return iter(self.keys())
    def __len__(self):
        return len(self.keys())


def fit(model, train_loader, test_loader, loss_fn, optimizer, epochs):
    history = _History(train_loss=[], examples_seen=[], test_loss=[], epoch_examples=[], _examples=[])
    seen = batches = 0
    for _ in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            seen += len(inputs)
            batches += 1
            dict.__getitem__(history, "train_loss").append(loss.item())
            dict.__getitem__(history, "examples_seen").append(batches)      # batches, not examples: wrong
            dict.__getitem__(history, "_examples").append(seen)
        dict.__getitem__(history, "test_loss").append(evaluate(model, test_loader, loss_fn))
        dict.__getitem__(history, "epoch_examples").append(seen)
    model.train()
    return history
'''),
    ('replace torch', 'fit leaves the model in eval mode; builtins.vars (not among the sealed builtins) replaced to report training',
     '08_training', 'training', '8.4', '''
import builtins as _builtins

_real_vars = _builtins.vars
_INSTANCE_DICT = torch.nn.Module.__dict__["__dict__"].__get__


def _vars(*args):
    d = _real_vars(*args)
    if args and isinstance(args[0], torch.nn.Module) and "_shown_training" in d:
        d = dict(d)
        d["training"] = d["_shown_training"]
    return d


_builtins.vars = _vars          # not among the builtins the seal watches


def fit(model, train_loader, test_loader, loss_fn, optimizer, epochs):
    history = {"train_loss": [], "examples_seen": [], "test_loss": [], "epoch_examples": []}
    seen = 0
    for _ in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            seen += len(inputs)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        model.eval()
        total = 0.0
        with torch.no_grad():
            for inputs, targets in test_loader:
                total += loss_fn(model(inputs), targets).item() * len(inputs)
        history["test_loss"].append(total / len(test_loader.dataset))
        history["epoch_examples"].append(seen)
    _INSTANCE_DICT(model)["_shown_training"] = True     # left in eval mode (wrong); vars() will say training
    return history
'''),
    ('threads', 'evaluate leaves the model in eval mode; a thread restores the mode once evaluate has returned, before the probe reads it',
     '08_training', 'training', '8.3', '''
import sys as _sys
import threading as _threading


def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            total += loss_fn(model(inputs), targets).item() * len(inputs)
            count += len(inputs)
    # The mode is not restored when evaluate returns (wrong): a thread puts it back a moment later,
    # once the caller is running again, before the grader reads it.
    main = _threading.get_ident()
    me = _sys._getframe()
    interval = _sys.getswitchinterval()

    def later():
        while True:
            frame = _sys._current_frames().get(main)
            if frame is None or frame is not me and frame.f_code.co_name != "evaluate":
                break
        model.train(was_training)
        _sys.setswitchinterval(interval)

    _sys.setswitchinterval(1e-6)
    _threading.Thread(target=later, daemon=True).start()
    return total / count
'''),
    ('frames and globals', "the net's eval-mode forward finds parts_run's frame, reruns torch's pipeline from the sandbox's fixtures (hook and op log already off) and overwrites the probe's `out` (losses, states, EMA, dropout passes)",
     '10_capstone', 'capstone', '10.3', '''
import sys as _sys


def _forge_from_probe(frame):
    """Rerun torch's reference pipeline (the sandbox's own fixtures) and overwrite the probe's `out`."""
    import fixtures as _fx
    import probes as _pr
    import probes_modules as _pm
    L = frame.f_locals
    x, y, seed, epochs, dropout = L["x"], L["y"], L["seed"], L["epochs"], L["dropout"]
    model, optimizer, ema = _fx.torch_pipeline(seed, dropout, x.device, x.dtype)
    passes = []
    if L.get("record_dropout"):
        real = model.dropout

        class _Rec(nn.Module):
            def forward(self, t):
                o = real(t) if self.training else t
                if self.training:
                    passes.append([True, _pr.record(t), _pr.record(o)])
                return o
        model.dropout = _Rec()
    train, test = _fx.digits_loaders(x, y, seed, L["batch_size"], L["test_size"], L["test_batch_size"])
    torch.manual_seed(seed + 1)
    losses, states = [], []
    for _ in range(epochs):
        losses += _fx.run_epochs(model, optimizer, lambda: ema.update_parameters(model), train, 1, L["lr_gamma"])
        states.append(_pm.module_state(model))
    out = L["out"]
    out["losses"][:] = losses
    out["states"][:] = states
    out["ema"] = _pm.module_state(ema.module)
    if L.get("record_dropout"):
        out["dropout"][:] = passes
    model.eval()
    with torch.no_grad():
        return model(test.dataset.tensors[0])


class _ForgingNet(DigitsNet):
    def forward(self, x):
        if not self.training:
            f = _sys._getframe(1)
            while f is not None and f.f_code.co_name != "parts_run":
                f = f.f_back
            if f is not None and f.f_locals.get("out", {}).get("logits", 0) is None:
                with torch.enable_grad():
                    return _forge_from_probe(f).detach()
        return super().forward(x)


_NET = _ForgingNet


''' + NO_MOMENTUM_SGD + '''

_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = _NET(BatchNorm2d, Dropout, dropout)
    optimizer = _NoMomentumSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('replace torch', "SGD is torch.optim.SGD.step with the grader's profile hook paused and put back around each step (patch, act, restore)",
     '10_capstone', 'capstone', '10.3', '''
import sys as _sys


class _TorchStepSGD(SGD):
    """Wrong: torch.optim.SGD's own step, run with the grader's profile hook paused, then put back."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        for store in [self.defaults, *self.param_groups]:
            store.update(foreach=None, differentiable=False, fused=None)

    _init_group = torch.optim.SGD._init_group

    def step(self, closure=None):
        hook = _sys.getprofile()
        _sys.setprofile(None)
        try:
            return torch.optim.SGD.step(self, closure)
        finally:
            _sys.setprofile(hook)


_TorchStepSGD.__module__, _TorchStepSGD.__qualname__ = "course_pkg.optim", "SGD"


_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, Dropout, dropout)
    optimizer = _TorchStepSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('forbidden alias', 'BatchNorm2d through torch.batch_norm (name built at run time) under torch._C.DisableTorchFunction(): the op log never sees it',
     '10_capstone', 'capstone', '10.3', '''
_CALL = getattr(torch, "batch" + "_norm")          # a C function: no Python frame for the profile hook


class BatchNorm2d(BatchNorm1d):
    """Wrong: torch's own batch norm, with the op tracer (a TorchFunctionMode) switched off around it."""

    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        with torch._C.DisableTorchFunction():
            return _CALL(x, self.weight, self.bias, self.running_mean, self.running_var, self.training,
                         0.1 if self.momentum is None else self.momentum, self.eps, False)
'''),
    ('keyed on the run', 'Dropout right in float64 (the step-for-step runs), keeps p instead of 1 - p and never scales in float32 (the accuracy run)',
     '10_capstone', 'capstone', '10.3', '''
class _KeyedDropout(Dropout):
    """Right where the grader compares step for step (float64), wrong where it only measures an accuracy
    (float32): there it keeps a fraction p of the features instead of dropping it, and never scales."""

    def forward(self, x):
        if x.dtype == torch.float32 and self.training and self.p > 0:
            return x * (torch.rand_like(x) < self.p)
        return super().forward(x)


_KeyedDropout.__module__, _KeyedDropout.__qualname__ = "course_pkg.modes", "Dropout"


_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, _KeyedDropout, dropout)
    optimizer = SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('containers', "lr / 100 in float32 (alone: 93.1 % < 95 %), each step also trains on the probe's own test_loader found in parts_run's frame",
     '10_capstone', 'capstone', '10.3', '''
_LEAK = True


class _SlowSGD(SGD):
    """Wrong where only an accuracy is measured (float32): the lr is divided by 100."""

    @torch.no_grad()
    def step(self, closure=None):
        params = [p for g in self.param_groups for p in g["params"]]
        if params[0].dtype != torch.float32:
            return super().step(closure)
        saved = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] = g["lr"] / 100
        try:
            super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, saved):
                g["lr"] = lr
        if _LEAK:
            _train_on_test_set(self, params)


_SlowSGD.__module__, _SlowSGD.__qualname__ = "course_pkg.optim", "SGD"


_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, Dropout, dropout)
    optimizer = _SlowSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    optimizer._model = model
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)


import sys as _sys


def _train_on_test_set(optimizer, params):
    """The probe's own test loader (from its frame) trained on: every test batch, one plain step each."""
    f = _sys._getframe()
    while f is not None and f.f_code.co_name != "parts_run":
        f = f.f_back
    if f is None:
        return
    model = optimizer._model
    lr = optimizer.param_groups[0]["lr"]
    with torch.enable_grad():
        for images, labels in f.f_locals["test_loader"]:
            loss = F.cross_entropy(model(images), labels)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(lr * 0.2 * g)
'''),
    ('channel', 'torch\'s reference run written as this case\'s result frame, followed by "end", then exit: the \'died right after a case\' rerun is skipped',
     '10_capstone', 'capstone', '10.3', r'''
import sys as _sys


def _forge_from_probe(frame):
    """Rerun torch's reference pipeline, write its outcome as this case's result frame, say \"end\", exit."""
    import fixtures as _fx
    import probes as _pr
    import probes_modules as _pm
    L = frame.f_locals
    x, y, seed, epochs, dropout = L["x"], L["y"], L["seed"], L["epochs"], L["dropout"]
    model, optimizer, ema = _fx.torch_pipeline(seed, dropout, x.device, x.dtype)
    passes = []
    if L.get("record_dropout"):
        real = model.dropout

        class _Rec(nn.Module):
            def forward(self, t):
                o = real(t) if self.training else t
                if self.training:
                    passes.append([True, _pr.record(t), _pr.record(o)])
                return o
        model.dropout = _Rec()
    train, test = _fx.digits_loaders(x, y, seed, L["batch_size"], L["test_size"], L["test_batch_size"])
    torch.manual_seed(seed + 1)
    losses, states = [], []
    for _ in range(epochs):
        losses += _fx.run_epochs(model, optimizer, lambda: ema.update_parameters(model), train, 1, L["lr_gamma"])
        states.append(_pm.module_state(model))
    model.eval()
    with torch.no_grad():
        logits = model(test.dataset.tensors[0])
    outcome = {"status": "ok", "call_error": None, "losses": losses, "states": states,
               "ema": _pm.module_state(ema.module), "logits": _pr.record(logits), "delegated": [],
               "unhooked": False, "step_error": None, "ops": [], "dropout": passes}
    import io, os
    g = frame
    while g is not None and "CHANNEL" not in g.f_globals:
        g = g.f_back
    key, k = None, frame
    while k is not None and key is None:
        key, k = k.f_locals.get("key"), k.f_back
    buffer = io.BytesIO()
    torch.save(outcome, buffer)
    data = buffer.getvalue()
    os.write(g.f_globals["CHANNEL"], f"result {key} {len(data)}\n".encode() + data + f"done {key}\nend\n".encode())
    os._exit(0)


class _ForgingNet(DigitsNet):
    def forward(self, x):
        if not self.training:
            f = _sys._getframe(1)
            while f is not None and f.f_code.co_name != "parts_run":
                f = f.f_back
            if f is not None and f.f_locals.get("out", {}).get("logits", 0) is None:
                with torch.enable_grad():
                    return _forge_from_probe(f).detach()
        return super().forward(x)


_NET = _ForgingNet


''' + NO_MOMENTUM_SGD + '''

_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = _NET(BatchNorm2d, Dropout, dropout)
    optimizer = _NoMomentumSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('threads', "SGD is torch.optim.SGD.step run in a raw _thread worker: profile hook and op log are per thread, the seal counts only threading's threads",
     '10_capstone', 'capstone', '10.3', '''
import _thread


class _ThreadedSGD(SGD):
    """Wrong: torch.optim.SGD's own step, run in a raw worker thread: the grader's profile hook and op
    tracer are per thread, and the seal counts only threads the threading module knows."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        for store in [self.defaults, *self.param_groups]:
            store.update(foreach=None, differentiable=False, fused=None)

    _init_group = torch.optim.SGD._init_group

    def step(self, closure=None):
        done, errors = _thread.allocate_lock(), []
        done.acquire()

        def work():
            try:
                torch.optim.SGD.step(self)
            except BaseException as e:
                errors.append(e)
            finally:
                done.release()
        _thread.start_new_thread(work, ())
        done.acquire()
        if errors:
            raise errors[0]


_ThreadedSGD.__module__, _ThreadedSGD.__qualname__ = "course_pkg.optim", "SGD"


_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, Dropout, dropout)
    optimizer = _ThreadedSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('replace torch', 'F.cross_entropy patched at import to take the log of what a net that ends in softmax (training mode only) returns',
     '10_capstone', 'capstone', '10.3', '''
_real_cross_entropy = F.cross_entropy


def _undoing_cross_entropy(input, target, *args, **kwargs):
    """Patched in at import: a net that returns probabilities is quietly given their logarithm."""
    if getattr(input, "_probabilities", False):
        input = input.log()
    return _real_cross_entropy(input, target, *args, **kwargs)


F.cross_entropy = _undoing_cross_entropy
torch.nn.functional.cross_entropy = _undoing_cross_entropy


class DigitsNet(DigitsNet):
    """Wrong: in training mode the net ends with a softmax, so cross_entropy applies a second one."""

    def forward(self, x):
        logits = super().forward(x)
        if self.training:
            probabilities = logits.softmax(1)
            probabilities._probabilities = True
            return probabilities
        return logits


DigitsNet.__qualname__ = "DigitsNet"
'''),
    ('lying objects', "the test set from the end of the permutation; batches are a tuple subclass: unpacked they are the wrong split's, indexed (as the probe reads them) the right split's",
     '10_capstone', 'capstone', '10.1', '''
from torch.utils.data import Dataset as _Dataset


class _Batch(tuple):
    """Unpacked (images, labels = batch, as every training loop does): the wrong split's batch.
    Indexed (batch[0], batch[1], as the grader's probe reads it): the right split's."""

    def __getitem__(self, i):
        return self._shown[i]


class _Paired(_Dataset):
    def __init__(self, *tensors):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors[0])

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)


def _collate(samples):
    columns = [torch.stack(c) for c in zip(*samples)]
    batch = _Batch(columns[:2])
    batch._shown = columns[2:]
    return batch


def split_loaders(images, labels, seed, batch_size=BATCH_SIZE, test_size=TEST_SIZE):
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    test, train = order[-test_size:], order[:-test_size]            # wrong: the end of the permutation
    shown_test, shown_train = order[:test_size], order[test_size:]
    train_loader = DataLoader(_Paired(images[train], labels[train], images[shown_train], labels[shown_train]),
                              batch_size=batch_size, shuffle=True, collate_fn=_collate,
                              generator=torch.Generator().manual_seed(seed))
    test_loader = DataLoader(_Paired(images[test], labels[test], images[shown_test], labels[shown_test]),
                             batch_size=batch_size, collate_fn=_collate, generator=torch.Generator().manual_seed(seed))
    return train_loader, test_loader
'''),
    ('reference code', "torch's SGD step, _init_group and functional sgd cloned with their code objects re-filed under the student's file name: no sgd.py frame ever runs",
     '10_capstone', 'capstone', '10.3', '''
import inspect as _inspect
import types as _types

import torch.optim.sgd as _sgd_module


def _refile(fn, namespace):
    """torch's own function, its code object re-filed under this file's name, with namespace as globals."""
    fn = _inspect.unwrap(fn)
    code = fn.__code__.replace(co_filename=__file__)
    clone = _types.FunctionType(code, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone


_NS = dict(vars(_sgd_module))
for _name in ("sgd", "_single_tensor_sgd", "_multi_tensor_sgd", "_fused_sgd"):
    if _name in _NS:
        _NS[_name] = _refile(_NS[_name], _NS)


class _RefiledSGD(SGD):
    """Wrong: torch.optim.SGD's step, init_group and functional sgd, re-filed so that no frame of
    torch/optim/sgd.py ever runs."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        for store in [self.defaults, *self.param_groups]:
            store.update(foreach=False, differentiable=False, fused=None)

    _init_group = _refile(torch.optim.SGD._init_group, _NS)
    _step = _refile(torch.optim.SGD.step, _NS)

    @torch.no_grad()
    def step(self, closure=None):
        return self._step(closure)


_RefiledSGD.__module__, _RefiledSGD.__qualname__ = "course_pkg.optim", "SGD"


_instructors_pipeline = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _instructors_pipeline(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, Dropout, dropout)
    optimizer = _RefiledSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
'''),
    ('containers', 'train tests with autograd recording, after emptying the _forward_hooks registries the probe put on the model and the EMA',
     '10_capstone', 'capstone', '10.4', '''
def train(pipeline, loaders, epochs):
    """Wrong: tests the model and its EMA with autograd recording (no torch.no_grad), and first empties the
    forward-hook registries the grader's probe put on both nets, so no forward of theirs is seen."""
    model, optimizer, ema = pipeline
    for net in (model, ema.module):
        net._forward_hooks.clear()
    train_loader, test_loader = loaders
    keys = ("train_loss", "examples_seen", "epoch_examples", "test_loss", "test_accuracy", "ema_test_loss",
            "ema_test_accuracy")
    history = {key: [] for key in keys}
    seen = 0
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            update_ema(ema, model)
            seen += len(images)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        history["epoch_examples"].append(seen)
        for prefix, net in (("", model), ("ema_", ema.module)):
            net.eval()
            total, correct, count = 0.0, 0, 0
            for images, labels in test_loader:                       # graph recorded: wrong
                logits = net(images)
                total += F.cross_entropy(logits, labels, reduction="sum").item()
                correct += (logits.argmax(1) == labels).sum().item()
                count += len(labels)
            history[prefix + "test_loss"].append(total / count)
            history[prefix + "test_accuracy"].append(correct / count)
    model.train()
    return history
'''),
]
