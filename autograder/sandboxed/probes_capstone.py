"""Lesson 10's observations: the student's split, the pipeline they build (its classes, settings and
weights), their parts trained by the fixture loop, and their loop run on torch's parts.

The student's train() is handed torch's pipeline and the student's parts are trained by fixtures'
loop, so a mistake in one is never charged to the other. As everywhere in the sandbox this only
records; the trusted judge rebuilds torch's pipeline from the same seed, evaluates recorded weights
itself and decides.
"""
import sys

import torch
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader

import fixtures
from probes import OpLog, error_text, record, unwritten
from probes_modules import (INSTANCE_DICT, MODULE, NO_GRAD, OPTIMIZER_DICT, SEED, TO, TRAIN, module_state, parameters,
                            qualname)
from probes_training import IS_GRAD_ENABLED, RAND, REGISTER_HOOK

REGISTER_PRE_HOOK = MODULE.register_forward_pre_hook
UPDATE_AVERAGE = AveragedModel.update_parameters
AVERAGED_UPDATES = 2            # checks/capstone.py's _averaging_expected makes as many

# torch's own implementations of what the capstone asks the student to bring: code from these files
# running while the student's pipeline trains means one of its parts is torch's, whatever its name.
TORCH_PARTS = ("optim/sgd.py", "optim/swa_utils.py", "nn/modules/batchnorm.py", "nn/modules/dropout.py")
TORCH_FUNCTIONS = ("batch_norm", "dropout", "alpha_dropout", "feature_alpha_dropout", "dropout2d", "dropout1d")
GET_PROFILE, SET_PROFILE = sys.getprofile, sys.setprofile
OPTIONS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")


def _failed(out, e):
    if isinstance(e, NotImplementedError) and unwritten(e):
        raise e
    out["call_error"] = error_text(e)
    return out


ITER_LOADER = DataLoader.__iter__
TOLIST = torch._C.TensorBase.tolist
BATCH_TYPES = (list, tuple)
TENSOR = torch.Tensor


def split_run(ctx, target, n, seed, batch_size, test_size, global_seed=0):
    """split_loaders on n examples whose pixels hold their index (label: index mod 10), twice; each
    pair's loaders iterated in turn (train, test, train, test); then what the global RNG draws next.

    Read only through torch's own code, failing closed: each loader must be a DataLoader itself (a
    subclass could iterate one way here and another in a training loop), iterated by DataLoader's
    __iter__, and each batch a plain list or tuple of two plain tensors (a subclass of either could
    read differently indexed than unpacked). Anything else is recorded by name and not read."""
    fn = ctx.resolve(target)
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()
    labels = torch.arange(n) % 10
    SEED(global_seed)
    out = {"call_error": None, "loaders": [], "epochs": [], "global_after": None, "odd_batch": None}
    try:
        for _ in range(2):
            pair = fn(images, labels, seed, batch_size=batch_size, test_size=test_size)
            if type(pair) is not tuple or len(pair) != 2:
                out["loaders"].append(type(pair).__name__)
                return out
            out["loaders"].append([[type(p) is DataLoader, qualname(type(p))] for p in pair])
            if any(type(p) is not DataLoader for p in pair):
                return out
            epochs = [None] * 4             # recorded as [train's two epochs, test's two]
            for e in range(2):              # iterated in turn, as a training loop does: train, test, train, test
                for k, loader in enumerate(pair):
                    epoch = []
                    for batch in ITER_LOADER(loader):
                        kind = type(batch)
                        if kind not in BATCH_TYPES or len(batch) != 2 or any(type(t) is not TENSOR for t in batch):
                            out["odd_batch"] = (f"a {kind.__name__} of {[type(t).__name__ for t in batch]}"
                                                if kind in BATCH_TYPES else f"a {qualname(kind)}")
                            return out
                        x, y = batch
                        epoch.append([[int(v) for v in TOLIST(x[:, 0, 0, 0])], [int(v) for v in TOLIST(y)]])
                    epochs[2 * k + e] = epoch
            out["epochs"] += epochs
    except Exception as e:
        return _failed(out, e)
    out["global_after"] = record(RAND(4))
    return out


def _optimizer(optimizer, named):
    d = OPTIMIZER_DICT(optimizer)
    groups = d.get("param_groups")
    if type(groups) is not list:
        return {"mro": [qualname(c) for c in type.mro(type(optimizer))], "groups": None}
    names = {id(p): n for n, p in named}
    return {"mro": [qualname(c) for c in type.mro(type(optimizer))],
            "groups": [{"params": [names.get(id(p), "?") for p in g.get("params", [])],
                        **{k: g.get(k) for k in OPTIONS if type(g.get(k)) in (int, float, bool)}}
                       for g in groups if type(g) is dict]}


def _pipeline(fn, seed, use_torch, dropout):
    """The pipeline's parts as recorded facts: classes, module trees, optimizer groups, EMA copy."""
    model, optimizer, ema = fn(seed, use_torch=use_torch, dropout=dropout)
    named = parameters(model)
    averaged = INSTANCE_DICT(ema).get("_modules", {}).get("module") if isinstance(ema, torch.nn.Module) \
        else getattr(ema, "module", None)
    return {"model": module_state(model), "mro": [qualname(c) for c in type.mro(type(model))],
            "optimizer": _optimizer(optimizer, named),
            "ema_mro": [qualname(c) for c in type.mro(type(ema))],
            "ema_module": module_state(averaged) if isinstance(averaged, torch.nn.Module) else None,
            "ema_is_model": averaged is model,
            "dropout_p": [float(INSTANCE_DICT(m).get("p", -1)) for m in _modules(model)
                          if "ropout" in type(m).__name__],
            "averaging": _averaging(model, ema, averaged) if use_torch else None}


def _averaging(model, ema, averaged):
    """torch's route run, not only inspected: its AveragedModel's update count as built, then its copy
    after each of AVERAGED_UPDATES updates from a model whose weights and buffers were moved (avg_fn,
    use_buffers and the first update show only there). The same moves as checks/capstone.py's
    _averaging_expected: t ← t/2 + k/4 for floating tensors, t + k for integer ones, at update k."""
    if type(ema) is not AveragedModel or not isinstance(averaged, MODULE):
        return None
    out = {"n_averaged": record(INSTANCE_DICT(ema)["_buffers"].get("n_averaged")), "states": [], "error": None}
    try:
        for k in range(1, AVERAGED_UPDATES + 1):
            with NO_GRAD():
                for m in _modules(model):
                    d = INSTANCE_DICT(m)
                    for t in [*d["_parameters"].values(), *d["_buffers"].values()]:
                        if not isinstance(t, torch.Tensor):
                            continue
                        if t.is_floating_point():
                            t.mul_(0.5).add_(0.25 * k)
                        else:
                            t.add_(k)
            UPDATE_AVERAGE(ema, model)
            out["states"].append(module_state(averaged))
    except Exception as e:
        out["error"] = error_text(e)
    return out


def _modules(model):
    found, stack = [], [model]
    while stack:
        m = stack.pop()
        found.append(m)
        stack.extend(c for c in INSTANCE_DICT(m)["_modules"].values() if c is not None)
    return found


def pipeline_run(ctx, target, seed, dropout):
    """build_pipeline(seed, use_torch=…, dropout=dropout), yours then torch's: what each holds."""
    fn = ctx.resolve(target)
    out = {"call_error": None, "yours": None, "torch": None}
    for key, use_torch in (("yours", False), ("torch", True)):
        try:
            out[key] = _pipeline(fn, seed, use_torch, dropout)
        except Exception as e:
            return _failed(out, e)
    return out


def parts_run(ctx, target, x, y, seed, batch_size, test_size, test_batch_size, epochs, dropout, device="cpu",
              lr_gamma=1.0, record_dropout=False, dropout_passes=None):
    """build_pipeline(seed, dropout=dropout) (your parts), moved to x's device and dtype, trained by
    fixtures.run_epochs on the seeded split (the lr times lr_gamma after each epoch): every loss, the model's state after each epoch, the EMA's
    at the end, the model's test logits in eval mode, and any torch code of the parts it replaces that ran.
    With record_dropout, every pass through the model's `dropout` module too: [training, input, output];
    with dropout_passes (pass numbers, from 0, training and eval alike), only those, and how many passes ran."""
    fn = ctx.resolve(target)
    out = {"call_error": None, "losses": [], "states": [], "ema": None, "logits": None, "delegated": [],
           "unhooked": False, "step_error": None, "ops": [], "dropout": [], "dropout_count": None}
    log = OpLog()
    try:
        model, optimizer, ema = fn(seed, use_torch=False, dropout=dropout)
        averaged = getattr(ema, "module", None)
        for net in (model, averaged) if isinstance(averaged, torch.nn.Module) else (model,):
            TO(net, torch.device(device))
            TO(net, x.dtype)
    except Exception as e:
        return _failed(out, e)
    started = []
    if record_dropout or dropout_passes is not None:
        wanted = None if dropout_passes is None else set(dropout_passes)
        started = _record_passes(INSTANCE_DICT(model)["_modules"].get("dropout"), out["dropout"], wanted)
    train_loader, test_loader = fixtures.digits_loaders(x, y, seed, batch_size, test_size, test_batch_size)
    delegated = set()

    def profile(frame, event, arg):
        if event == "call":
            path = frame.f_code.co_filename.replace("\\", "/")
            if path.endswith(TORCH_PARTS) or (path.endswith("nn/functional.py")
                                              and frame.f_code.co_name in TORCH_FUNCTIONS):
                delegated.add(f"{path.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")

    SEED(seed + 1)
    try:
        for _ in range(epochs):
            SET_PROFILE(profile)
            try:
                with log:
                    out["losses"] += fixtures.run_epochs(model, optimizer, lambda: ema.update(model), train_loader, 1,
                                                         lr_gamma)
            finally:
                out["unhooked"] = out["unhooked"] or GET_PROFILE() is not profile
                SET_PROFILE(None)
            out["states"].append(module_state(model))
        out["ema"] = module_state(averaged) if isinstance(averaged, torch.nn.Module) else None
        TRAIN(model, False)
        with NO_GRAD():
            out["logits"] = record(model(test_loader.dataset.tensors[0]))
    except Exception as e:
        if isinstance(e, NotImplementedError) and unwritten(e):
            raise
        out["step_error"] = error_text(e)
    out["delegated"], out["ops"] = sorted(delegated), sorted(log.ops)
    out["dropout_count"] = len(started)
    return out


def _record_passes(module, passes, wanted=None):
    """Append [training, input, output] to passes at each forward of module (if it is one), or only at
    the passes numbered in wanted (a set; recording all 231 of a 10-epoch run would cost more than the
    rest of it). The input is recorded before the module runs, as an in-place dropout changes it.
    Returns the list that grows by one per pass started: its length is how many ran."""
    started, inputs = [], []
    if not isinstance(module, MODULE):
        return started

    def before(m, args):
        k = len(started)
        started.append(k)
        keep = wanted is None or k in wanted
        inputs.append((keep, record(args[0] if args else None) if keep else None))

    def after(m, args, output, _bool=bool):
        keep, x = inputs.pop() if inputs else (wanted is None, None)
        if keep:
            passes.append([_bool(INSTANCE_DICT(m).get("training")), x, record(output)])
    REGISTER_PRE_HOOK(module, before)
    REGISTER_HOOK(module, after)
    return started


class ModelEMA:
    """An EMA with ModelEMA's interface (lesson 07: `.module`, `.update(model)`), as build_pipeline(use_torch=
    False) hands train() one, over torch's AveragedModel: its averaging is the reference's, whichever
    interface the pipeline's EMA has."""
    __slots__ = ("module", "_average")

    def __init__(self, average, module):
        self.module, self._average = module, average

    def update(self, model):
        UPDATE_AVERAGE(self._average, model)


def train_run(ctx, target, x, y, seed, batch_size, test_size, test_batch_size, epochs, dropout, device="cpu",
              as_model_ema=False):
    """train((model, optimizer, ema) of torch's parts, seeded loaders, epochs); every forward's grad mode,
    training flags and batch size (model and EMA), the history, the final states. With as_model_ema, the
    AveragedModel is handed over behind ModelEMA's interface."""
    fn = ctx.resolve(target)
    model, optimizer, ema = fixtures.torch_pipeline(seed, dropout, torch.device(device), x.dtype)
    averaged = INSTANCE_DICT(ema)["_modules"]["module"]
    if as_model_ema:
        ema = ModelEMA(ema, averaged)
    loaders = fixtures.digits_loaders(x, y, seed, batch_size, test_size, test_batch_size)
    forwards = []

    def hook(which):
        def record_forward(module, inputs, output, _grad=IS_GRAD_ENABLED, _bool=bool, _type=type, _int=int):
            x = inputs[0] if inputs else None
            size = _int(x.shape[0]) if _type(x) is torch.Tensor and x.dim() else -1     # examples in the batch
            forwards.append([which, _bool(_grad()), [_bool(INSTANCE_DICT(m).get("training")) for m in _modules(module)],
                             size])
        return record_forward
    REGISTER_HOOK(model, hook("model"))
    REGISTER_HOOK(averaged, hook("ema"))
    out = {"call_error": None, "returned": None, "forwards": forwards, "training_after": None, "state": None,
           "ema": None}
    SEED(seed + 1)
    try:
        returned = fn((model, optimizer, ema), loaders, epochs)
    except Exception as e:
        return _failed(out, e)
    out.update({"returned": record(returned), "training_after": bool(INSTANCE_DICT(model).get("training")),
                "state": module_state(model), "ema": module_state(averaged)})
    return out
