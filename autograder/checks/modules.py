"""Checks for lesson 06 (course_pkg/modules.py). References are torch's own modules, built here under
the same seed as the student's in the sandbox.

(Long because the lesson's five exercises are five different observations of a module: a layer's
init, output and gradients; a buffer through train and eval mode and .to(); state_dict keys; what a
freeze leaves trainable; a checkpoint's round trip, a GPU file and a hostile pickle.)
"""
import io
import os
import zipfile
from collections import OrderedDict

import torch
from torch import nn

from autograder import compare, module_view, observation
from autograder.inputs import randn, seed_from
from autograder.results import Failure
from autograder.sandboxed import fixtures
from autograder.spec import Case, CheckList

CHECKS = CheckList()
LESSON = "06_modules"

REGISTER = ("a tensor is registered only when it is assigned to self as an nn.Parameter (trained) or through "
            "self.register_buffer (state, not trained); a plain tensor attribute is invisible to "
            "parameters(), state_dict() and .to()")


# ---- 6.1 Linear ----------------------------------------------------------------------------------

def _changed_by_forward(built: dict, after: dict) -> Failure | None:
    """Whether a forward replaced, added or removed parameters (or changed their shapes): the judges
    below rebuild the reference from the parameters as they are after the forward."""
    shapes = {n: tuple(t.shape) for n, t in built["parameters"].items()}
    now = {n: tuple(t.shape) for n, t in after["parameters"].items()}
    if now == shapes:
        return None
    return Failure(f"the parameters changed during forward: {shapes} before it, {now} after it (name: shape)",
                   "create every parameter in __init__ and only compute with them in forward: the optimizer and "
                   "state_dict() hold the ones registered at construction")


def _drawn(seed, in_f, out_f, bound, bias_first=False):
    """Parameters drawn uniformly in ±bound under the seed, in the given order: a known wrong init."""
    torch.manual_seed(seed)
    shapes = [("bias", (out_f,)), ("weight", (out_f, in_f))] if bias_first else [("weight", (out_f, in_f)),
                                                                                  ("bias", (out_f,))]
    return {name: torch.empty(shape).uniform_(-bound, bound) for name, shape in shapes}


def _linear_case(gen, device, in_f, out_f, bias, batch, dtype=torch.float32):
    seed = seed_from(gen)
    x = randn(gen, *batch, in_f, device=device, dtype=dtype)
    g = randn(gen, *batch, out_f, device=device, dtype=dtype)
    script = [("to", str(device))] + ([("to", "float64")] if dtype == torch.float64 else []) + \
             [("forward", x, "leaf", g)]
    torch.manual_seed(seed)
    reference = module_view.describe(nn.Linear(in_f, out_f, bias))
    names = ["weight", "bias"] if bias else ["weight"]
    init_mistakes = [(_drawn(seed, in_f, out_f, 1 / out_f ** 0.5), "the bound must come from in_features "
                      "(1/√in_features), not out_features"),
                     (_drawn(seed, in_f, out_f, 1 / in_f ** 0.5, bias_first=True), "draw the weight first, then "
                      "the bias: under the same seed the order decides the values")]

    def judge(o):
        built, problem = module_view.built(o, "Linear(...)")
        if problem:
            return problem
        where = module_view.uses_torch_class(built["types"], o["mro"], module_view.TORCH_LINEAR)
        if where:
            return Failure(f"Linear uses nn.Linear ({where}), which this exercise asks you not to use")
        problem = module_view.names_problem("the parameters", names, built["parameters"],
                                            "" if built["parameters"] else REGISTER)
        if problem:
            return problem
        w = built["parameters"]["weight"]
        if tuple(w.shape) == (in_f, out_f) and in_f != out_f:
            return Failure(f"weight has shape {tuple(w.shape)}; nn.Linear's is (out_features, in_features) = "
                           f"{(out_f, in_f)}", "torch stores W transposed and computes x @ W.T + b")
        for name in names:
            exp, got = reference["parameters"][name], built["parameters"][name]
            if got.shape != exp.shape:
                return Failure(f"{name} has shape {tuple(got.shape)}, nn.Linear's is {tuple(exp.shape)}")
            problem = compare.tensor_problem(exp, got, atol=1e-7, rtol=1e-6)
            if problem:
                return problem.within(f"under the same seed, {name} differs from nn.Linear's: ").with_hint(
                    next((why for wrong, why in init_mistakes if name in wrong and got.shape == wrong[name].shape
                          and compare.tensor_problem(wrong[name], got, atol=1e-7, rtol=1e-6) is None),
                         "initialise uniformly in (−1/√in_features, 1/√in_features), weight first, then bias, "
                         "each with one uniform_(-bound, bound) call, as nn.Linear does"))
        step = o["steps"][-1]
        state = module_view.read(step["state"])
        problem = _changed_by_forward(built, state)
        if problem:
            return problem
        params = [state["parameters"][n].to(device) for n in names]
        expect, grads = observation.reference(lambda x_, *p: nn.functional.linear(x_, *p), [x, *params],
                                              ["leaf"] * (1 + len(params)), g)
        got = compare.unrecord(step["output"])
        hints = [(x @ params[0].T, "the bias is missing")] if bias else []
        if in_f == out_f:
            hints.append((nn.functional.linear(x, params[0].T, *params[1:]), "W @ x layout: compute x @ W.T"))
        problem = compare.tensor_problem(expect, got, atol=1e-5, rtol=1e-4, hints=hints)
        if problem:
            return problem.within("wrong output: ")
        for name, e in zip(["input x", *names], grads):
            rec = step.get("grads", {}).get(name) if name != "input x" else step.get("input_grad")
            if rec is None:
                return Failure(f"no gradient reached {name}", "something cut the graph (detach(), .data, no_grad)")
            problem = compare.tensor_problem(e, compare.unrecord(rec), atol=1e-5, rtol=1e-4)
            if problem:
                return problem.within(f"wrong gradient for {name}: ")
        attributes = o.get("attributes")
        if not isinstance(attributes, dict):
            raise compare.Unreadable("the Linear's attributes could not be read")
        for name, value in (("in_features", in_f), ("out_features", out_f)):
            got = compare.unrecord(attributes[name]) if name in attributes else None
            if type(got) is not int or got != value:
                return Failure(f"Linear({in_f}, {out_f}) has " + (f"{name} = {compare.show(got)}" if name in attributes
                                                                 else f"no attribute {name}") + f"; expected {value}",
                               "store self.in_features and self.out_features in __init__, as nn.Linear does: code "
                               "that inspects or replaces a layer (its repr, model surgery) reads them")
        return None

    shown = (f"torch.manual_seed({seed}); Linear({in_f}, {out_f}, bias={bias})"
             f"{' .to(float64)' if dtype == torch.float64 else ''}, then forward of x with shape "
             f"{tuple(x.shape)} and backward")
    return Case("probes_modules.module_run", {"target": "modules.Linear", "args": [in_f, out_f], "kwargs": {"bias": bias},
                                              "script": script, "seed": seed,
                                              "attributes": ["in_features", "out_features"]},
                judge, shown=shown, timeout_s=30.0)


@CHECKS.add("6.1", points=3, target="modules.Linear", forbid=("linear", "Linear"))
def linear(gen, device):
    yield _linear_case(gen, device, 3, 4, True, (5,))
    yield _linear_case(gen, device, 7, 2, False, (2, 3))
    yield _linear_case(gen, device, 5, 5, True, (4,))                   # square: a transposed W shows
    yield _linear_case(gen, device, 6, 3, True, (), dtype=torch.float64)  # one sample, float64


@CHECKS.hidden("6.1", points=1)
def linear_hidden(gen, device):
    yield _linear_case(gen, device, 1, 1, True, (8,))
    yield _linear_case(gen, device, 16, 9, True, (2, 2, 3))


# ---- 6.2 RunningMean -----------------------------------------------------------------------------

def _running_reference(script, features, momentum, device):
    """Outputs, input gradients and the statistic after each forward, from BatchNorm's update rule."""
    running = torch.zeros(features, device=device, dtype=torch.float64)
    training, results = True, []
    for step in script:
        if step[0] == "train":
            training = step[1]
        if step[0] != "forward":
            results.append(None)
            continue
        x, g = step[1].double(), step[3]
        if training:
            mean = x.mean(dim=0)
            frozen = running.clone()
            running = (1 - momentum) * running + momentum * mean
            grad = None if g is None else g.double() - g.double().mean(dim=0)
            results.append({"output": x - mean, "running": running.clone(), "grad": grad,
                            "if_frozen": frozen, "grad_detached": None if g is None else g.double(),
                            "swapped": momentum * frozen + (1 - momentum) * mean})
        else:
            results.append({"output": x - running, "running": running.clone(), "grad": None if g is None else g.double(),
                            "if_updated": (1 - momentum) * running + momentum * x.mean(dim=0)})
    return results


def _running_case(gen, device, features, momentum, batches):
    seed = seed_from(gen)
    xs = [randn(gen, n, features, device=device, scale=3) + 2 for n in batches]
    g, g_eval = (randn(gen, batches[i], features, device=device) for i in (0, 2))
    script = [("to", str(device)), ("forward", xs[0], "leaf", g), ("forward", xs[1], "plain", None),
              ("train", False), ("forward", xs[2], "leaf", g_eval), ("train", True),
              ("forward", xs[3], "plain", None), ("to", "float64")]
    expected = _running_reference(script, features, momentum, device)
    kwargs = {} if momentum == 0.1 else {"momentum": momentum}

    def judge(o):
        built, problem = module_view.built(o, "RunningMean(...)")
        if problem:
            return problem
        if built["parameters"]:
            return Failure(f"parameters() is not empty: {list(built['parameters'])}",
                           "an nn.Parameter is trained by the optimizer; a statistic is a buffer (register_buffer)")
        problem = module_view.names_problem("the buffers", ["running_mean"], built["buffers"], REGISTER)
        if problem:
            return problem
        if not built["persistent"].get("running_mean", False):
            return Failure("running_mean is not in state_dict()", "register_buffer(..., persistent=False) keeps it "
                           "out of checkpoints: leave persistent at its default, True")
        start = built["buffers"]["running_mean"]
        problem = compare.tensor_problem(torch.zeros(features), start.cpu())
        if problem:
            return problem.within("running_mean must start as float32 zeros: ")
        for i, (step, exp) in enumerate(zip(script, expected)):
            if exp is None:
                continue
            rec = o["steps"][i]
            mode = "training" if "if_frozen" in exp else "eval"
            state = module_view.read(rec["state"])
            running = state["buffers"].get("running_mean")
            if running is None:
                return Failure(f"after a forward in {mode} mode, running_mean is no longer a buffer", REGISTER)
            if mode == "eval":
                hints = [(exp["if_updated"].float(), "the statistic changed in eval mode: update it only when "
                          "self.training is True")]
            else:
                hints = [(exp["if_frozen"].float(), "the statistic did not change in training mode"),
                         (exp["swapped"].float(), "momentum is the weight of the *new* batch mean: "
                          "(1 − momentum)·running + momentum·mean")]
            problem = compare.tensor_problem(exp["running"].float(), running, atol=1e-5, rtol=1e-5, hints=hints)
            if problem:
                return problem.within(f"running_mean after forward {i} ({mode} mode): ")
            if rec["state"]["buffers"]["running_mean"].get("requires_grad"):
                return Failure("running_mean requires grad: the update was recorded in the graph",
                               "update it under torch.no_grad() (or from the detached batch mean)")
            got = compare.unrecord(rec["output"])
            problem = compare.tensor_problem(exp["output"].float(), got, atol=1e-5, rtol=1e-5)
            if problem:
                return problem.within(f"wrong output of forward {i} ({mode} mode): ")
            if step[3] is not None:
                if rec.get("input_grad") is None:
                    return Failure(f"no gradient reached the input in {mode} mode")
                hints = [(exp["grad_detached"].float(), "the batch mean was detached: in training mode the output "
                          "depends on x through the mean too")] if mode == "training" else []
                problem = compare.tensor_problem(exp["grad"].float(), compare.unrecord(rec["input_grad"]),
                                                 atol=1e-5, rtol=1e-5, hints=hints)
                if problem:
                    return problem.within(f"wrong input gradient in {mode} mode: ")
        moved = module_view.read(o["steps"][-1]["state"])["buffers"].get("running_mean")
        if moved is None or moved.dtype != torch.float64:
            return Failure("after .to(torch.float64) running_mean is not float64", REGISTER)
        return None

    shown = (f"RunningMean({features}{', momentum=' + str(momentum) if kwargs else ''}): two forwards in training mode, "
             "one in eval mode, one more in training mode, then .to(torch.float64)")
    return module_view.case("modules.RunningMean", (features,), kwargs, script, seed, judge, shown)


@CHECKS.add("6.2", points=2, target="modules.RunningMean")
def running_mean(gen, device):
    yield _running_case(gen, device, 3, 0.1, (4, 6, 5, 3))
    yield _running_case(gen, device, 5, 0.3, (8, 2, 4, 7))


@CHECKS.hidden("6.2", points=1)
def running_mean_hidden(gen, device):
    yield _running_case(gen, device, 1, 0.5, (2, 3, 2, 9))


# ---- 6.3 MLP -------------------------------------------------------------------------------------

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _mlp_reference(sizes, activation):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(OrderedDict(layers=nn.Sequential(*layers)))


def _mlp_case(gen, device, sizes, activation, batch=4):
    seed = seed_from(gen)
    x = randn(gen, batch, sizes[0], device=device)
    g = randn(gen, batch, sizes[-1], device=device)
    torch.manual_seed(seed)
    reference = _mlp_reference(sizes, activation).to(device)
    keys = list(reference.state_dict())
    act_type = f"{ACTIVATIONS[activation].__module__}.{ACTIVATIONS[activation].__qualname__}"

    def judge(o):
        built, problem = module_view.built(o, "MLP(...)")
        if problem:
            return problem
        got_keys = o["state_dict"]["keys"] if isinstance(o["state_dict"], dict) else []
        hint = ""
        if not got_keys:
            hint = ("layers kept in a plain Python list are not registered: nn.Module cannot see them. Use "
                    "nn.Sequential (or nn.ModuleList)")
        elif any(k.startswith("layers.1.") for k in got_keys) and len(sizes) > 2:
            hint = "the activations are modules inside the Sequential too: Linear, activation, Linear … (0, 2, 4 …)"
        elif not all(k.startswith("layers.") for k in got_keys):
            hint = "hold everything in one nn.Sequential assigned to self.layers"
        problem = module_view.names_problem("the state_dict() keys", keys, got_keys, hint)
        if problem:
            return problem
        for i in range(1, 2 * (len(sizes) - 1) - 1, 2):
            found = built["types"].get(f"layers.{i}")
            if found != act_type:
                return Failure(f"layers.{i} is a {found}, expected {act_type} for activation={activation!r}")
        problem = module_view.tensors_problem("under the same seed, parameter", dict(reference.named_parameters()),
                                              built["parameters"], atol=1e-7, rtol=1e-6)
        if problem:
            return problem.with_hint("build the Linears in order, first to last, and nothing else that draws random "
                                     "numbers in between")
        step = o["steps"][-1]
        state = module_view.read(step["state"])
        problem = _changed_by_forward(built, state)
        if problem:
            return problem
        ref = _mlp_reference(sizes, activation).to(device)
        ref.load_state_dict(state["parameters"])
        out = ref(x)
        hints = [(ACTIVATIONS[activation]()(out), "there is an activation after the last Linear: the output "
                  "layer must stay linear")]
        problem = compare.tensor_problem(out.detach(), compare.unrecord(step["output"]), atol=1e-5, rtol=1e-4,
                                         hints=hints)
        if problem:
            return problem.within("wrong output: ")
        grads = observation.vector_jacobian(out, list(ref.parameters()), g)
        for (name, _), e in zip(ref.named_parameters(), grads):
            rec = step.get("grads", {}).get(name)
            if rec is None:
                return Failure(f"no gradient reached {name}")
            problem = compare.tensor_problem(e, compare.unrecord(rec), atol=1e-5, rtol=1e-4)
            if problem:
                return problem.within(f"wrong gradient for {name}: ")
        return None

    shown = f"torch.manual_seed({seed}); MLP({sizes}, activation={activation!r}), then forward and backward"
    return module_view.case("modules.MLP", (sizes,), {"activation": activation},
                        [("to", str(device)), ("forward", x, "plain", g)], seed, judge, shown)


def _mlp_rejects(activation):
    def judge(o):
        if o["call_error"] is None:
            return Failure(f"MLP([2, 3], activation={activation!r}) did not raise", "raise ValueError for an "
                           "activation name you do not know, rather than building something else")
        if not o["call_error"].startswith("ValueError"):
            return Failure(f"MLP raised {o['call_error'][:200]}; expected a ValueError")
        return None
    return module_view.case("modules.MLP", ([2, 3],), {"activation": activation}, [], 0, judge,
                        f"MLP([2, 3], activation={activation!r})")


@CHECKS.add("6.3", points=2, target="modules.MLP")
def mlp(gen, device):
    yield _mlp_case(gen, device, [4, 8, 8, 2], "relu")
    yield _mlp_case(gen, device, [3, 5], "tanh")
    yield _mlp_case(gen, device, [6, 4, 3, 5, 2], "sigmoid")
    yield _mlp_rejects("swish")


@CHECKS.hidden("6.3", points=1)
def mlp_hidden(gen, device):
    yield _mlp_case(gen, device, [2, 7, 1], "tanh", batch=9)


# ---- 6.4 freeze_all_but --------------------------------------------------------------------------

def _freeze_case(gen, device, model, names, frozen_before=()):
    seed = seed_from(gen)
    torch.manual_seed(seed)
    net = fixtures.MODELS[model]()
    width = next(net.parameters()).shape[1]
    x = randn(gen, 5, width, device="cpu")
    y = net(x).detach() + randn(gen, 5, net(x).shape[1], device="cpu")
    unknown = [n for n in names if n not in dict(net.named_modules()) or n == ""]
    trainable = {n for name in names if name not in unknown for n, _ in net.get_submodule(name).named_parameters()
                 for n in [f"{name}.{n}"]}
    for n, p in net.named_parameters():
        p.requires_grad_(n in trainable)
    wanted = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    grads = dict(zip([n for n, _ in wanted], torch.autograd.grad(fixtures.mse(net(x), y), [p for _, p in wanted])
                     if wanted else []))

    before = {n: n not in frozen_before for n, _ in net.named_parameters()}

    def judge(o):
        if unknown:
            if o.get("call_error") is None:
                return Failure(f"freeze_all_but(model, {names}) did not raise, but {unknown[0]!r} is not a sub-module",
                               "a misspelt name must not silently freeze everything: model.get_submodule(name) raises")
            after = o.get("requires_grad")
            if not isinstance(after, dict):
                raise compare.Unreadable("the model's parameters could not be read after freeze_all_but raised")
            changed = [n for n, v in before.items() if after.get(n) != v]
            if changed:
                return Failure(f"freeze_all_but raised for {unknown[0]!r}, as it should, but only after changing "
                               f"requires_grad of {changed[:4]}: a call that fails must leave the model as it was",
                               "look every name up (model.get_submodule(name)) before switching anything")
            return None
        if o.get("call_error") is not None:
            return Failure(f"freeze_all_but raised {o['call_error'][:500]}")
        got = o["requires_grad"]
        wrong_on = [n for n, v in got.items() if v and n not in trainable]
        wrong_off = [n for n, v in got.items() if not v and n in trainable]
        if wrong_on and not wrong_off and len(wrong_on) == len(got) - len(trainable):
            hint = ("nothing was frozen. Setting module.requires_grad = False only adds a plain attribute: call "
                    "p.requires_grad_(False) on each parameter (or module.requires_grad_(False))")
        elif wrong_on and all(any(n.startswith(t) for t in names) for n in wrong_on):
            hint = ("names were matched by prefix: \"1\" also matches \"10\". Compare whole dotted names "
                    "(model.get_submodule(name))")
        elif wrong_off and all(n in frozen_before for n in wrong_off):
            hint = "a named parameter that was frozen before must be switched back on (requires_grad_(True))"
        elif wrong_off and not wrong_on and all(n.rsplit(".", 1)[0] not in names for n in wrong_off):
            hint = ("the parameters of a named module's sub-modules must train too: take module.parameters() "
                    "(recurse=True, the default), not only the module's own")
        else:
            hint = ""
        if wrong_on or wrong_off:
            return Failure("afterwards " + "; ".join(
                ([f"these should be frozen but require grad: {wrong_on[:4]}"] if wrong_on else []) +
                ([f"these should train but do not require grad: {wrong_off[:4]}"] if wrong_off else [])), hint)
        if o["changed"]:
            return Failure(f"freeze_all_but changed the values of {o['changed'][:3]}; it must only switch requires_grad")
        if o["backward_error"] is not None:
            return Failure(f"backward raised {o['backward_error'][:300]}")
        for n, rec in o["grads"].items():
            if n in trainable:
                problem = compare.tensor_problem(grads[n], compare.unrecord(rec) if rec is not None else None,
                                                 atol=1e-5, rtol=1e-4)
                if problem:
                    return problem.within(f"the gradient of {n}: ")
            elif rec is not None:
                return Failure(f"{n} is frozen but received a gradient")
        return None

    shown = f"freeze_all_but(the `{model}` model, {names})" + (f" with {list(frozen_before)} frozen before"
                                                             if frozen_before else "")
    return Case("probes_modules.freeze_run", {"target": "modules.freeze_all_but", "model": model, "names": list(names),
                                              "seed": seed, "frozen_before": list(frozen_before), "x": x, "y": y},
                judge, shown=shown)


@CHECKS.add("6.4", points=2, target="modules.freeze_all_but", cuda=False)
def freeze_all_but(gen, device):
    yield _freeze_case(gen, device, "encoder_head", ["encoder"])     # its parameters belong to its sub-modules
    yield _freeze_case(gen, device, "encoder_head", ["encoder.2", "head"], frozen_before=["head.weight", "head.bias"])
    yield _freeze_case(gen, device, "twelve_layers", ["1", "5"])
    # A known name before the misspelt one, and one of its parameters frozen: switching as the names are
    # looked up changes the model before the error, as freezing everything first does.
    yield _freeze_case(gen, device, "encoder_head", ["head", "decoder"], frozen_before=["head.weight"])


@CHECKS.hidden("6.4", points=1)
def freeze_all_but_hidden(gen, device):
    yield _freeze_case(gen, device, "twelve_layers", ["11"], frozen_before=["11.weight"])
    yield _freeze_case(gen, device, "encoder_head", ["head"])


# ---- 6.5 save_checkpoint / load_checkpoint -------------------------------------------------------

def _train(model, seed, x, y, lr, momentum, steps, device):
    torch.manual_seed(seed)
    net = fixtures.MODELS[model]().to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = fixtures.mse(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return net, opt, losses


def _data(gen, model, device):
    width = next(fixtures.MODELS[model]().parameters()).shape[1]
    x = randn(gen, 8, width, device=device)
    return x, randn(gen, 8, 3, device=device)


def _loaded_problem(o, net, opt, epoch):
    if o["returned"] != epoch:
        return Failure(f"load_checkpoint returned {compare.show(o['returned'])}, expected the saved epoch {epoch}")
    state = module_view.read(o["state"])
    switched = [n or "the model" for n, training in state["training"].items() if not training]
    if switched:
        return Failure(f"load_checkpoint changed the model's mode: after loading, {switched[:4]} are in eval mode, "
                       "and training resumed from the checkpoint would run without Dropout, BatchNorm on its "
                       "running statistics", "loading restores the state only: leave train() / eval() to the caller "
                       "(no model.eval() in load_checkpoint)" if "the model" in switched else "")
    problem = module_view.tensors_problem("after loading, the model's", module_view.describe(net)["parameters"],
                                          state["parameters"], atol=1e-6, rtol=1e-6)
    if problem:
        return problem.with_hint("save model.state_dict() and load it with model.load_state_dict(...)")
    problem = module_view.tensors_problem("after loading, the model's", module_view.describe(net)["buffers"],
                                          state["buffers"], atol=1e-6, rtol=1e-6)
    if problem:
        return problem.with_hint("the model's buffers (BatchNorm's running statistics, num_batches_tracked) are "
                                 "part of its state_dict() too: restore all of it with "
                                 "model.load_state_dict(checkpoint[\"model\"]), not only the parameters")
    expected = {str(k): v["momentum_buffer"] for k, v in opt.state_dict()["state"].items()}
    got = compare.unrecord(o["optimizer_state"])
    got = {k: v.get("momentum_buffer") for k, v in got.items()} if isinstance(got, dict) else {}
    if set(got) != set(expected) or any(not isinstance(got[k], torch.Tensor) for k in expected):
        return Failure("after loading, the optimizer has no momentum buffers", "save optimizer.state_dict() and load "
                       "it with optimizer.load_state_dict(...): the momentum is part of training's state")
    return module_view.tensors_problem("after loading, the optimizer's momentum buffer", expected, got,
                                      atol=1e-6, rtol=1e-6)


def _roundtrip_case(gen, device, model, epoch, before=5, after=10, lr=0.1, momentum=0.9):
    seed = seed_from(gen)
    x, y = _data(gen, model, device)
    net, opt, losses = _train(model, seed, x, y, lr, momentum, before, device)
    _, _, all_losses = _train(model, seed, x, y, lr, momentum, before + after, device)

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"saving or loading raised {o['call_error'][:600]}")
        problem = _loaded_problem(o, net, opt, epoch)
        if problem:
            return problem
        got = torch.tensor([float(v) for v in o["losses_after"]], dtype=torch.float64)
        problem = compare.tensor_problem(torch.tensor(all_losses[before:], dtype=torch.float64), got,
                                         atol=1e-6, rtol=1e-5)
        return problem.within("training resumed from the checkpoint gave other losses than never stopping: ") \
            if problem else None

    shown = (f"the `{model}` model trained {before} steps (SGD, momentum {momentum}), save_checkpoint(..., "
             f"epoch={epoch}), load_checkpoint into a fresh model and optimizer, {after} more steps")
    return Case("probes_modules.checkpoint_run", {"model": model, "x": x, "y": y, "seed": seed, "lr": lr,
                                                  "momentum": momentum, "before": before, "after": after,
                                                  "epoch": epoch, "device": str(device)}, judge, shown=shown,
                timeout_s=20)


def _as_if_saved_on_gpu(obj) -> torch.Tensor:
    """torch.save's bytes of obj, relabelled as saved from cuda:0 (what a GPU machine writes)."""
    plain = io.BytesIO()
    torch.save(obj, plain)
    source, out = zipfile.ZipFile(io.BytesIO(plain.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            target.writestr(info, data)
    return torch.tensor(list(out.getvalue()), dtype=torch.uint8)


def _gpu_file_case(gen, device, model, epoch):
    seed = seed_from(gen)
    x, y = _data(gen, model, "cpu")
    net, opt, _ = _train(model, seed, x, y, 0.1, 0.9, 3, "cpu")
    data = _as_if_saved_on_gpu({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch})

    def judge(o):
        if o["call_error"] is not None:
            hint = ("pass map_location on to torch.load: map_location=\"cpu\" moves every tensor to the CPU as it loads"
                    if "CUDA" in o["call_error"] else "")
            return Failure(f"loading a checkpoint saved on a GPU with map_location=\"cpu\" raised "
                           f"{o['call_error'][:400]}", hint)
        return _loaded_problem(o, net, opt, epoch)

    return Case("probes_modules.checkpoint_run", {"model": model, "x": x.to(device), "y": y.to(device), "seed": seed,
                                                  "device": str(device), "epoch": epoch, "map_location": "cpu",
                                                  "file_bytes": data, "after": 1},
                judge, shown=f"load_checkpoint(a checkpoint of the `{model}` model saved on cuda:0, model, optimizer, "
                             "map_location=\"cpu\")", timeout_s=20)


class _RunsCode:
    """Unpickling this creates a folder: the harmless stand-in for what a malicious checkpoint could do."""

    def __reduce__(self):
        return (os.mkdir, ("unpickled_code_ran",))


def _malicious_case(gen, device):
    plain = io.BytesIO()
    torch.save({"model": {}, "optimizer": {}, "epoch": _RunsCode()}, plain)
    data = torch.tensor(list(plain.getvalue()), dtype=torch.uint8)

    def judge(o):
        if o["marker_exists"]:
            return Failure("loading a checkpoint ran code hidden in its pickle", "load with torch.load(..., "
                           "weights_only=True): it refuses anything but tensors and plain containers")
        if o["call_error"] is None:
            return Failure("a checkpoint holding an arbitrary Python object loaded without an error",
                           "load with weights_only=True")
        return None

    return Case("probes_modules.checkpoint_run", {"model": "encoder_head", "x": torch.zeros(1), "y": torch.zeros(1),
                                                  "file_bytes": data, "marker": "unpickled_code_ran",
                                                  "device": str(device)},
                judge, shown="load_checkpoint(a file whose pickle runs code when loaded, ...)", timeout_s=20)


@CHECKS.add("6.5", points=3, target="modules.load_checkpoint")
def checkpoints(gen, device):
    yield _roundtrip_case(gen, device, "encoder_head", epoch=7)
    yield _gpu_file_case(gen, device, "batchnorm_net", epoch=2)      # buffers too: running statistics
    yield _malicious_case(gen, device)


@CHECKS.hidden("6.5", points=1)
def checkpoints_hidden(gen, device):
    yield _roundtrip_case(gen, device, "batchnorm_net", epoch=11, before=3, after=6, momentum=0.5)


# ---- in-notebook answer --------------------------------------------------------------------------

class _Inventory(nn.Module):
    """The notebook's `Inventory`, built here to know the true answer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.BatchNorm1d(3))
        self.heads = [nn.Linear(3, 1), nn.Linear(3, 1)]
        self.extra = nn.ModuleList([nn.Linear(3, 1)])
        self.register_buffer("step", torch.zeros(()), persistent=False)
        self.register_buffer("scale", torch.ones(3))
        self.temperature = nn.Parameter(torch.ones(()))


def _keys_judge(expected):
    def judge(o):
        got = compare.unrecord(o["value"])
        if got == expected:
            return None
        if not isinstance(got, list) or not all(isinstance(k, str) for k in got):
            return Failure(f"answer_state_keys must be a list of strings, got {compare.show(got)}")
        hint = ""
        if any(k.startswith("heads.") for k in got):
            hint = "layers in a plain Python list are not registered: they are in no state_dict()"
        elif "step" in got:
            hint = "a buffer registered with persistent=False is not in state_dict()"
        elif sorted(got) == sorted(expected):
            hint = "the right keys in the wrong order: a module's own parameters, then its own buffers, then each child's"
        return Failure(f"expected {expected}, got {got}", hint)
    return judge


@CHECKS.answer("6.a", title="predict: the state_dict() keys of Inventory")
def answer_state_keys(gen, device):
    yield Case("notebook_answer", {"notebook": f"{LESSON}.ipynb", "name": "answer_state_keys"},
               _keys_judge(list(_Inventory().state_dict())), shown="your prediction `answer_state_keys`",
               timeout_s=240)
