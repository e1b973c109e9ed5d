"""Checks for lesson 08 (course_pkg/training.py). The reference is a training loop written here, run on
the same fixture model, seeds and loaders as the sandbox; a missing step of the loop is named by
replaying the loop without it.

(Long because the lesson's five exercises are five observations: a loader's order and its effect on
the global RNG, one epoch, an evaluation's mode and graph, a history, a figure read back as data.)
"""
import math

import torch
from torch.utils.data import DataLoader, TensorDataset

from autograder import compare, module_view
from autograder.inputs import randn, seed_from
from autograder.results import Failure
from autograder.sandboxed import fixtures
from autograder.spec import Case, CheckList, answer

CHECKS = CheckList()
LESSON = "08_training"


def _points(gen, n, device):
    """n labelled 2-D points in 3 classes (the lesson's kind of data)."""
    y = torch.randint(0, 3, (n,), generator=gen)
    centres = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    x = centres[y] + randn(gen, n, 2, device="cpu")
    return x.to(device), y.to(device)


def _stale_gradients(net):
    """probes_training.stale_gradients: the .grad a model is handed over with in a stale_grads case."""
    for k, p in enumerate(net.parameters()):
        p.grad = torch.linspace(-1.0, 1.0, p.numel(), dtype=p.dtype).reshape(p.shape).to(p.device) * (k + 1)


def _loss_fn(spec, plain=False):
    """The case's loss_fn (probes_training.loop_run builds the same); plain: torch's default cross-entropy,
    what a loop that ignores the loss_fn it is given computes."""
    if plain:
        return torch.nn.CrossEntropyLoss()
    return fixtures.LOSSES[spec["loss"]](**(spec.get("loss_options") or {}))


def _reference(spec, *, zero_grad=True, step_first=False, train_mode=True, epochs=1, weighted=True,
               eval_mode=True, zero_last=False, plain_loss=False, plain_test=False):
    """The loop of the probe's setup (probes_training.loop_run), here: per-batch losses, test losses,
    final parameters. Flags off reproduce the lesson's misconceptions."""
    torch.manual_seed(spec["seed"])
    net = fixtures.MODELS[spec["model"]]().to(spec["x"].device)
    opt = torch.optim.SGD(net.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    net.train(spec["start_training"])
    if spec.get("stale_grads"):
        _stale_gradients(net)
    train = fixtures.loader(spec["x"], spec["y"], spec["batch_size"], spec["shuffle_seed"])
    test = fixtures.loader(spec["test_x"], spec["test_y"], spec["test_batch_size"], None)
    loss_fn = _loss_fn(spec, plain_loss)
    torch.manual_seed(spec["seed"] + 1)
    losses, tests = [], []
    for _ in range(epochs):
        if train_mode:
            net.train()
        for inputs, targets in train:
            if zero_grad and not zero_last:
                opt.zero_grad()
            if step_first:
                opt.step()
            loss = loss_fn(net(inputs), targets)
            loss.backward()
            if not step_first:
                opt.step()
            if zero_last:
                opt.zero_grad()
            losses.append(loss.item())
        tests.append(_evaluate(net, test, _loss_fn(spec, plain=True) if plain_test else loss_fn, weighted=weighted,
                               eval_mode=eval_mode))
    return losses, tests, module_view.describe(net)["parameters"]


def _evaluate(net, loader, loss_fn, *, weighted=True, eval_mode=True):
    was = net.training
    net.train(not eval_mode and was)
    with torch.no_grad():
        pairs = [(loss_fn(net(x), y).item(), len(x)) for x, y in loader]
    net.train(was)
    if weighted:
        return sum(l * n for l, n in pairs) / sum(n for _, n in pairs)
    return sum(l for l, _ in pairs) / len(pairs)


SMOOTHING = 0.1      # the label smoothing of some cases' loss_fn: a loop must use the loss_fn it is given


def _spec(gen, device, n=50, test_n=21, batch_size=16, start_training=True, epochs=1, smoothing=False,
          stale_grads=False):
    x, y = _points(gen, n, device)
    test_x, test_y = _points(gen, test_n, device)
    return {"model": "dropout_net", "x": x, "y": y, "test_x": test_x, "test_y": test_y, "seed": seed_from(gen),
            "batch_size": batch_size, "shuffle_seed": seed_from(gen), "test_batch_size": 8, "loss": "cross_entropy",
            "loss_options": {"label_smoothing": SMOOTHING} if smoothing else None, "stale_grads": stale_grads,
            "lr": 0.1, "momentum": 0.9, "epochs": epochs, "start_training": start_training}


def _setup(spec):
    """The parts of a case's setup its `shown` names: the loss, gradients the model arrives with."""
    return ((f", loss_fn = nn.CrossEntropyLoss(label_smoothing={SMOOTHING})" if spec["loss_options"] else
             ", cross-entropy") + (", the model handed over with gradients already in .grad" if spec["stale_grads"]
                                   else ""))


def _floats(got, what):
    """A returned list (already read back with compare.unrecord) as float64, or why it is not a list of floats."""
    if not isinstance(got, (list, tuple)):
        return None, Failure(f"{what} must be a list of floats, got {compare.show(got)}")
    if any(isinstance(v, torch.Tensor) for v in got):
        return None, Failure(f"{what} holds tensors, not Python floats", "append loss.item(): a loss tensor keeps its "
                             "whole graph (every activation of the batch) alive for as long as the list lives")
    if not all(isinstance(v, (int, float)) for v in got):
        return None, Failure(f"{what} must be a list of floats, got {compare.show(got)}")
    return torch.tensor(got, dtype=torch.float64), None


def _curve_problem(what, expected, got, spec, variants):
    problem = compare.tensor_problem(torch.tensor(expected, dtype=torch.float64), got, atol=1e-5, rtol=1e-4)
    if problem is None:
        return None
    for flags, message in variants:
        alt = _reference(spec, **flags)[1 if "test" in what else 0]
        if len(alt) == len(got) and compare.tensor_problem(torch.tensor(alt, dtype=torch.float64), got,
                                                            atol=1e-5, rtol=1e-4) is None:
            return problem.within(f"{what}: ").with_hint(message)
    return problem.within(f"{what}: ")


LOOP_MISTAKES = [
    ({"zero_grad": False}, "the gradients were never zeroed: backward adds to .grad, so every step used the sum of "
                           "all the batches' gradients so far. optimizer.zero_grad() first, at every batch"),
    ({"step_first": True}, "optimizer.step() ran before loss.backward(): each step used the previous batch's "
                           "gradients"),
    ({"train_mode": False}, "the model was left in eval mode (Dropout off): call model.train() at the start of the "
                            "epoch, since evaluate() switches to eval mode"),
    ({"zero_last": True}, "the gradients were zeroed after the step, not before it: the first step used the gradients "
                          "the model was handed over with. optimizer.zero_grad() first, at every batch"),
    ({"plain_loss": True}, "the losses are those of plain F.cross_entropy, not of the loss_fn you were given: compute "
                           "every loss as loss_fn(output, target)"),
]

SWAPPED = "torch's losses take (input, target): loss_fn(model(inputs), targets), not loss_fn(targets, output)"


def _call_problem(o, name):
    if o["call_error"] is None:
        if o["grad_enabled_after"] is False:
            return Failure(f"after {name} returned, autograd stayed off for the whole program: the caller's next "
                           "backward() would find no graph", "torch.set_grad_enabled(False) written as a statement "
                           "switches it off for good; put the loop inside `with torch.no_grad():`, which switches "
                           "it back on when the block ends")
        return None
    text = o["call_error"]
    hint = SWAPPED if any(w in text for w in ("Long", "Float", "target", "floating point")) else ""
    return Failure(f"{name} raised {text[:500]}", hint)


def _batches(n, size):
    return -(-n // size)


def _forwards_problem(o, expected, name):
    """The probe's hook records every forward pass of the model: one per batch of each loader the function
    iterates. None recorded is a loop that bypassed the hook, not one that ran no forward."""
    got = len(o["forwards"])
    if got == expected:
        return None
    return Failure(f"{name} ran the model's forward {got} times; expected {expected}, once per batch",
                   "call the model as model(inputs), once per batch: model.forward(inputs) skips the model's hooks "
                   "(the grader counts forward passes through one)" if got == 0 else "")


def _weights_problem(o, expected):
    state = module_view.read(o["state"])
    return module_view.tensors_problem("after training, parameter", expected, state["parameters"],
                                       atol=1e-5, rtol=1e-4)


def _modes_problem(o, training, who):
    """Whether every sub-module is in the mode the model should be left in (the probe's state holds each one's
    flag): `model.training = flag` sets only the model's own, while model.train(flag) sets all of them."""
    modes = module_view.read(o["state"])["training"]
    wrong = [n for n, flag in modes.items() if n and flag != training]
    if not wrong:
        return None
    mode = "training" if training else "eval"
    hint = (f"assigning model.training = {training} sets only the model's own flag: call model.train({training}) "
            "(model.train() / model.eval()), which sets every sub-module's" if modes.get("") == training else "")
    return Failure(f"after {who} the model says {mode} mode, but its sub-modules {wrong[:4]} are not in {mode} "
                   "mode (Dropout and BatchNorm read their own flag)", hint)


# ---- 8.1 make_loader -----------------------------------------------------------------------------

def _make_loader_case(gen, n, batch_size, shuffle=True):
    seed, global_seed = seed_from(gen), seed_from(gen)
    dataset = TensorDataset(torch.arange(n))
    epochs = []
    for _ in range(2):
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                            generator=torch.Generator().manual_seed(seed))
        epochs += [[b[0].tolist() for b in loader] for _ in range(2)]
    torch.manual_seed(global_seed)
    global_after = torch.rand(4)

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"make_loader raised {o['call_error'][:400]}")
        if not o["is_loader"]:
            return Failure("make_loader must return a torch.utils.data.DataLoader")
        got = o["epochs"]
        if any(len(e) != len(epochs[0]) for e in got) or any(len(b) != len(r) for e in got for b, r in zip(e, epochs[0])):
            sizes = [len(b) for b in got[0]] if got else []
            return Failure(f"batch sizes {sizes}; expected {[len(b) for b in epochs[0]]}",
                           "keep the last, smaller batch (drop_last=False)" if len(sizes) < len(epochs[0]) else "")
        if shuffle and got[0] == sorted(sum(got[0], [])) and got[0] != epochs[0]:
            return Failure("the batches come in the dataset's order: nothing was shuffled", "shuffle=True")
        global_now = compare.unrecord(o["global_after"])
        global_kept = compare.tensor_problem(global_after, global_now) is None
        if got[0] == epochs[0] and got[2] != epochs[2] and global_kept:
            return Failure("two loaders made with the same seed, then iterated in turn, did not each give the seeded "
                           "orders: the first loader's first epoch is right, the second loader's is not",
                           "iterating one of your loaders changed another's order: they share one generator. Make a "
                           "new torch.Generator().manual_seed(seed) inside make_loader, one per loader, not one "
                           "created once and reused")
        if got[0] != got[2]:
            return Failure("two loaders made with the same seed gave different orders",
                           "the order came from the global random stream: give the loader its own "
                           "torch.Generator().manual_seed(seed)")
        if got == epochs and not global_kept:
            return Failure("the batches come in the right order, but iterating the loaders changed the global random "
                           "stream (what torch.manual_seed seeded draws next)",
                           "a DataLoader without a generator of its own draws a seed from the global RNG each time it "
                           "is iterated, even with shuffle=False: give it generator=torch.Generator().manual_seed(seed) "
                           "whether it shuffles or not" if not shuffle else
                           "shuffle with the loader's own generator, and do not reseed the global RNG")
        if got != epochs or not global_kept:
            hint = ("iterating your loader changed the global random stream (torch.manual_seed): shuffle with the "
                    "loader's own generator, and do not reseed the global RNG"
                    if not global_kept else
                    "shuffle with DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))")
            return Failure(f"the order of the batches is not DataLoader's with generator seed {seed} "
                           f"(first epoch: expected {epochs[0][:2]}…, got {got[0][:2]}…)", hint)
        return None

    shown = f"two loaders make_loader(a dataset of {n} examples, batch_size={batch_size}, seed, shuffle={shuffle}), " \
            "both made first, then iterated in turn, two epochs each"
    return Case("probes_training.loader_run", {"target": "training.make_loader", "n": n, "batch_size": batch_size,
                                               "seed": seed, "shuffle": shuffle, "global_seed": global_seed},
                judge, shown=shown)


@CHECKS.add("8.1", points=2, target="training.make_loader", cuda=False)
def make_loader(gen, device):
    yield _make_loader_case(gen, 50, 16)
    yield _make_loader_case(gen, 12, 5, shuffle=False)


@CHECKS.hidden("8.1", points=1)
def make_loader_hidden(gen, device):
    yield _make_loader_case(gen, 37, 6)


# ---- 8.2 train_one_epoch -------------------------------------------------------------------------

def _loop_case(target, spec, judge, shown):
    params = {k: v for k, v in spec.items() if k != "epochs"}
    params.update(target=f"training.{target}", epochs=spec["epochs"])
    return Case("probes_training.loop_run", params, judge, shown=shown, timeout_s=30)


def _train_case(gen, device, **options):
    spec = _spec(gen, device, **options)
    losses, _, weights = _reference(spec)

    def judge(o):
        problem = _call_problem(o, "train_one_epoch")
        if problem:
            return problem
        got, problem = _floats(compare.unrecord(o["returned"]), "what train_one_epoch returned")
        if problem:
            return problem
        problem = _forwards_problem(o, _batches(len(spec["x"]), spec["batch_size"]), "train_one_epoch")
        if problem:
            return problem
        if not all(training for _, training in o["forwards"]):
            return Failure("some forward passes ran in eval mode", LOOP_MISTAKES[2][1])
        problem = _curve_problem("the losses", losses, got, spec, LOOP_MISTAKES)
        return problem or _weights_problem(o, weights)

    shown = (f"train_one_epoch on {len(spec['x'])} labelled points, batches of {spec['batch_size']} (the last one "
             f"smaller), a model with Dropout{'' if spec['start_training'] else ' handed over in eval mode'}, "
             f"SGD with momentum{_setup(spec)}")
    return _loop_case("train_one_epoch", spec, judge, shown)


@CHECKS.add("8.2", points=3, target="training.train_one_epoch")
def train_one_epoch(gen, device):
    yield _train_case(gen, device)
    yield _train_case(gen, device, start_training=False, n=40, batch_size=8, smoothing=True, stale_grads=True)


@CHECKS.hidden("8.2", points=1)
def train_one_epoch_hidden(gen, device):
    yield _train_case(gen, device, n=33, batch_size=10)


# ---- 8.3 evaluate --------------------------------------------------------------------------------

def _evaluate_case(gen, device, start_training, smoothing=False):
    spec = _spec(gen, device, start_training=start_training, test_n=21, smoothing=smoothing)
    torch.manual_seed(spec["seed"])
    net = fixtures.MODELS[spec["model"]]().to(device)
    test = fixtures.loader(spec["test_x"], spec["test_y"], spec["test_batch_size"], None)
    loss_fn = _loss_fn(spec)
    expected = _evaluate(net, test, loss_fn)
    unweighted = _evaluate(net, test, loss_fn, weighted=False)
    plain = _evaluate(net, test, _loss_fn(spec, plain=True))

    def judge(o):
        problem = _call_problem(o, "evaluate") or _forwards_problem(
            o, _batches(len(spec["test_x"]), spec["test_batch_size"]), "evaluate")
        if problem:
            return problem
        if any(training for _, training in o["forwards"]):
            return Failure("evaluate ran the model in training mode (Dropout active)", "model.eval() before the loop")
        if any(grad for grad, _ in o["forwards"]):
            return Failure("evaluate built a graph for every batch", "wrap the loop in torch.no_grad(): nothing "
                           "will call backward, so recording the graph only costs memory and time")
        if o["training_after"] != start_training:
            mode = "training" if start_training else "eval"
            return Failure(f"the model was in {mode} mode before evaluate and is not afterwards",
                           "remember model.training first and restore it with model.train(was_training)")
        problem = _modes_problem(o, start_training, "evaluate")
        if problem:
            return problem
        got = compare.unrecord(o["returned"])
        if isinstance(got, torch.Tensor):
            return Failure("evaluate returned a tensor; return a Python float (.item())")
        if not isinstance(got, (int, float)):
            return Failure(f"evaluate returned {compare.show(got)}, not a float")
        if math.isclose(got, unweighted, rel_tol=1e-5) and not math.isclose(expected, unweighted, rel_tol=1e-5):
            return Failure(f"expected the mean over examples {expected:.6g}, got the mean of batch means {got:.6g}",
                           "the last batch is smaller: weight each batch's loss by its size (sum of loss × size, "
                           "divided by the number of examples)")
        if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
            hint = ("that is the loss of plain F.cross_entropy, not of the loss_fn you were given: compute each "
                    "batch's loss as loss_fn(output, target)" if math.isclose(got, plain, rel_tol=1e-5, abs_tol=1e-6)
                    and not math.isclose(plain, expected, rel_tol=1e-5) else "")
            return Failure(f"expected {expected:.6g}, got {got:.6g}", hint)
        return None

    shown = (f"evaluate on {len(spec['test_x'])} test points in batches of {spec['test_batch_size']}, the model "
             f"handed over in {'training' if start_training else 'eval'} mode{_setup(spec)}")
    return _loop_case("evaluate", spec, judge, shown)


@CHECKS.add("8.3", points=2, target="training.evaluate")
def evaluate(gen, device):
    yield _evaluate_case(gen, device, start_training=True)
    yield _evaluate_case(gen, device, start_training=False, smoothing=True)


@CHECKS.hidden("8.3", points=1)
def evaluate_hidden(gen, device):
    yield _evaluate_case(gen, device, start_training=True)


# ---- 8.4 fit -------------------------------------------------------------------------------------

def _fit_case(gen, device, epochs=3, **options):
    spec = _spec(gen, device, epochs=epochs, **options)
    losses, tests, weights = _reference(spec, epochs=epochs)
    n, size = len(spec["x"]), spec["batch_size"]
    sizes = [min(size, n - s) for s in range(0, n, size)]
    seen = [sum(sizes[: i + 1]) + e * n for e in range(epochs) for i in range(len(sizes))]
    # Each epoch's forward passes: its training batches, then its test batches.
    train_batches, test_batches = len(sizes), _batches(len(spec["test_x"]), spec["test_batch_size"])
    per_epoch = train_batches + test_batches

    def judge(o):
        problem = _call_problem(o, "fit")
        if problem:
            return problem
        history = compare.unrecord(o["returned"])
        keys = ["train_loss", "examples_seen", "test_loss", "epoch_examples"]
        if not isinstance(history, dict) or any(k not in history for k in keys):
            return Failure(f"fit must return a dict with the lists {keys}, got {compare.show(history)[:200]}")
        got = {}
        for key in keys:
            got[key], problem = _floats(history[key], f"history[{key!r}]")
            if problem:
                return problem
        problem = _curve_problem("history['train_loss']", losses, got["train_loss"], spec,
                                 [(dict(f, epochs=epochs), m) for f, m in LOOP_MISTAKES])
        if problem:
            return problem
        if got["examples_seen"].tolist() != seen:
            hint = ("count examples, not batches: add each batch's size" if got["examples_seen"].tolist()
                    == list(range(1, len(seen) + 1)) else
                    "the last batch of each epoch is smaller: add len(inputs), not the batch size"
                    if got["examples_seen"].tolist() == [size * (i + 1) for i in range(len(seen))] else "")
            return Failure(f"history['examples_seen'] should be {seen[:6]}…, got {got['examples_seen'].tolist()[:6]}…",
                           hint)
        if got["epoch_examples"].tolist() != [n * (e + 1) for e in range(epochs)]:
            return Failure(f"history['epoch_examples'] should be {[n * (e + 1) for e in range(epochs)]}, "
                           f"got {got['epoch_examples'].tolist()}")
        variants = [(dict(epochs=epochs, weighted=False), "the test loss is the mean over examples: weight each "
                     "batch's loss by its size"),
                    (dict(epochs=epochs, eval_mode=False), "the test loss must be computed in eval mode (Dropout "
                     "off)"),
                    (dict(epochs=epochs, plain_test=True), "the test losses are those of plain F.cross_entropy, "
                     "not of the loss_fn you were given: compute them with loss_fn(output, target) too")]
        problem = _curve_problem("history['test_loss']", tests, got["test_loss"], spec, variants)
        if problem:
            return problem
        problem = _forwards_problem(o, epochs * per_epoch, "fit")
        if problem:
            return problem.with_hint("each epoch: one forward per training batch, then one per test batch")
        test_forwards = [f for e in range(epochs) for f in o["forwards"][e * per_epoch + train_batches:
                                                                           (e + 1) * per_epoch]]
        if any(training for _, training in test_forwards):
            return Failure("fit computed the test loss in training mode (Dropout active)",
                           "model.eval() before the test loop (or call your evaluate)")
        if any(grad for grad, _ in test_forwards):
            return Failure("fit built a graph for every test batch", "compute the test loss under torch.no_grad() "
                           "(or call your evaluate): nothing will call backward on it, so recording the graph only "
                           "costs memory and time")
        if o["training_after"] is not True:
            return Failure("fit left the model in eval mode", "evaluate() restores the mode it found; end in training "
                           "mode")
        problem = _modes_problem(o, True, "fit")
        if problem:
            return problem
        return _weights_problem(o, weights)

    shown = (f"fit for {epochs} epochs on {len(spec['x'])} points in batches of {spec['batch_size']}, "
             f"{len(spec['test_x'])} test points{_setup(spec)}")
    return _loop_case("fit", spec, judge, shown)


@CHECKS.add("8.4", points=2, target="training.fit")
def fit(gen, device):
    yield _fit_case(gen, device, smoothing=True, stale_grads=True)


@CHECKS.hidden("8.4", points=1)
def fit_hidden(gen, device):
    yield _fit_case(gen, device, epochs=2, n=45, batch_size=20)


# ---- 8.5 plot_history ----------------------------------------------------------------------------

def _history(gen, epochs=3, n=50, size=16):
    sizes = [min(size, n - s) for s in range(0, n, size)]
    seen = [sum(sizes[: i + 1]) + e * n for e in range(epochs) for i in range(len(sizes))]
    losses = (torch.rand(len(seen), generator=gen) + torch.linspace(2, 0.5, len(seen))).tolist()
    return {"train_loss": losses, "examples_seen": seen,
            "test_loss": (torch.rand(epochs, generator=gen) + 1).tolist(),
            "epoch_examples": [n * (e + 1) for e in range(epochs)]}


def _plot_case(gen, with_reference):
    history = _history(gen)
    reference = _history(gen) if with_reference else None
    wanted = [("train", history["examples_seen"], history["train_loss"]),
              ("test", history["epoch_examples"], history["test_loss"])]
    if reference:
        wanted += [("reference train", reference["examples_seen"], reference["train_loss"]),
                   ("reference test", reference["epoch_examples"], reference["test_loss"])]

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"plot_history raised {o['call_error'][:400]}")
        if not o["is_figure"]:
            return Failure(f"plot_history must return a matplotlib Figure, got a {o['figure_type'][:100]}",
                           "fig, ax = plt.subplots(); …; return fig")
        # The probe reads a figure only through matplotlib's own classes: another type (a subclass) is
        # named, not read, since its methods could show anything.
        if len(o["axes"]) != 1:
            return Failure(f"the figure has {len(o['axes'])} Axes; the curves belong on one Axes",
                           "fig, ax = plt.subplots() makes one; draw every curve with ax.plot(...)")
        ax = o["axes"][0]
        if ax["type"] is not None:
            return Failure(f"the figure's Axes is a {ax['type'][:100]}, not matplotlib's own Axes",
                           "draw on the Axes that plt.subplots() returns")
        lines = ax["lines"]
        for label, xs, ys in wanted:
            found = [line for line in lines if line["label"] == label]
            if not found:
                return Failure(f"no line labelled {label!r} (labels found: {[l['label'] for l in lines][:6]})",
                               "the reference history's curves too" if label.startswith("reference") else "")
            line = found[0]
            if line["type"] is not None:
                return Failure(f"the line {label!r} is a {line['type'][:100]}, not matplotlib's own Line2D",
                               "draw each curve with ax.plot(...)")
            if [round(v, 9) for v in line["y"]] != [round(float(v), 9) for v in ys]:
                return Failure(f"the line {label!r} does not show the history's losses")
            if [float(v) for v in line["x"]] != [float(v) for v in xs]:
                hint = ("the x-axis is examples seen (history['examples_seen'] / ['epoch_examples']), not the batch "
                        "or epoch number" if line["x"] == [float(i) for i in range(len(xs))] else "")
                return Failure(f"the line {label!r} has the wrong x values", hint)
            if label == "test" and line["marker"] in ("None", "none", "", " "):
                return Failure("the line 'test' has no markers", "one point per epoch: mark each with "
                               "ax.plot(..., marker=\"o\")")
        if "example" not in ax["xlabel"].lower() or "loss" not in ax["ylabel"].lower():
            return Failure(f"axis labels {ax['xlabel']!r} / {ax['ylabel']!r}; expected 'examples seen' / 'loss'")
        if not ax["legend"]:
            return Failure("the figure has no legend", "ax.legend()")
        return None

    return Case("probes_training.plot_run", {"target": "training.plot_history", "history": history,
                                             "reference": reference}, judge,
                shown=f"plot_history(a history of 3 epochs{', reference=another' if with_reference else ''})",
                timeout_s=30)


@CHECKS.add("8.5", points=1, target="training.plot_history", cuda=False)
def plot_history(gen, device):
    yield _plot_case(gen, with_reference=False)
    yield _plot_case(gen, with_reference=True)


@CHECKS.hidden("8.5", points=1)
def plot_history_hidden(gen, device):
    yield _plot_case(gen, with_reference=True)


# ---- in-notebook answer --------------------------------------------------------------------------

@CHECKS.answer("8.a", title="predict: the batch sizes of 50 examples in batches of 16")
def answer_batch_sizes(gen, device):
    sizes = [len(b[0]) for b in DataLoader(TensorDataset(torch.arange(50)), batch_size=16)]
    yield answer(LESSON, "answer_batch_sizes", expect=sizes, shown="your prediction `answer_batch_sizes`",
                 hints=[([16, 16, 16], "drop_last is False by default: the 2 examples left over form a last, "
                                       "smaller batch"),
                        ([16, 16, 16, 16], "the last batch holds only what is left over, it is not padded")])
