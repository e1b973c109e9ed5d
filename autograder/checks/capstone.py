"""Checks for lesson 10 (course_pkg/capstone.py). The reference is torch's pipeline (fixtures.torch_pipeline:
nn.BatchNorm2d, nn.Dropout, torch.optim.SGD, AveragedModel), rebuilt here from the same seed on the same
split of scikit-learn's digits, trained by the same loop; the student's recorded weights are evaluated
here, in torch's net, never by the student's code.

(Long because the capstone's checks are four observations of a whole pipeline: a split's loaders, a
2-D BatchNorm step for step, a pipeline's parts step for step (dropout off; then on, torch's replaying
the student's masks) and at full training, and a loop with an EMA whose named mistakes are replayed to
say which one a wrong history follows.)
"""
import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from autograder import compare, module_view
from autograder.checks.modes import BATCH_NORM_FORBID
from autograder.inputs import randn, seed_from
from autograder.observation import vector_jacobian
from autograder.results import Failure
from autograder.sandboxed import fixtures
from autograder.spec import Case, CheckList, Reference, answer

CHECKS = CheckList()
LESSON = "10_capstone"
SETTINGS = fixtures.CAPSTONE
BATCH_SIZE, TEST_SIZE, TEST_BATCH = 64, 360, 128     # test batches of another size: per-batch means show
# The step-for-step runs (10.3's match, 10.4's public loop) train on the first FEW_EXAMPLES digits: 300 to
# train on (four full batches and a short one), the usual 360 to test. An exact comparison shows any
# mistake within a few steps, and a check cell costs a second less; 10.3's accuracy run and 10.4's hidden
# loop keep all 1797 (an accuracy needs them: over 10 epochs a correct pipeline is within 0.5 points of
# torch's, over 6 within about 1, too close to the 1.5-point slack).
FEW_EXAMPLES = TEST_SIZE + 300
PASS_ACCURACY, SLACK = 0.95, 0.015
LR_GAMMA = 0.5                   # the step-for-step run halves the lr after each epoch: momentum's form shows
TORCH_PARTS = {"torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.modules.batchnorm.BatchNorm1d",
               "torch.nn.modules.dropout.Dropout", "torch.optim.sgd.SGD", "torch.optim.swa_utils.AveragedModel"}
STUDENT_PARTS = "your BatchNorm2d (from your BatchNorm1d), your Dropout, your SGD and your ModelEMA"


@lru_cache(maxsize=1)
def digits():
    """scikit-learn's digits, as course_pkg.capstone.digits_data gives them to students, read the way
    sklearn.datasets.load_digits reads them: importing scikit-learn (and SciPy) would cost a second of
    a three-second `course check`, before the sandbox could get its job."""
    import gzip
    import importlib.util

    import numpy as np
    data_file = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(data_file, mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    images = data[:, :-1].reshape(-1, 8, 8)
    return (torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 16,
            torch.tensor(data[:, -1].astype(int, copy=False)))


# ---- 10.1: the split ----------------------------------------------------------------------------------

def _split_expected(n, seed, batch_size, test_size, global_seed):
    ids, labels = torch.arange(n), torch.arange(n) % 10
    train, test = fixtures.split(n, seed, test_size)
    unshuffled = DataLoader(TensorDataset(ids[test], labels[test]), batch_size=batch_size,
                            generator=torch.Generator().manual_seed(seed))
    loaders = (fixtures.loader(ids[train], labels[train], batch_size, seed), unshuffled)
    epochs = [[[b[0].tolist(), b[1].tolist()] for b in loader] for loader in loaders for _ in range(2)] * 2
    torch.manual_seed(global_seed)
    return epochs, torch.rand(4), test.tolist()


def _split_case(gen, n, batch_size, test_size):
    seed, global_seed = seed_from(gen), seed_from(gen)
    epochs, global_after, test = _split_expected(n, seed, batch_size, test_size, global_seed)

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"split_loaders raised {o['call_error'][:600]}")
        if o["loaders"] and not isinstance(o["loaders"][0], list):
            return Failure(f"split_loaders must return a tuple (train_loader, test_loader), got a {o['loaders'][0]}")
        for pair in o["loaders"]:
            odd = [name for exact, name in pair if not exact]
            if odd:
                return Failure(f"split_loaders must return two torch DataLoaders (torch.utils.data.DataLoader "
                               f"itself), got a {odd[0].rsplit('.', 1)[-1]}",
                               "DataLoader(TensorDataset(images[indices], labels[indices]), batch_size=..., ...)")
        if o["odd_batch"] is not None:
            return Failure(f"the loaders' batches must be (images, labels) pairs of plain tensors, as DataLoader's "
                           f"own collation makes them from a TensorDataset; a batch was {o['odd_batch'][:200]}",
                           "a TensorDataset of the split's images and labels, and no collate_fn")
        got = o["epochs"]
        if len(got) != len(epochs):
            raise compare.Unreadable("the loaders' batches came back malformed")
        # The test loaders first: a wrong permutation shows there as a wrong set, not as a wrong shuffle.
        for k in sorted(range(len(epochs)), key=lambda k: k % 4 < 2):
            exp, rec = epochs[k], got[k]
            if exp == rec:
                continue
            which = "training" if k % 4 < 2 else "test"
            seen = [i for batch in rec for i in batch[0]] if isinstance(rec, list) else []
            if which == "test" and sorted(seen) != sorted(test):
                hint = ("the test set is the permutation's *first* test_size indices, drawn by torch.randperm(n, "
                        "generator=torch.Generator().manual_seed(seed))")
            elif which == "test":
                hint = "the test loader keeps the permutation's order and does not shuffle"
            elif any(labels_ != [i % 10 for i in ids_] for ids_, labels_ in rec):
                hint = "each label must stay with its image: index images and labels with the same indices"
            elif k % 2 == 1 and got[k - 1] == epochs[k - 1]:
                hint = ("the training loader's first epoch is right, its second (after the test loader was iterated) "
                        "is not: the two loaders share one generator, so iterating the test loader changed the "
                        "training order. Give each loader its own torch.Generator().manual_seed(seed)")
            else:
                hint = ("the training loader shuffles with its own generator, seeded with seed: "
                        "DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))")
            call, epoch = k // 4 + 1, k % 2 + 1
            return Failure(f"call {call}, the {which} loader's batches (epoch {epoch}) differ from the seeded split's",
                           hint)
        problem = compare.tensor_problem(global_after, compare.unrecord(o["global_after"]))
        if problem:
            return Failure("splitting or iterating changed the global RNG (torch.manual_seed's stream)",
                           "draw the permutation and the shuffling from your own torch.Generator, never the global "
                           "one, and give the test loader a generator too: without one, a DataLoader draws a seed "
                           "from the global RNG each time it is iterated")
        return None

    shown = (f"split_loaders(images, labels, seed, batch_size={batch_size}, test_size={test_size}) with {n} examples, "
             "twice; each time the loaders iterated in turn (train, test, train, test)")
    return Case("probes_capstone.split_run", {"target": "capstone.split_loaders", "n": n, "seed": seed,
                                              "batch_size": batch_size, "test_size": test_size,
                                              "global_seed": global_seed}, judge, shown=shown, timeout_s=30)


@CHECKS.add("10.1", points=2, target="capstone.split_loaders", cuda=False)
def split_loaders(gen, device):
    yield _split_case(gen, 1797, BATCH_SIZE, TEST_SIZE)
    yield _split_case(gen, 50, 16, 13)


@CHECKS.hidden("10.1", points=1)
def split_loaders_hidden(gen, device):
    yield _split_case(gen, 37, 5, 7)


# ---- 10.2: BatchNorm2d --------------------------------------------------------------------------------

def _bn2d_case(gen, device, features, shapes, eval_steps=2, dtype=torch.float32, options=None):
    xs = [randn(gen, *s, device=device, dtype=dtype) for s in shapes]
    gs = [randn(gen, *s, device=device, dtype=dtype) for s in shapes]
    script = [("to", device)] + ([("to", "float64")] if dtype == torch.float64 else [])
    plan = []
    for t, (x, g) in enumerate(zip(xs, gs)):
        if t == len(xs) - eval_steps:
            script.append(("train", False))
        plan.append(len(script))
        script.append(("forward", x, "leaf", g))
    options = options or {}
    reference = torch.nn.BatchNorm2d(features, **options).to(device=device, dtype=dtype)
    expected = []
    for t, (x, g) in enumerate(zip(xs, gs)):
        if t == len(xs) - eval_steps:
            reference.eval()
        leaf = x.detach().clone().requires_grad_()
        out = reference(leaf)
        grads = vector_jacobian(out, [leaf, reference.weight, reference.bias], g)
        expected.append({"output": out.detach(), "training": reference.training,
                         "grads": dict(zip(("input", "weight", "bias"), grads)),
                         "buffers": {n: b.detach().clone() for n, b in reference.named_buffers()}})
    atol, rtol = (1e-4, 1e-4) if dtype == torch.float32 else (1e-9, 1e-7)

    def judge(o):
        if o["call_error"] is None and "course_pkg.modes.BatchNorm1d" not in o["mro"]:
            return Failure("BatchNorm2d must subclass your BatchNorm1d (course_pkg.modes)",
                           "class BatchNorm2d(BatchNorm1d): only forward changes, by a reshape")
        state, problem = module_view.built(o, "BatchNorm2d")
        if problem:
            return problem
        problem = module_view.names_problem("the state_dict keys", ["weight", "bias", "running_mean", "running_var",
                                                                    "num_batches_tracked"], o["state_dict"]["keys"])
        if problem:
            return problem
        for t, (exp, index) in enumerate(zip(expected, plan)):
            rec = o["steps"][index]
            where = f"step {t + 1} ({'training' if exp['training'] else 'eval'} mode)"
            out = compare.unrecord(rec["output"])
            problem = compare.tensor_problem(exp["output"], out, atol=atol, rtol=rtol)
            if problem:
                hint = ("statistics per channel, over N, H and W: reshape to (N, C, H·W), which your BatchNorm1d "
                        "normalises over N and L" if exp["training"] else "")
                if options:
                    hint = (hint + "; " if hint else "") + ("use the layer's own eps and momentum (self.eps, "
                                                            "self.momentum, from the arguments it was built with)")
                return problem.within(f"{where}, the output: ").with_hint(hint)
            for name, e in exp["grads"].items():
                got = rec.get("input_grad") if name == "input" else (rec.get("grads") or {}).get(name)
                if got is None:
                    return Failure(f"{where}: no gradient reached {name}")
                problem = compare.tensor_problem(e, compare.unrecord(got), atol=atol, rtol=rtol)
                if problem:
                    return problem.within(f"{where}, the gradient for {name}: ")
            buffers = module_view.read(rec["state"])["buffers"]
            problem = module_view.tensors_problem(f"{where}, the buffers", exp["buffers"], buffers, atol=atol, rtol=rtol)
            if problem:
                return problem.with_hint("the running statistics follow the layer's own momentum (self.momentum, "
                                         "set from the arguments): let your BatchNorm1d's forward update them"
                                         if options else "")
        return None

    args = "".join(f", {k}={v}" for k, v in options.items())
    shown = (f"BatchNorm2d({features}{args}): {len(shapes) - eval_steps} training steps on inputs shaped "
             f"{tuple(shapes[0])}…, then {eval_steps} in eval mode, each with backward"
             + (" (in float64)" if dtype == torch.float64 else ""))
    return module_view.case("capstone.BatchNorm2d", (features,), options, script, 0, judge, shown)


def _bn_shapes(gen, n_steps, features):
    return [(n, features, h, w) for n, h, w in torch.randint(1, 5, (n_steps, 3), generator=gen).tolist()
            if n * h * w > 1] or [(2, features, 3, 3)]


@CHECKS.add("10.2", points=2, target="capstone.BatchNorm2d", forbid=BATCH_NORM_FORBID)
def batch_norm_2d(gen, device):
    yield _bn2d_case(gen, device, 3, _bn_shapes(gen, 8, 3), options={"eps": 1e-3, "momentum": 0.3})


@CHECKS.hidden("10.2", points=1)
def batch_norm_2d_hidden(gen, device):
    yield _bn2d_case(gen, device, 4, _bn_shapes(gen, 8, 4), dtype=torch.float64)


# ---- 10.3: the pipeline: its parts, then your parts trained against torch's ---------------------------------

def _torch_parts_used(view) -> str | None:
    """Which of torch's classes the student's own pipeline holds (or subclasses)."""
    types = set(view["model"]["types"].values()) if isinstance(view["model"].get("types"), dict) else set()
    for qualified in sorted(TORCH_PARTS):
        if qualified in types or qualified in view["optimizer"]["mro"] or qualified in view["ema_mro"]:
            return qualified
    return None


def _structure_problem(view, seed, dropout, use_torch):
    who = "torch's pipeline (use_torch=True)" if use_torch else "your pipeline"
    reference = fixtures.torch_pipeline(seed, dropout, "cpu")[0]
    expected = module_view.describe(reference)
    got = module_view.read(view["model"])
    for part in ("parameters", "buffers"):
        problem = module_view.tensors_problem(f"{who}: the model's {part}", expected[part], got[part])
        if problem:
            return problem.with_hint("layers created in the order of the spec, under these names, after "
                                     "torch.manual_seed(seed): initialisation draws in creation order")
    if use_torch:
        types = set(view["model"]["types"].values())
        missing = {"torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.modules.dropout.Dropout"} - types
        if missing:
            return Failure(f"{who}: the model holds no {sorted(missing)[0]}")
        if view["optimizer"]["mro"][:1] != ["torch.optim.sgd.SGD"]:
            return Failure(f"{who}: the optimizer is a {view['optimizer']['mro'][:1]}, not torch.optim.SGD")
        if view["ema_mro"][:1] != ["torch.optim.swa_utils.AveragedModel"]:
            return Failure(f"{who}: the EMA is a {view['ema_mro'][:1]}, not torch's AveragedModel")
    else:
        used = _torch_parts_used(view)
        if used:
            return Failure(f"your pipeline uses torch's {used.rsplit('.', 1)[1]} ({used})",
                           f"use_torch=False builds from your parts: {STUDENT_PARTS}")
    groups = view["optimizer"]["groups"]
    names = list(expected["parameters"])
    if not groups or [n for g in groups for n in g["params"]] != names:
        return Failure(f"{who}: the optimizer must hold all the model's parameters, in order: {names}")
    for key in ("lr", "momentum", "weight_decay"):
        if any(g.get(key) != SETTINGS[key] for g in groups):
            return Failure(f"{who}: the optimizer's {key} is {groups[0].get(key)}, expected {SETTINGS[key]}")
    if view["ema_is_model"] or view["ema_module"] is None:
        return Failure(f"{who}: the EMA must hold its own copy of the model in `.module`")
    averaged = module_view.read(view["ema_module"])
    problem = module_view.tensors_problem(f"{who}: the EMA's copy's parameters", expected["parameters"],
                                          averaged["parameters"])
    if problem:
        return problem
    if view["dropout_p"] != [dropout]:
        return Failure(f"{who}: the model's Dropout probabilities are {view['dropout_p']}, expected [{dropout}]")
    return _averaging_problem(view["averaging"], seed, dropout) if use_torch else None


AVERAGED_UPDATES = 2        # probes_capstone.AVERAGED_UPDATES: the updates the probe gives torch's route


def _averaging_expected(seed, dropout):
    """What probes_capstone._averaging records, on the reference: torch's AveragedModel's copy after
    each update from a model whose floating tensors moved t <- t/2 + k/4 and integer ones t + k (update k)."""
    model, _, ema = fixtures.torch_pipeline(seed, dropout, "cpu")
    states = []
    for k in range(1, AVERAGED_UPDATES + 1):
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                if t.is_floating_point():
                    t.mul_(0.5).add_(0.25 * k)
                else:
                    t.add_(k)
        ema.update_parameters(model)
        states.append(module_view.describe(ema.module))
    return states


def _averaging_problem(rec, seed, dropout):
    """torch's route, run by the probe: an AveragedModel updated once when built, averaging with
    ramp_average() the parameters and the buffers (build_pipeline's spec). Its training is never
    compared with the student's parts, so only this shows a plain average or a missing first update."""
    who = "torch's pipeline (use_torch=True)"
    if rec is None:
        return Failure(f"{who}: the EMA must be torch's AveragedModel itself")
    if rec["error"] is not None:
        return Failure(f"{who}: updating its AveragedModel (ema.update_parameters(model)) raised {rec['error'][:600]}")
    n = compare.unrecord(rec["n_averaged"])
    if type(n) is not torch.Tensor or n.numel() != 1 or int(n) != 1:
        return Failure(f"{who}: build_pipeline returned an AveragedModel with n_averaged = "
                       f"{int(n) if type(n) is torch.Tensor and n.numel() == 1 else compare.show(n)}: expected 1",
                       "call ema.update_parameters(model) once right after building it: that first update copies "
                       "the model (as your ModelEMA starts from a copy), and ramp_average's n counts from there")
    hints = {"parameters": "avg_fn=ramp_average(): without it AveragedModel keeps an equal-weight average of every "
                           "version so far (SWA), not ModelEMA's exponential one",
             "buffers": "use_buffers=True: without it AveragedModel copies the model's BatchNorm running statistics "
                        "instead of averaging them as ModelEMA does"}
    for k, (exp, got) in enumerate(zip(_averaging_expected(seed, dropout), rec["states"])):
        got = module_view.read(got)
        for part in ("parameters", "buffers"):
            what = f"{who}: after update {k + 1} of the {AVERAGED_UPDATES} the grader gave it, the average's {part}"
            problem = module_view.tensors_problem(what, exp[part], got[part], atol=1e-6, rtol=1e-5)
            if problem:
                return problem.with_hint(hints[part])
    if len(rec["states"]) != AVERAGED_UPDATES:
        raise compare.Unreadable("the averaged model's updates came back malformed")
    return None


def _pipeline_case(gen, dropout):
    seed = seed_from(gen)

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"build_pipeline raised {o['call_error'][:600]}")
        for key, use_torch in (("yours", False), ("torch", True)):
            if not isinstance(o[key], dict):
                raise compare.Unreadable("the pipeline came back malformed")
            problem = _structure_problem(o[key], seed, dropout, use_torch)
            if problem:
                return problem
        return None

    return Case("probes_capstone.pipeline_run", {"target": "capstone.build_pipeline", "seed": seed,
                                                 "dropout": dropout}, judge, timeout_s=30,
                shown=f"build_pipeline({seed}, use_torch=False / True, dropout={dropout}): the parts, settings "
                      "and initial weights, against torch's net built from the same seed; then torch's route's "
                      f"AveragedModel after {AVERAGED_UPDATES} updates from moved weights")


def _spec(seed, epochs, dropout, device, dtype=torch.float32, examples=None):
    x, y = (t[:examples] for t in digits())
    return {"x": x.to(device=device, dtype=dtype), "y": y.to(device), "seed": seed, "batch_size": BATCH_SIZE, "test_size": TEST_SIZE,
            "test_batch_size": TEST_BATCH, "epochs": epochs, "dropout": dropout, "device": str(device)}


class _Replay(torch.nn.Module):
    """Dropout that draws nothing: in training mode its k-th pass multiplies by the k-th ratio (a
    student's dropout output over its input, 0 where the input was 0: there every mask gives 0, and
    the ReLU before it passes no gradient); in eval mode the identity."""

    def __init__(self, ratios):
        super().__init__()
        self.ratios = iter(ratios)

    def forward(self, x):
        return x * next(self.ratios).to(x.device) if self.training else x


def _torch_run(seed, epochs, dropout, device, dtype=torch.float32, lr_gamma=1.0, examples=None, ratios=None):
    """torch's pipeline trained by fixtures.run_epochs, as parts_run trains the student's; with ratios,
    its Dropout replays a student's masks (_Replay)."""
    spec = _spec(seed, epochs, dropout, device, dtype, examples)
    model, optimizer, ema = fixtures.torch_pipeline(seed, dropout, torch.device(device), dtype)
    if ratios is not None:
        model.dropout = _Replay(ratios)
    train, test = fixtures.digits_loaders(spec["x"], spec["y"], seed, BATCH_SIZE, TEST_SIZE, TEST_BATCH)
    torch.manual_seed(seed + 1)
    losses, states = [], []
    for _ in range(epochs):
        losses += fixtures.run_epochs(model, optimizer, lambda: ema.update_parameters(model), train, 1, lr_gamma)
        states.append(module_view.describe(model))
    model.eval()
    with torch.no_grad():
        logits = model(test.dataset.tensors[0])
    return losses, states, module_view.describe(ema.module), logits, test.dataset.tensors


_cached_torch_run = lru_cache(maxsize=8)(_torch_run)      # a class's submissions share the public seeds


def _accuracy(state, tensors, dropout):
    """A recorded state's test accuracy, evaluated here in torch's net."""
    net = fixtures.DigitsNet(dropout).to(tensors[0].device)
    net.load_state_dict({**state["parameters"], **state["buffers"]})
    net.eval()
    with torch.no_grad():
        return (net(tensors[0]).argmax(1) == tensors[1]).double().mean().item()


def _parts_delegation(o):
    if o["unhooked"]:
        return Failure("the profile hook that watches for torch's own parts was removed while training")
    if o["delegated"]:
        return Failure(f"while your pipeline trained, torch's own code ran: {', '.join(o['delegated'][:4])}",
                       f"use_torch=False builds from your parts: {STUDENT_PARTS}")
    return None


def _trained(o, n):
    """parts_run's common first verdicts (built, trained, with its own parts only), then the model's state
    after each of the n epochs: (states, None) or (None, Failure)."""
    if o["call_error"] is not None:
        return None, Failure(f"build_pipeline raised {o['call_error'][:600]}")
    if o["step_error"] is not None:
        return None, Failure(f"training your pipeline raised {o['step_error'][:600]}")
    if len(o["states"]) != n or o["ema"] is None:
        return None, Failure("your pipeline's EMA holds no module (ModelEMA.module)")
    problem = _parts_delegation(o)
    if problem:
        return None, problem
    return [module_view.read(s) for s in o["states"]], None


def _match_case(gen, device, epochs=2):
    """Dropout off: your parts and torch's are the same computation, step for step. In float64: two
    correct float32 pipelines differ by rounding (BatchNorm's statistics summed in another order, a
    thread count), and training amplifies that by orders of magnitude over a few dozen steps."""
    seed = seed_from(gen)
    spec = {**_spec(seed, epochs, 0.0, device, torch.float64, FEW_EXAMPLES), "lr_gamma": LR_GAMMA}
    atol, rtol = (1e-8, 1e-6) if str(device) == "cpu" else (1e-6, 1e-5)
    reference = Reference(lambda: _cached_torch_run(seed, epochs, 0.0, str(device), torch.float64, LR_GAMMA,
                                                    FEW_EXAMPLES))

    def judge(o):
        states, problem = _trained(o, epochs)
        return problem or _same_run_problem(o, states, reference(), atol, rtol, replayed=False)

    shown = (f"build_pipeline({seed}, dropout=0.0) — your parts, in float64 — trained {epochs} epochs on "
             f"{FEW_EXAMPLES - TEST_SIZE} digits (the lr halved "
             "after each) beside torch's pipeline from the same seed: every loss, the weights after each epoch, the EMA, "
             "the eval-mode outputs")
    return Case("probes_capstone.parts_run", {"target": "capstone.build_pipeline", **spec}, judge, shown=shown,
                timeout_s=120, prepare=reference)


def _same_run_problem(o, states, run, atol, rtol, replayed):
    """The student's recorded run against torch's (_torch_run's): every loss, the weights after each
    epoch, the EMA, the eval-mode test logits."""
    losses, ref_states, ref_ema, ref_logits, _ = run
    got = torch.tensor([float(v) for v in o["losses"]], dtype=torch.float64)
    expected = torch.tensor(losses, dtype=torch.float64)
    problem = compare.tensor_problem(expected, got, atol=atol, rtol=rtol)
    if problem:
        return problem.within("the training losses of your pipeline against torch's: ").with_hint(
            _losses_hint(expected, got, len(losses) // len(ref_states), atol, rtol, replayed))
    for k, (exp, rec) in enumerate(zip(ref_states, states)):
        for part in ("parameters", "buffers"):
            problem = module_view.tensors_problem(f"after epoch {k + 1}, the model's {part}", exp[part], rec[part],
                                                  atol=atol, rtol=rtol)
            if problem:
                return problem
    ema = module_view.read(o["ema"])
    problem = module_view.tensors_problem("the EMA's weights", ref_ema["parameters"], ema["parameters"],
                                          atol=atol, rtol=rtol)
    if problem:
        return problem.with_hint("your ModelEMA's ramp, over the training steps (check lesson 07's 7.2)")
    # The average is evaluated with its own BatchNorm running statistics: ModelEMA's spec (7.2) averages
    # every floating-point entry of state_dict(), buffers too, as AveragedModel(use_buffers=True) does.
    problem = module_view.tensors_problem("the EMA's buffers", ref_ema["buffers"], ema["buffers"],
                                          atol=atol, rtol=rtol)
    if problem:
        return problem.with_hint("ModelEMA.update averages every floating-point entry of state_dict(), BatchNorm's "
                                 "running statistics too, not only the parameters, and copies the integer "
                                 "num_batches_tracked (lesson 07's 7.2)")
    problem = compare.tensor_problem(ref_logits, compare.unrecord(o["logits"]), atol=atol * 10, rtol=rtol * 10)
    if problem:
        return problem.within("the trained model's test logits in eval mode: ").with_hint(
            "same weights, different outputs in eval mode: BatchNorm must normalise with its running statistics, "
            "and Dropout must pass its input through")
    return None


def _losses_hint(expected, got, per_epoch, atol, rtol, replayed):
    """Where the losses part ways says which part differs (replayed: torch's run used the student's
    dropout masks; otherwise the lr was halved after each epoch)."""
    if len(got) != len(expected):
        return ""
    off = ((expected - got).abs() > atol + rtol * expected.abs()).nonzero()
    first = int(off[0]) if len(off) else 0
    if first == 0:
        return ("the very first loss differs, before any step: the forward pass (DigitsNet, BatchNorm2d in training "
                "mode" + ("; with your own dropout masks replayed, fc must be given dropout's output" if replayed
                          else "") + ") or the initial weights")
    if not replayed and first >= per_epoch:
        return ("the first epoch agrees, the next does not: there the grader's loop multiplied the lr by "
                f"{LR_GAMMA}, as a scheduler would. torch's momentum form and the textbook's (v = μv − lr·g; "
                "p += v) agree for a constant lr and part ways when it changes (lesson 07)")
    return ("the first loss agrees, later ones do not: a step differs (your SGD: momentum, weight decay) or the "
            "running statistics do" + ("; or the gradient through your dropout, which must be the output's "
                                       "gradient times the mask over 1 − p" if replayed else ""))


def _dropout_ratios(passes, p, batches, atol, rtol):
    """The recorded passes through the student's `dropout` (parts_run's record_dropout) read as masks:
    (one output/input ratio per training step, None) or (None, Failure). A mask is judged here, not
    replayed blindly: scaled by 1 / (1 - p), keeping 1 - p of the features, drawn per example, and no
    mask at all in eval mode. batches: the size of each training batch, in order."""
    def tensor(rec):
        value = compare.unrecord(rec)
        if type(value) is not torch.Tensor:
            raise compare.Unreadable(f"your dropout was given or returned a {type(value).__name__}, not a tensor")
        return value.to(torch.float64)

    training = [(tensor(x), tensor(y)) for mode, x, y in passes if mode]
    if not training:
        return None, Failure("the model's `dropout` module never ran while training",
                             "forward: flatten, then self.dropout, then fc (section 3)")
    if len(training) != len(batches):
        return None, Failure(f"the model's `dropout` ran {len(training)} times in training mode over {len(batches)} "
                             "training steps", "once per forward pass, on the flattened features")
    sizes = [x.shape[0] if x.dim() else 0 for x, _ in training]
    if sizes != batches:
        return None, Failure(f"the model's `dropout` was given batches of {sizes[:6]}… examples; the training "
                             f"batches held {batches[:6]}…", "pass the whole batch's flattened features through it")
    scale, ratios, kept, known_count, varied, columns = 1 / (1 - p), [], 0, 0, 0, 0
    for x, y in training:
        if x.dim() != 2 or x.shape[1] != 32 * 2 * 2 or y.shape != x.shape:
            return None, Failure(f"your model's dropout took an input of shape {tuple(x.shape)} and gave "
                                 f"{tuple(y.shape)}: it belongs on the flattened (N, 128) features, just before fc")
        known = x != 0
        ratio = torch.where(known, y / torch.where(known, x, torch.ones_like(x)), torch.zeros_like(x))
        if (y[~known] != 0).any():
            return None, Failure("your dropout gave a non-zero output where its input was zero")
        keep = known & (ratio != 0)
        off = keep & ((ratio - scale).abs() > atol + rtol * scale)
        if off.any():
            return None, Failure(f"your dropout multiplied a kept feature by {ratio[off][0].item():.6g}; expected "
                                 f"1 / (1 - p) = {scale:.6g} (p = {p})",
                                 "inverted dropout scales what it keeps while training, so eval needs no change")
        kept, known_count = kept + int(keep.sum()), known_count + int(known.sum())
        rows = known.sum(0) >= 8            # columns with enough examples to tell a shared mask
        varied += int((rows & keep.any(0) & (known & ~keep).any(0)).sum())
        columns += int(rows.sum())
        ratios.append(ratio)
    rate = kept / max(known_count, 1)
    if abs(rate - (1 - p)) > 5 * math.sqrt(p * (1 - p) / max(known_count, 1)) + 1e-3:
        return None, Failure(f"your dropout kept {100 * rate:.1f} % of the features while training; expected "
                             f"{100 * (1 - p):.0f} % (p = {p} is the probability of dropping one)")
    if columns and varied < columns / 2:
        return None, Failure("your dropout drew one mask for the whole batch: every example lost the same features",
                             "draw a mask of the input's shape, one draw per element")
    for mode, x, y in passes:
        if not mode and not torch.equal(tensor(x), tensor(y)):
            return None, Failure("your model's dropout changed its input in eval mode",
                                 "in eval mode Dropout is the identity (lesson 09)")
    return ratios, None


def _dropout_case(gen, device, epochs=1, dropout=0.25):
    """Dropout on, step for step: the student's dropout draws its masks in its own way, so torch's
    pipeline replays them (_Replay) once _dropout_ratios has found them to be masks of the right
    kind. It shows what an accuracy cannot: dropout in the wrong place, left on in eval mode, not
    scaled, or its gradient wrong."""
    seed = seed_from(gen)
    spec = {**_spec(seed, epochs, dropout, device, torch.float64, FEW_EXAMPLES), "record_dropout": True}
    atol, rtol = (1e-8, 1e-6) if str(device) == "cpu" else (1e-6, 1e-5)

    def judge(o):
        states, problem = _trained(o, epochs)
        if problem:
            return problem
        train, _ = fixtures.digits_loaders(spec["x"], spec["y"], seed, BATCH_SIZE, TEST_SIZE, TEST_BATCH)
        batches = [len(indices) for indices in train.batch_sampler] * epochs    # the loader parts_run trains on
        ratios, problem = _dropout_ratios(o["dropout"], dropout, batches, atol, rtol)
        if problem:
            return problem
        run = _torch_run(seed, epochs, dropout, str(device), torch.float64, 1.0, FEW_EXAMPLES, ratios)
        return _same_run_problem(o, states, run, atol, rtol, replayed=True)

    shown = (f"build_pipeline({seed}, dropout={dropout}) — your parts, in float64 — trained {epochs} epochs on "
             f"{FEW_EXAMPLES - TEST_SIZE} digits beside torch's pipeline replaying your dropout's masks: the masks, "
             "every loss, the weights after each epoch, the EMA, the eval-mode outputs")
    return Case("probes_capstone.parts_run", {"target": "capstone.build_pipeline", **spec}, judge, shown=shown,
                timeout_s=120)


def _sampled_dropout_problem(o, p, sizes, picks):
    """A few of the accuracy run's dropout passes (the picks: numbers of training passes, then the
    eval-mode pass after training), judged as _dropout_case judges them all. That case runs in float64
    only; this shows a Dropout that is right there and wrong in the float32 the accuracy is learnt in,
    which an accuracy alone would let through (a model learns, worse or not, with a wrong dropout)."""
    steps = len(sizes)
    where = f"in the float32 run ({steps} training steps, then the test set in eval mode)"
    if o["dropout_count"] != steps + 1:
        return Failure(f"{where} the model's `dropout` ran {o['dropout_count']} times; expected {steps + 1}, once "
                       "per forward", "forward: flatten, then self.dropout, then fc (section 3)")
    passes = o["dropout"]
    if len(passes) != len(picks):
        return Failure(f"{where} the grader saw {len(passes)} of the {len(picks)} dropout passes it recorded",
                       "leave the model's forward hooks in place")
    for k, (mode, _, _) in zip(picks, passes):
        if mode != (k < steps):
            return Failure(f"{where} the model's `dropout` ran in {'training' if mode else 'eval'} mode at "
                           f"{'a training step' if k < steps else 'test time'}")
    _, problem = _dropout_ratios(passes, p, [sizes[k] for k in picks if k < steps], atol=1e-6, rtol=1e-5)
    return problem.within(f"{where}: ") if problem else None


def _accuracy_case(gen, device, epochs=10, dropout=0.25, last=3, sampled=4):
    """Dropout on: your parts learn as well as torch's (their masks differ, so no step-for-step match).
    `sampled` of its training passes through dropout, drawn at random, and its eval pass are judged too."""
    seed = seed_from(gen)
    spec = _spec(seed, epochs, dropout, device)
    reference = Reference(lambda: _cached_torch_run(seed, epochs, dropout, str(device)))
    train, _ = fixtures.digits_loaders(spec["x"], spec["y"], seed, BATCH_SIZE, TEST_SIZE, TEST_BATCH)
    sizes = [len(indices) for indices in train.batch_sampler] * epochs     # each training pass's batch
    picks = sorted(torch.randperm(len(sizes), generator=gen)[:sampled].tolist()) + [len(sizes)]
    spec["dropout_passes"] = picks

    def judge(o):
        states, problem = _trained(o, epochs)
        if problem:
            return problem
        problem = _sampled_dropout_problem(o, dropout, sizes, picks)
        if problem:
            return problem
        _, ref_states, ref_ema, _, tensors = reference()
        try:
            yours = [_accuracy(s, tensors, dropout) for s in states[-last:]]
            ema = _accuracy(module_view.read(o["ema"]), tensors, dropout)
        except RuntimeError as e:
            return Failure(f"your trained weights do not load into torch's net: {str(e)[:300]}")
        theirs = [_accuracy(s, tensors, dropout) for s in ref_states[-last:]]
        mine, ref = sum(yours) / last, sum(theirs) / last
        report = (f"test accuracy over the last {last} epochs: yours {100 * mine:.1f} %, torch's {100 * ref:.1f} % "
                  f"(your EMA at the end: {100 * ema:.1f} %, torch's {100 * _accuracy(ref_ema, tensors, dropout):.1f} %)")
        if mine < PASS_ACCURACY or mine < ref - SLACK:
            return Failure(f"{report}: expected at least {100 * PASS_ACCURACY:.0f} % and within "
                           f"{100 * SLACK:.1f} points of torch's",
                           "dropout on, everything else as with dropout off: your Dropout (lesson 09) in training mode, "
                           "off in eval mode")
        return None

    shown = (f"build_pipeline({seed}, dropout={dropout}) — your parts — trained {epochs} epochs; {sampled} of its "
             "dropout passes while training and one at test time; the test accuracy of its weights, evaluated by "
             "the grader, against torch's pipeline's")
    return Case("probes_capstone.parts_run", {"target": "capstone.build_pipeline", **spec}, judge, shown=shown,
                timeout_s=240, prepare=reference, slow=True)


PIPELINE_FORBID = ("batch_norm", "native_batch_norm", "_native_batch_norm_legit", "dropout", "native_dropout",
                   "feature_dropout", "alpha_dropout")


@CHECKS.add("10.3", points=4, target="capstone.build_pipeline", forbid=PIPELINE_FORBID)
def build_pipeline(gen, device):
    yield _pipeline_case(gen, 0.4)       # not DigitsNet's default: a branch that drops the argument shows
    yield _match_case(gen, device)
    yield _dropout_case(gen, device)
    yield _accuracy_case(gen, device)


# ---- 10.4: the loop with an EMA, on torch's parts ----------------------------------------------------------

HISTORY = ("train_loss", "examples_seen", "epoch_examples", "test_loss", "test_accuracy", "ema_test_loss",
           "ema_test_accuracy")


def _test(net, loader, use_eval, per_example):
    if use_eval:
        net.eval()
    pairs, correct = [], 0
    with torch.no_grad():
        for images, labels in loader:
            logits = net(images)
            pairs.append((F.cross_entropy(logits, labels).item(), len(labels)))
            correct += (logits.argmax(1) == labels).sum().item()
    count = sum(n for _, n in pairs)
    loss = sum(l * n for l, n in pairs) / count if per_example else sum(l for l, _ in pairs) / len(pairs)
    return loss, correct / count


def _reference_train(spec, *, ema_first=False, ema_eval=True, model_eval=True, zero_grad=True, per_example=True,
                     train_each_epoch=True):
    """The loop of course_pkg.capstone.train on torch's pipeline; flags off reproduce the lesson's mistakes."""
    model, optimizer, ema = fixtures.torch_pipeline(spec["seed"], spec["dropout"], torch.device(spec["device"]),
                                                    spec["x"].dtype)
    train, test = fixtures.digits_loaders(spec["x"], spec["y"], spec["seed"], spec["batch_size"], spec["test_size"],
                                          spec["test_batch_size"])
    torch.manual_seed(spec["seed"] + 1)
    history = {key: [] for key in HISTORY}
    seen = 0
    model.train()
    for _ in range(spec["epochs"]):
        if train_each_epoch:
            model.train()
        for images, labels in train:
            if zero_grad:
                optimizer.zero_grad()
            if ema_first:
                ema.update_parameters(model)
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            if not ema_first:
                ema.update_parameters(model)
            seen += len(images)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        history["epoch_examples"].append(seen)
        for prefix, net, use_eval in (("", model, model_eval), ("ema_", ema.module, ema_eval)):
            loss, accuracy = _test(net, test, use_eval, per_example)
            history[prefix + "test_loss"].append(loss)
            history[prefix + "test_accuracy"].append(accuracy)
    model.train()
    return history, module_view.describe(model), module_view.describe(ema.module)


@lru_cache(maxsize=4)
def _reference_run(seed, epochs, device, examples):
    """The reference loop's run for a train case (cached: a class's submissions share their seeds)."""
    return _reference_train(_spec(seed, epochs, 0.25, device, torch.float64, examples))


TRAIN_MISTAKES = [
    ({"ema_first": True}, "the EMA was updated before optimizer.step(): it averaged the weights of the step before. "
                          "update_ema(ema, model) right after the step"),
    ({"ema_eval": False}, "ema.module was evaluated in training mode (AveragedModel's copy starts in training mode): "
                          "its BatchNorm normalised with batch statistics and its Dropout was on. ema.module.eval() "
                          "before testing it"),
    ({"model_eval": False}, "the model was tested in training mode: BatchNorm used the test batches' statistics "
                            "(and updated its running ones), Dropout was on. model.eval() before testing"),
    ({"zero_grad": False}, "the gradients were never zeroed: backward adds to .grad, so each step used the sum of "
                           "all the batches' gradients so far. optimizer.zero_grad() at every batch"),
    ({"per_example": False}, "the test loss is the mean of the batches' means: the last, smaller test batch counted "
                             "as much as a full one. Weight each batch by its size (or sum with reduction='sum')"),
    ({"train_each_epoch": False}, "after the first evaluation the model stayed in eval mode: Dropout off and "
                                  "BatchNorm on running statistics while training. model.train() at each epoch's start"),
]


def _history(got):
    if not isinstance(got, dict):
        return None, Failure(f"train must return a dict of lists, got {compare.show(got)}")
    missing = [k for k in HISTORY if k not in got]
    if missing:
        return None, Failure(f"the history has no {missing}", f"its keys: {list(HISTORY)}")
    for key in HISTORY:
        values = got[key]
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in values):
            hint = "append loss.item() and plain numbers, not tensors" if isinstance(values, (list, tuple)) else ""
            return None, Failure(f"the history's {key!r} must be a list of numbers", hint)
    return {k: torch.tensor([float(v) for v in got[k]], dtype=torch.float64) for k in HISTORY}, None


def _forwards_problem(forwards, train_sizes, test_size, epochs):
    """Every forward the probe's hooks saw: how each ran, then that they were all seen. train_sizes: the
    training batches' sizes over the whole run. A forward the hooks missed (hooks removed) fails closed."""
    for which, grad, training, _ in forwards:
        if which == "ema" and any(training):
            return Failure("ema.module ran a forward in training mode", TRAIN_MISTAKES[1][1])
        if which == "ema" and grad:
            return Failure("ema.module was evaluated with autograd recording",
                           "evaluate under torch.no_grad(): no graph is needed to test")
        if which == "model" and not any(training) and grad:
            return Failure("the model was evaluated with autograd recording",
                           "evaluate under torch.no_grad(): no graph is needed to test")
    # One training forward per training batch (more or fewer would already change the history), and
    # at least the whole test set through each net per epoch (evaluating it twice is harmless).
    trained = [size for which, _, training, size in forwards if which == "model" and any(training)]
    if trained != train_sizes:
        return Failure(f"the grader saw {len(trained)} forwards of the model in training mode; expected "
                       f"{len(train_sizes)}, one per training batch over {epochs} epochs",
                       "call the net, model(images), not model.forward(images): forward hooks (the grader's too) "
                       "run only through the call; and train on train_loader's batches as they come")
    for which, name in (("model", "the model"), ("ema", "ema.module")):
        tested = sum(size for w, _, training, size in forwards if w == which and not any(training))
        if tested < epochs * test_size:
            return Failure(f"the grader saw {name} evaluate {tested} test examples over {epochs} epochs; expected "
                           f"the whole test set ({test_size}) after each epoch",
                           "call the net, net(images), not net.forward(images): forward hooks (the grader's too) run "
                           "only through the call; and test on every batch of test_loader")
    return None


def _train_case(gen, device, epochs, examples=None, as_model_ema=False):
    seed = seed_from(gen)
    spec = _spec(seed, epochs, 0.25, device, torch.float64, examples)     # float64: see _match_case
    atol, rtol = (1e-8, 1e-6) if str(device) == "cpu" else (1e-6, 1e-5)
    reference = Reference(lambda: _reference_run(seed, epochs, str(device), examples))
    train, _ = fixtures.digits_loaders(spec["x"], spec["y"], seed, BATCH_SIZE, TEST_SIZE, TEST_BATCH)
    train_sizes = [len(indices) for indices in train.batch_sampler] * epochs

    def judge(o):
        if o["call_error"] is not None:
            text = o["call_error"]
            hint = ""
            if as_model_ema and "ModelEMA" in text and "update_parameters" in text:
                hint = ("train is handed whichever EMA the pipeline holds: your ModelEMA has update(model), torch's "
                        "AveragedModel update_parameters(model). Call update_ema(ema, model)")
            elif as_model_ema and "ModelEMA" in text:
                hint = ("train is handed whichever EMA the pipeline holds, your ModelEMA too: it is no nn.Module. "
                        "Evaluate (and switch the mode of) ema.module, the averaged network, not ema")
            return Failure(f"train raised {text[:600]}", hint)
        got, problem = _history(compare.unrecord(o["returned"]))
        if problem:
            return problem
        history, model, ema = reference()
        for key in HISTORY:
            expected = torch.tensor(history[key], dtype=torch.float64)
            problem = compare.tensor_problem(expected, got[key], atol=atol, rtol=rtol)
            if problem:
                return problem.within(f"the history's {key!r}: ").with_hint(_mistake(got))
        problem = _forwards_problem(o["forwards"], train_sizes, TEST_SIZE, epochs)
        if problem:
            return problem
        for what, exp, rec in (("the model's", model, o["state"]), ("the EMA's", ema, o["ema"])):
            state = module_view.read(rec)
            for part in ("parameters", "buffers"):
                problem = module_view.tensors_problem(f"at the end, {what} {part}", exp[part], state[part],
                                                      atol=atol, rtol=rtol)
                if problem:
                    return problem
        if not o["training_after"]:
            return Failure("the model was left in eval mode", "model.train() before returning")
        return None

    def _mistake(got):
        """The named mistake whose replay gives this whole history (two mistakes can share one curve:
        testing the model or its EMA in training mode shift the same random draws)."""
        for flags, message in TRAIN_MISTAKES:
            alt = _reference_train(spec, **flags)[0]
            if all(len(alt[k]) == len(got[k]) and compare.tensor_problem(torch.tensor(alt[k], dtype=torch.float64),
                                                                         got[k], atol=atol, rtol=rtol) is None
                   for k in HISTORY):
                return message
        return ""

    shown = (f"train(torch's pipeline from seed {seed} in float64, dropout 0.25"
             + (", its AveragedModel handed over behind ModelEMA's interface (ema.module, ema.update(model))"
                if as_model_ema else "") +
             f"; the seeded loaders of {len(spec['x']) - TEST_SIZE} training digits, {epochs} epochs) "
             "beside the reference loop: the whole history and the final weights of the model and the EMA")
    return Case("probes_capstone.train_run", {"target": "capstone.train", **spec, "as_model_ema": as_model_ema}, judge,
                shown=shown, timeout_s=120, prepare=reference)


@CHECKS.add("10.4", points=4, target="capstone.train")
def train(gen, device):
    yield _train_case(gen, device, 2, FEW_EXAMPLES, as_model_ema=True)


@CHECKS.hidden("10.4", points=2)
def train_hidden(gen, device):
    yield _train_case(gen, device, 3)


# ---- in-notebook answer --------------------------------------------------------------------------

def _notes_net_conv2_input():
    """The notes' net on one 8×8 image: the side of the feature map that reaches conv2."""
    conv1 = torch.nn.Conv2d(1, 6, 5)
    return F.max_pool2d(F.relu(conv1(torch.zeros(1, 1, 8, 8))), 2).shape[-1]


@CHECKS.answer("10.a", title="the side of what reaches the notes' conv2 on an 8×8 digit")
def answer_conv2_input(gen, device):
    yield answer(LESSON, "answer_conv2_input", expect=_notes_net_conv2_input(), shown="your answer `answer_conv2_input`")
