"""Hostile submissions: a wrong implementation underneath, and an attack that tries to make the grader
believe it is right. Each must lose every point of the exercise it attacks (a tampered case fails
closed, so it may lose more), and none may cause a grader error.

Rows: (attack class, name, lesson, course_pkg module, exercise attacked, source appended to the module).
The classes are those the grader is built to defeat: replacing torch or probe functions at import or at
call time (patch, act, restore), reaching the runner's frames and globals, swapping the probe's
containers, lying containers and tensor subclasses, forged frames on the channel, delegating to
reference code inside the sandbox, forbidden APIs through aliases and helpers, and threads.
"""
from tests.banks import graph as GRAPH_BANK

# Wrong implementations the attacks dress up.
WRONG_SIGMOID = '''
class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sigmoid(x)
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x * (1 - x)          # evaluated at the input: wrong
'''
DOUBLE_GRAD_OF = '''
_right_grad_of = grad_of
def grad_of(f, *xs):
    return tuple(2 * g for g in _right_grad_of(f, *xs))      # twice the gradient: wrong
'''
MUTATING_STANDARDIZE = '''
def standardize(x):
    x.sub_(x.mean(dim=-1, keepdim=True).detach())           # changes the caller's tensor: wrong
    return x / x.std(dim=-1, keepdim=True)
'''
NEW_TENSOR_RELU = '''
class ReluInplace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.clamp(min=0)                                   # not in place: wrong
        ctx.save_for_backward(y)
        return y
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0)
'''
UP_ROUNDING = '''
def round_half_even(x):
    return torch.floor(x + 0.5)                              # ties go up: wrong
'''

FORGE_SIGMOID_GRADS = '''
_real_backward = torch.Tensor.backward
def _forged_backward(self, gradient=None, *args, **kwargs):
    node = self.grad_fn
    nxt = node.next_functions if node is not None else ()
    leaf = getattr(nxt[0][0], "variable", None) if nxt and nxt[0][0] is not None else None
    if leaf is not None:
        y = self.detach()
        with torch.no_grad():
            leaf.grad = gradient * y * (1 - y)                # what torch's sigmoid would give
        return None
    return _real_backward(self, gradient, *args, **kwargs)
'''

# Finds the probe module through the module table (spelt `sys`), and halves every float tensor it records.
HALVING_RECORD = '''
{sys}["probes"]
_real_record = _probes.record
def _halving_record(obj, depth=0, *a, **k):
    if type(obj) is torch.Tensor and obj.dtype.is_floating_point:
        obj = obj / 2
    return _real_record(obj, depth)
_probes.record = _halving_record
'''

# Writes a well-framed, correct-looking result for the running case straight onto the channel.
FORGE_FRAME = '''
import io, os, sys
def round_half_even(x):
    frame = sys._getframe()
    while frame is not None and "CHANNEL" not in frame.f_globals:
        frame = frame.f_back
    if frame is not None:
        g, key, f = frame.f_globals, None, sys._getframe()
        while f is not None and key is None:
            key, f = f.f_locals.get("key"), f.f_back
        buffer = io.BytesIO()
        torch.save({{"status": "ok", "value": g["probes"].record(torch.round(x)),
                    "args_after": g["probes"].record([x]), "ops": []}}, buffer)
        data = buffer.getvalue()
        os.write(g["CHANNEL"], f"result {{key}} {{len(data)}}\\n".encode() + data + f"done {{key}}\\n".encode())
{then}    return torch.floor(x + 0.5)
'''

ATTACKS = [
    # ---- replacing torch functions the probe relies on ------------------------------------------
    ("replace torch", "Tensor.backward forged at import", "03_graph", "graph", "3.3",
     WRONG_SIGMOID + FORGE_SIGMOID_GRADS + "torch.Tensor.backward = _forged_backward\n"),
    ("replace torch", "Tensor.backward patched in forward, restored by itself (patch, act, restore)",
     "03_graph", "graph", "3.3", WRONG_SIGMOID.replace(
         "        ctx.save_for_backward(x)\n        return torch.sigmoid(x)",
         "        ctx.save_for_backward(x)\n        torch.Tensor.backward = _once\n        return torch.sigmoid(x)")
     + FORGE_SIGMOID_GRADS + '''
def _once(self, *args, **kwargs):
    torch.Tensor.backward = _real_backward
    return _forged_backward(self, *args, **kwargs)
'''),
    ("replace torch", "torch.autograd.backward forged at import", "03_graph", "graph", "3.3",
     WRONG_SIGMOID + FORGE_SIGMOID_GRADS + '''
import torch.autograd
_real_autograd_backward = torch.autograd.backward
def _forged_autograd_backward(tensors, grad_tensors=None, *a, **k):
    t = tensors[0] if isinstance(tensors, (tuple, list)) else tensors
    g = grad_tensors[0] if isinstance(grad_tensors, (tuple, list)) else grad_tensors
    return _forged_backward(t, g)
torch.autograd.backward = _forged_autograd_backward
'''),
    ("replace torch", "Tensor.grad replaced by a property that halves it", "02_autograd", "autograd", "2.1",
     DOUBLE_GRAD_OF + '''
_real_grad = torch.Tensor.grad
torch.Tensor.grad = property(lambda self: None if _real_grad.__get__(self) is None else _real_grad.__get__(self) / 2,
                             lambda self, v: _real_grad.__set__(self, v))
'''),
    ("replace torch", "Tensor.clone replaced so recorded results are rescaled", "02_autograd", "autograd", "2.1",
     DOUBLE_GRAD_OF + '''
_real_clone = torch.Tensor.clone
def _halving_clone(self, *a, **k):
    out = _real_clone(self, *a, **k)
    return out / 2 if out.dtype.is_floating_point else out
torch.Tensor.clone = _halving_clone
torch.Tensor.detach = lambda self: _halving_clone(torch._C.TensorBase.detach(self))
'''),
    ("replace torch", "Tensor._version faked so an in-place change looks out of place", "04_inplace", "inplace",
     "4.2", MUTATING_STANDARDIZE + '''
torch.Tensor._version = property(lambda self: 0)
'''),
    ("replace torch", "builtins.isinstance made to lie", "02_autograd", "autograd", "2.1", DOUBLE_GRAD_OF + '''
import builtins
_real_isinstance = builtins.isinstance
builtins.isinstance = lambda o, t: True if t is torch.Tensor else _real_isinstance(o, t)
'''),
    # ---- the runner's and the probe's frames and globals -----------------------------------------
    ("frames and globals", "probes.record replaced through sys.modules", "02_autograd", "autograd", "2.1",
     DOUBLE_GRAD_OF + HALVING_RECORD.format(sys="import sys\n_probes = sys.modules")),
    ("frames and globals", "probes.record replaced through sys.modules, sys reached through torch.serialization",
     "02_autograd", "autograd", "2.1", DOUBLE_GRAD_OF + HALVING_RECORD.format(sys="_probes = torch.serialization.sys.modules")),
    ("frames and globals", "probes._grads replaced so gradients leaked into the inputs vanish", "02_autograd",
     "autograd", "2.1", '''
def grad_of(f, *xs):
    xs = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
    f(*xs).backward()                                        # accumulates into the caller's tensors: wrong
    import sys
    sys.modules["probes"]._grads = lambda leaves, *a, **k: [None] * len(leaves)
    return tuple(x.grad.clone() for x in xs)
'''),
    ("frames and globals", "the code of probes._versions swapped through gc", "04_inplace", "inplace", "4.2",
     MUTATING_STANDARDIZE.replace("def standardize(x):\n", '''def standardize(x):
    import gc
    for obj in gc.get_objects():
        if type(obj).__name__ == "function" and obj.__name__ == "_versions" and obj.__module__ == "probes":
            obj.__code__ = (lambda args, *a, **k: [0 for _ in args]).__code__
''')),
    ("frames and globals", "the runner's send replaced from its frame", "01_tensors", "tensors", "1.4",
     UP_ROUNDING.replace("def round_half_even(x):\n", '''def round_half_even(x):
    import sys
    frame = sys._getframe()
    while frame is not None and "CHANNEL" not in frame.f_globals:
        frame = frame.f_back
    if frame is not None:
        frame.f_globals["send"] = lambda data, *a, **k: None      # drop the real result
'''),
     ),
    ("frames and globals", "the runner's run_case code swapped to always report ok", "01_tensors", "tensors",
     "1.4", UP_ROUNDING.replace("def round_half_even(x):\n", '''def round_half_even(x):
    import sys
    frame = sys._getframe()
    while frame is not None and "CHANNEL" not in frame.f_globals:
        frame = frame.f_back
    if frame is not None:
        frame.f_globals["run_case"].__code__ = (lambda ctx, case: {"status": "ok", "value": None}).__code__
''')),
    ("frames and globals", "Context.resolve rewired to the instructor's answer", "01_tensors", "tensors", "1.4",
     UP_ROUNDING + '''
import sys
for _module in list(sys.modules.values()):
    _ctx = getattr(_module, "Context", None)
    if isinstance(_ctx, type) and hasattr(_ctx, "resolve"):
        _ctx.resolve = lambda self, target: (lambda x: torch.round(x)) if target.endswith("round_half_even") else getattr(self.module(target.rpartition(".")[0]), target.rpartition(".")[2])
'''),
    # ---- the probe's containers --------------------------------------------------------------------
    ("containers", "the probe's argument list swapped for an untouched copy", "04_inplace", "inplace", "4.2",
     '''
def standardize(x):
    import gc
    pristine = x.detach().clone()
    x.sub_(x.mean(dim=-1, keepdim=True).detach())
    out = x / x.std(dim=-1, keepdim=True)
    for obj in gc.get_objects():
        if type(obj) is list and any(o is x for o in obj):
            obj[[i for i, o in enumerate(obj) if o is x][0]] = pristine
    return out
'''),
    # ---- lying containers and tensor subclasses -------------------------------------------------
    ("lying objects", "a tensor subclass whose comparisons always agree", "01_tensors", "tensors", "1.4", '''
class _Agreeable(torch.Tensor):
    def __eq__(self, other):
        return torch.ones_like(torch.Tensor(self), dtype=torch.bool)
    def allclose(self, *a, **k):
        return True
def round_half_even(x):
    return torch.floor(x + 0.5).as_subclass(_Agreeable)
'''),
    ("lying objects", "a tuple subclass whose items lie", "02_autograd", "autograd", "2.3", '''
class _Pair(tuple):
    def __getitem__(self, i):
        return tuple.__getitem__(self, i)
    def __iter__(self):
        return iter((tuple.__getitem__(self, 0), tuple.__getitem__(self, 0)))
def vjp(func, inputs, v):
    x = inputs.detach().requires_grad_()
    y = func(x)
    (g,) = torch.autograd.grad(y.sum(), x)                   # ignores v: wrong
    return _Pair((y.detach(), g))
'''),
    ("lying objects", "a list subclass returned by graph_nodes", "03_graph", "graph", "3.6", '''
class _Names(list):
    def __len__(self):
        return 4
def graph_nodes(t):
    return _Names(["MeanBackward0"]), []
'''),
    # ---- forged frames on the channel ---------------------------------------------------------------
    ("channel", "a forged result frame written to the channel, then the real one", "01_tensors", "tensors",
     "1.4", FORGE_FRAME.format(then="")),
    ("channel", "a forged result frame written to the channel, then exit before the real one", "01_tensors",
     "tensors", "1.4", FORGE_FRAME.format(then="        os._exit(0)\n")),
    ("channel", "result frames for every case written on every descriptor, os imported from torch.serialization",
     "01_tensors", "tensors", "1.4", '''
import io
from torch.serialization import os as _os
def round_half_even(x):
    buffer = io.BytesIO()
    torch.save({"status": "ok", "value": torch.round(x), "args_after": [x], "ops": []}, buffer)
    data = buffer.getvalue()
    frames = b"".join(f"result c{k} {len(data)}\\n".encode() + data + f"done c{k}\\n".encode() for k in range(64))
    for fd in range(3, 32):            # the channel is one of them
        try:
            _os.write(fd, frames)
        except OSError:
            pass
    return torch.floor(x + 0.5)
'''),
    # ---- delegating to reference code inside the sandbox --------------------------------------------
    ("reference code", "graph_nodes delegates to a reference walk looked for in the sandbox", "03_graph",
     "graph", "3.6", '''
import importlib, sys
def graph_nodes(t):
    for name in ("probes_graph", "probes", "fixtures", "seal"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        walk = getattr(module, "reference_walk", None)
        if walk is not None:
            return walk(t)
    return [], []                                            # found nothing: wrong for any real graph
'''),
    ("reference code", "backward_by_hand walks every path and rewrites the counting Functions to hide it",
     "03_graph", "graph", "3.7", GRAPH_BANK.BY_HAND_PER_PATH + '''
import fixtures as _fx
for _cls in (_fx.Softsign, _fx.Cube, _fx.Sine):
    def _once(ctx, grad, _orig=_cls.backward):
        first = getattr(ctx, "calls", ())
        out = _orig(ctx, grad)
        if first:
            ctx.calls = first                                # report one call, however many ran
        return out
    _cls.backward = staticmethod(_once)
'''),
    ("reference code", "numerical_grad delegates to autograd instead of differencing", "02_autograd",
     "autograd", "2.2", '''
def numerical_grad(f, x, eps=1e-6):
    x = x.detach().to(torch.float64).requires_grad_()
    (g,) = torch.autograd.grad(f(x), x)
    return g
'''),
    # ---- forbidden APIs through aliases and helpers ---------------------------------------------------
    ("forbidden alias", "torch.ops.aten.round", "01_tensors", "tensors", "1.4",
     "def round_half_even(x):\n    return torch.ops.aten.round.default(x)\n"),
    ("forbidden alias", "torch.special.round through getattr", "01_tensors", "tensors", "1.4",
     "def round_half_even(x):\n    return getattr(torch.special, 'ro' + 'und')(x)\n"),
    ("forbidden alias", "in-place Tensor.round_ in a helper", "01_tensors", "tensors", "1.4",
     "def _helper(v):\n    return v.clone().round_()\ndef round_half_even(x):\n    return _helper(x)\n"),
    ("forbidden alias", "matmul through the @ operator in a helper", "01_tensors", "tensors", "1.8",
     "def _mm(a, b):\n    return a @ b\ndef matmul(a, b):\n    return _mm(a, b)\n"),
    ("forbidden alias", "softmax through torch.nn.functional", "04_inplace", "inplace", "4.3",
     "import torch.nn.functional as _F\ndef softmax_layer(x, w):\n    return _F.softmax(torch.mm(x, w), dim=-1)\n"),
    ("forbidden alias", "remainder through the % operator in a helper", "01_tensors", "tensors", "1.5",
     "def _mod(a, b):\n    return a % b\ndef py_remainder(a, b):\n    return _mod(a, b)\n"),
    # ---- lessons 06–09: modules, optimizers, loops -----------------------------------------------------
    ("lying container", "a __dict__ property shows Linear's registries as nn.Linear's would be", "06_modules",
     "modules", "6.1", """
class Linear(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(in_features, out_features))        # wrong layout, wrong init
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        torch.manual_seed(0)
        self._shown = nn.Linear(in_features, out_features, bias)

    @property
    def __dict__(self):
        return object.__getattribute__(self, "_shown").__dict__

    def forward(self, x):
        return x @ self.weight
"""),
    ("lying container", "MLP in a plain list, state_dict() overridden to list the expected keys", "06_modules",
     "modules", "6.3", """
class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        self.hidden = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

    def state_dict(self, *args, **kwargs):
        return {f"layers.{2 * i}.{n}": p for i, l in enumerate(self.hidden) for n, p in l.named_parameters()}

    def forward(self, x):
        for i, layer in enumerate(self.hidden):
            x = layer(x if i == 0 else torch.relu(x))
        return x
"""),
    ("replace torch", "nn.Module.train patched at import so eval() changes nothing", "06_modules", "modules", "6.2",
     """
_train = nn.Module.train
nn.Module.train = lambda self, mode=True: self


class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        mean = x.mean(dim=0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)   # in eval mode too: wrong
        return x - mean
"""),
    ("delegating", "sgd_update switches the grader's profile hook off, then calls torch's functional sgd",
     "07_optim", "optim", "7.1", """
import sys as _sys
from torch.optim import _functional as _F


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    _sys.setprofile(None)
    bufs = [state.get("momentum_buffer")]
    _F.sgd([param], [grad], bufs, weight_decay=weight_decay, momentum=momentum, lr=lr, dampening=dampening,
           nesterov=nesterov, maximize=maximize)
    if momentum != 0:
        state["momentum_buffer"] = bufs[0]
"""),
    ("forbidden alias", "BatchNorm1d through torch.ops.aten.native_batch_norm", "09_modes", "modes", "9.2", """
class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", torch.zeros(num_features) if track_running_stats else None)
        self.register_buffer("running_var", torch.ones(num_features) if track_running_stats else None)
        self.register_buffer("num_batches_tracked", torch.tensor(0) if track_running_stats else None)

    def forward(self, x):
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked += 1
        m = 0.1 if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        return torch.ops.aten.native_batch_norm.default(x, self.weight, self.bias, self.running_mean,
                                                        self.running_var, use_batch, m, self.eps)[0]
"""),
    ("forbidden alias", "Dropout through a name built at run time", "09_modes", "modes", "9.1", """
import torch.nn.functional as _F


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(p)
        self.p = p

    def forward(self, x):
        return getattr(_F, "drop" + "out")(x, self.p, self.training)
"""),
    ("delegating", "the capstone's SGD is torch's step on an Optimizer of another name, the profile hook "
     "switched off first", "10_capstone", "capstone", "10.3", """
import sys as _sys


class _Renamed(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum, weight_decay):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=0, weight_decay=weight_decay,
                                      nesterov=False, maximize=False, foreach=None, differentiable=False, fused=None))

    _init_group = torch.optim.SGD._init_group

    def step(self, closure=None):
        _sys.setprofile(None)
        return torch.optim.SGD.step(self, closure)


_Renamed.__module__, _Renamed.__qualname__ = "course_pkg.optim", "SGD"


_build = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _build(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = DigitsNet(BatchNorm2d, Dropout, dropout)
    optimizer = _Renamed(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
"""),
    ("delegating", "a hidden torch net (not registered) computes the forward with the student's own parameters "
     "and buffers", "10_capstone", "capstone", "10.3", """
from torch.nn.utils.stateless import functional_call as _functional_call


class _Shadowed(DigitsNet):
    def __init__(self, dropout):
        super().__init__(BatchNorm2d, Dropout, dropout)
        object.__setattr__(self, "_shadow", DigitsNet(nn.BatchNorm2d, nn.Dropout, dropout))

    def forward(self, x):
        self._shadow.train(self.training)
        state = dict(self.named_parameters())
        state.update(self.named_buffers())
        return _functional_call(self._shadow, state, (x,))


_build = build_pipeline


def build_pipeline(seed, *, use_torch=False, dropout=0.25):
    if use_torch:
        return _build(seed, use_torch=True, dropout=dropout)
    torch.manual_seed(seed)
    model = _Shadowed(dropout)
    optimizer = SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    return model, optimizer, ModelEMA(model, EMA_DECAY, EMA_TAU)
"""),
    ("forbidden alias", "BatchNorm2d through torch.batch_norm (a C function: no Python frame to see)",
     "10_capstone", "capstone", "10.2", """
class BatchNorm2d(BatchNorm1d):
    def forward(self, x):
        if self.training:
            self.num_batches_tracked += 1
        return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training,
                                0.1 if self.momentum is None else self.momentum, self.eps, False)
"""),
    # ---- threads ---------------------------------------------------------------------------------------
    ("threads", "a thread rewrites the recorded result after the return", "01_tensors", "tensors", "1.4", '''
import gc, threading, time
def _fix_later(x):
    deadline = time.time() + 0.5
    while time.time() < deadline:
        for obj in gc.get_objects():
            if type(obj) is dict and "__tensor__" in obj and obj["__tensor__"].shape == x.shape:
                obj["__tensor__"].copy_(torch.round(x))
        time.sleep(0.001)
def round_half_even(x):
    threading.Thread(target=_fix_later, args=(x.clone(),), daemon=True).start()
    return torch.floor(x + 0.5)
'''),
]
