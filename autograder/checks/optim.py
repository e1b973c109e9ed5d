"""Checks for lesson 07 (course_pkg/optim.py). The reference is torch.optim.SGD (and AveragedModel),
replayed here on the same fixture model, from the same seed, through the same steps as the sandbox.

(Long because each exercise's judge also replays the named mistakes of its topic, to say which one a
wrong trajectory follows: five update rules for SGD, four for the EMA.)
"""
import copy
import math

import torch

from autograder import compare, module_view
from autograder.inputs import randn, seed_from
from autograder.results import Failure
from autograder.sandboxed import fixtures
from autograder.spec import Case, CheckList, answer

CHECKS = CheckList()
LESSON = "07_optim"
OPTIONS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")


# ---- the misconceptions, as update rules: a wrong answer that follows one is told which ------------

def _torch_rule(p, g, state, o, *, decay_after=False, textbook=False, damp_first=False, old_nesterov=False,
                flip_update=False, alias=False):
    """torch's SGD step for one parameter, or one of the named mistakes when a flag is set."""
    d = g if (flip_update or not o["maximize"]) else -g
    if o["weight_decay"] and not decay_after:
        d = d + o["weight_decay"] * p
    if o["momentum"]:
        buf = state.get("momentum_buffer")
        old = buf
        if textbook:
            buf = -o["lr"] * d if buf is None else o["momentum"] * buf - o["lr"] * d
            state["momentum_buffer"] = buf
            p.add_(buf)
            return
        if buf is None:
            buf = (1 - o["dampening"]) * d if damp_first else d if alias else d.clone()
        elif alias:     # the buffer is (or was) the .grad tensor itself, updated in place as it is
            buf.mul_(o["momentum"]).add_(d, alpha=1 - o["dampening"])
        else:
            buf = o["momentum"] * buf + (1 - o["dampening"]) * d
        state["momentum_buffer"] = buf
        if o["nesterov"]:
            d = d + o["momentum"] * (buf if not old_nesterov else (old if old is not None else torch.zeros_like(d)))
        else:
            d = buf
    if o["weight_decay"] and decay_after:
        d = d + o["weight_decay"] * p
    p.add_(d, alpha=o["lr"] if (flip_update and o["maximize"]) else -o["lr"])


MISTAKES = {    # tried in this order: a Nesterov run with the old buffer also follows the textbook form
    "old_nesterov": "Nesterov used the buffer from before this step's update; torch uses g + μ·(the new buffer)",
    "decay_after": "weight decay was added after momentum; torch adds weight_decay·p to the gradient first, "
                   "so the decay goes through the momentum buffer too",
    "textbook": "this is the textbook momentum v = μ·v − lr·g; p += v. torch keeps lr out of the buffer "
                "(v = μ·v + (1 − dampening)·g; p −= lr·v): the two differ as soon as lr changes",
    "damp_first": "dampening was applied on the first step; torch starts the buffer as a plain copy of the "
                  "gradient and dampens only later updates",
    "flip_update": "maximize flipped the update; torch negates the gradient before anything else (so weight "
                   "decay still shrinks the weights)",
    "alias": "the momentum buffer is the gradient tensor itself, not a copy: once the gradients are zeroed in "
             "place (zero_grad(set_to_none=False)) or accumulated, the next backward writes into the buffer. "
             "Start it as a copy: torch.clone(d_p).detach()",
}


class _Rule(torch.optim.Optimizer):
    def __init__(self, params, flags, **options):
        super().__init__(params, {"lr": 1e-3, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False,
                                  "maximize": False, **options})
        self.flags = flags

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    _torch_rule(p, p.grad, self.state[p], group, **self.flags)
        return loss


def _replay(make, spec):
    """The probe's run (probes_optim.sgd_run), here, with optimizer factory `make(params, **options)`:
    per step the parameters and momentum buffers, and what step(closure) returned."""
    torch.manual_seed(spec["seed"])
    net = fixtures.MODELS[spec["model"]]().to(spec["device"]).to(getattr(torch, spec["dtype"]))
    named = list(net.named_parameters())

    def groups(gs):
        return fixtures.param_groups(named, gs)

    def loss_and_backward():
        for _, p in named:
            if spec.get("zero_in_place") and p.grad is not None:
                p.grad.zero_()      # as zero_grad(set_to_none=False): backward adds into the same tensor
            else:
                p.grad = None
        loss = fixtures.mse(net(spec["x"]), spec["y"])
        loss.backward()
        return loss

    opt = make(groups(spec["groups"]), **spec["options"])
    first_lrs = [g["lr"] for g in opt.param_groups]
    params, buffers, returned = [], [], []
    for t in range(spec["steps"]):
        if spec["add_group"] is not None and t == spec["add_group"]["at"]:
            opt.add_param_group(groups([spec["add_group"]["group"]])[0])
            first_lrs.append(spec["add_group"]["group"]["lr"])
        if spec["reload_at"] is not None and t == spec["reload_at"]:
            saved = opt.state_dict()
            opt = make(groups(spec["groups"]), **spec["options"])
            opt.load_state_dict(saved)
        if spec["lr_factors"] is not None:
            for group, lr in zip(opt.param_groups, first_lrs):
                group["lr"] = lr * spec["lr_factors"][t]
        if spec["closure"]:
            returned.append(float(opt.step(loss_and_backward).detach()))
        else:
            loss_and_backward()
            opt.step()
        params.append([p.detach().clone() for _, p in named])
        buffers.append([opt.state.get(p, {}).get("momentum_buffer") for _, p in named])
        buffers[-1] = [None if b is None else b.detach().clone() for b in buffers[-1]]
    return [n for n, _ in named], params, buffers, returned


def _per_step(series):
    """The probe's series, one per parameter (probes.record_series), as one list of values per step."""
    return [list(step) for step in zip(*(compare.unrecord(s) for s in series))]


def _trajectory_problem(names, steps, params, buffers, got_params, got_buffers, tol):
    """The first step at which the recorded run leaves the reference (None: it never does)."""
    for t in range(steps):
        if t >= len(got_params):
            return t, None
        for name, e, g in zip(names, params[t], got_params[t]):
            problem = compare.tensor_problem(e, g, **tol)
            if problem:
                return t, problem.within(f"after step {t + 1}, parameter `{name}`: ")
        for name, e, rec in zip(names, buffers[t], got_buffers[t] if t < len(got_buffers) else []):
            if e is None:
                continue
            if rec is None:
                return t, Failure(f"after step {t + 1}, there is no self.state[p][\"momentum_buffer\"] for `{name}`",
                                  "keep the buffer in self.state[p][\"momentum_buffer\"]: state_dict() saves only "
                                  "self.state, and the grader compares it with torch's")
            problem = compare.tensor_problem(e, rec, **tol)
            if problem:
                return t, problem.within(f"after step {t + 1}, the momentum buffer of `{name}`: ")
    return None, None


def _matches(spec, flags, t, got_params, tol):
    """Whether the recorded run follows a mistake's rule from step t for up to three steps."""
    last = min(t + 3, len(got_params))
    try:
        _, params, _, _ = _replay(lambda ps, **o: _Rule(ps, flags, **o), {**spec, "steps": last})
    except Exception:
        return False
    return all(compare.tensor_problem(e, g, **tol) is None
               for step in range(t, last) for e, g in zip(params[step], got_params[step]))


def _sgd_case(gen, device, options, *, model="with_spare", steps=50, groups=None, lr_factors=None, add_group=None,
              reload_at=None, closure=False, dtype="float32", zero_in_place=False, what=""):
    seed_ = seed_from(gen)
    d = getattr(torch, dtype)
    x = randn(gen, 8, 4, device=device, dtype=d)
    y = randn(gen, 8, 3, device=device, dtype=d)
    spec = {"model": model, "x": x, "y": y, "options": options, "steps": steps, "seed": seed_, "groups": groups,
            "lr_factors": lr_factors, "add_group": add_group, "reload_at": reload_at, "closure": closure,
            "device": str(device), "dtype": dtype, "zero_in_place": zero_in_place}
    names, params, buffers, returned = _replay(torch.optim.SGD, spec)
    tol = {"atol": 1e-6, "rtol": 1e-5} if dtype == "float32" else {"atol": 1e-12, "rtol": 1e-10}

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"SGD({', '.join(f'{k}={v}' for k, v in options.items())}) raised {o['call_error'][:500]}")
        if "torch.optim.sgd.SGD" in o["mro"]:
            return Failure("SGD subclasses torch.optim.SGD, which this exercise asks you to rebuild")
        if "torch.optim.optimizer.Optimizer" not in o["mro"]:
            return Failure("SGD does not subclass torch.optim.Optimizer", "class SGD(torch.optim.Optimizer) and "
                           "super().__init__(params, defaults)")
        if o["delegated"]:
            return Failure(f"step() runs torch's own SGD code ({', '.join(o['delegated'][:3])}), which this exercise "
                           "asks you to rebuild")
        if o["unhooked"]:
            return Failure("step() removed the grader's profile hook: this case fails, whatever was observed")
        if o["state_type"] is not None:
            return Failure(f"self.state is a {o['state_type'][:100]}, not the defaultdict(dict) that "
                           "torch.optim.Optimizer makes", "keep Optimizer's own self.state (state_dict() saves it and "
                           "load_state_dict() rebuilds it as a defaultdict): self.state[p][\"momentum_buffer\"]")
        got_params, got_buffers = _per_step(o["params"]), _per_step(o["buffers"])
        t, problem = _trajectory_problem(names, steps, params, buffers, got_params, got_buffers, tol)
        if o["step_error"] is not None and (problem is None or t >= len(got_params)):
            text = o["step_error"]
            hint = ("an in-place update of a parameter must not be recorded by autograd: decorate step with "
                    "@torch.no_grad()" if "leaf Variable" in text else
                    "skip a parameter whose .grad is None (it took no part in the loss)" if "NoneType" in text else "")
            return Failure(f"{text[:500]}", hint)
        if problem is not None:
            for flags, message in MISTAKES.items():
                if _matches(spec, {flags: True}, t, got_params, tol):
                    return problem.with_hint(message)
            first = got_params[t]
            start = _replay(torch.optim.SGD, {**spec, "steps": max(t, 1)})[1][t - 1] if t else None
            if start is not None and all(torch.equal(a, b) for a, b in zip(first, start)):
                return problem.with_hint("the parameters did not move: update them in place (p.add_(...)); "
                                         "`p = p - lr * g` only rebinds a local name")
            if add_group is not None and t >= add_group["at"]:
                return problem.with_hint("a group added with add_param_group was not updated (or not with its own "
                                         "options): loop over self.param_groups in step, and read each option from "
                                         "the group")
            if lr_factors is not None and t and lr_factors[t] != lr_factors[t - 1]:
                return problem.with_hint("the lr changed during training (as a scheduler changes it, in "
                                         "optimizer.param_groups) and the step did not follow: read group[\"lr\"] "
                                         "from self.param_groups at every step")
            if groups is not None:
                return problem.with_hint("each parameter group has its own options: read group[\"lr\"] etc., "
                                         "not the constructor's arguments")
            if reload_at is not None and t >= reload_at:
                return problem.with_hint("after state_dict() / load_state_dict() into a new optimizer the run "
                                         "changed: keep all state in self.state[p] and all options in the groups")
            return problem
        versions = o["versions"][:2]
        if groups is None and len(versions) == 2 and any(a == b for a, b, n in zip(*versions, names) if n != "spare"):
            return Failure("a parameter's _version did not move during a step: it was changed through .data",
                           "autograd cannot see writes through .data (a graph that saved the parameter would use the "
                           "new values silently); write to the parameter itself under torch.no_grad()")
        changed = o.get("grad_changed")
        if not isinstance(changed, list):
            raise compare.Unreadable("the probe's record of the gradients across step() is missing")
        if changed:
            return Failure(f"step() changed the gradient p.grad of `{str(changed[0])[:100]}` (in place, or replaced "
                           "it); torch.optim.SGD only reads it",
                           "compute the step in new tensors (d_p = grad.add(p, alpha=weight_decay), -grad), not with "
                           "in-place ops on grad (grad.add_, grad.neg_): the gradient is the caller's, who may still "
                           "read it after step (to clip, log or accumulate it)")
        if closure:
            problem = compare.tensor_problem(torch.tensor(returned, dtype=torch.float64),
                                             torch.tensor([float(v) if isinstance(v, (int, float)) else math.nan
                                                           for v in o["returned"]], dtype=torch.float64), **tol)
            if problem:
                return problem.within("step(closure) must return the closure's loss: ")
        return None

    shown = (f"SGD({', '.join(f'{k}={v}' for k, v in options.items())}) on a small model "
             f"({dtype}, {steps} steps{', ' + what if what else ''})")
    params_ = {"target": "optim.SGD", "model": model, "x": x, "y": y, "options": options, "steps": steps,
               "seed": seed_, "groups": groups, "lr_factors": lr_factors, "add_group": add_group,
               "reload_at": reload_at, "closure": closure, "device": str(device), "dtype": dtype,
               "zero_in_place": zero_in_place}
    return Case("probes_optim.sgd_run", params_, judge, shown=shown, timeout_s=30)


SCHEDULE = [1.0] * 10 + [0.5] * 10 + [0.25] * 10
INVALID = [{"lr": -0.1}, {"lr": 0.1, "momentum": -0.5}, {"lr": 0.1, "weight_decay": -1e-4},
           {"lr": 0.1, "nesterov": True}, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
           {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"lr": 0.0}, {"lr": 0.1, "momentum": 1.0}]


def _errors_case():
    built = torch.optim.SGD([torch.zeros(2, requires_grad=True)]).param_groups[0]
    defaults = {name: built[name] for name in OPTIONS}
    expected = []
    for kwargs in INVALID:
        try:
            torch.optim.SGD([torch.zeros(2, requires_grad=True)], **kwargs)
            expected.append(None)
        except Exception as e:
            expected.append(type(e).__name__)

    def judge(o):
        for kwargs, e, g in zip(INVALID, expected, o["raised"]):
            if e != g:
                said = "no error" if g is None else f"a {g}"
                return Failure(f"SGD(params, {', '.join(f'{k}={v}' for k, v in kwargs.items())}) gave {said}; "
                               f"torch.optim.SGD gives {'no error' if e is None else 'a ' + e}")
        got = o.get("defaults")
        if isinstance(got, str):
            return Failure(f"SGD(params), with every option left at its default, raised {got[:300]}")
        if not isinstance(got, dict):
            raise compare.Unreadable("the options of SGD(params) could not be read")
        for name, value in defaults.items():
            mine = compare.unrecord(got.get(name))
            if mine == "missing":
                return Failure(f"SGD(params)'s parameter group has no {name!r}",
                               "put every option in the defaults dict given to super().__init__(params, defaults)")
            if type(mine) not in (int, float, bool) or mine != value:
                return Failure(f"SGD(params), with every option left at its default, has {name}={compare.show(mine)}; "
                               f"torch.optim.SGD's defaults are "
                               f"{', '.join(f'{k}={v}' for k, v in defaults.items())}",
                               "use torch's signature: SGD(params, lr=1e-3, momentum=0, dampening=0, "
                               "weight_decay=0, nesterov=False, *, maximize=False)")
        return None
    return Case("probes_optim.sgd_errors", {"target": "optim.SGD", "settings": INVALID, "options": list(OPTIONS)},
                judge,
                shown="invalid arguments")


@CHECKS.add("7.1", points=5, target="optim.SGD", forbid=("SGD",))
def sgd(gen, device):
    yield _sgd_case(gen, device, {"lr": 0.1})
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}, what="with a parameter "
                    "the loss never reaches")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}, zero_in_place=True,
                    what="the gradients zeroed in place between steps, as zero_grad(set_to_none=False) does")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05})
    yield _sgd_case(gen, device, {"lr": 0.05, "weight_decay": 0.2, "maximize": True}, steps=20)
    yield _sgd_case(gen, device, {"lr": 0.1, "momentum": 0.9}, steps=30, lr_factors=SCHEDULE,
                    what="lr halved at step 11 and again at step 21")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9},
                    groups=[{"params": ["hidden.weight", "hidden.bias"], "lr": 0.0},
                            {"params": ["out.weight", "out.bias", "spare"]}], what="two groups, the first with lr 0")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9},
                    groups=[{"params": ["hidden.weight", "hidden.bias"]}], steps=20,
                    add_group={"at": 5, "group": {"params": ["out.weight", "out.bias"], "lr": 0.2, "momentum": 0.5}},
                    what="a group added with add_param_group at step 6")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, steps=20, reload_at=10,
                    what="state_dict() loaded into a new SGD at step 11")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.5}, steps=5, closure=True, dtype="float64",
                    what="step(closure)")
    yield _errors_case()


@CHECKS.hidden("7.1", points=2)
def sgd_hidden(gen, device):
    yield _sgd_case(gen, device, {"lr": 0.02, "momentum": 0.95, "dampening": 0.3, "weight_decay": 0.1,
                                  "maximize": True}, model="encoder_head", dtype="float64")
    yield _sgd_case(gen, device, {"lr": 0.05, "momentum": 0.9, "nesterov": True}, steps=30, lr_factors=SCHEDULE,
                    zero_in_place=True)


# ---- 7.2 ModelEMA --------------------------------------------------------------------------------

def _ema_reference(spec, *, buffers=True, backwards=False, late=False, swapped=False):
    """The averaged copy's state after construction and after each update (a mistake when a flag is set)."""
    torch.manual_seed(spec["seed"])
    net = fixtures.MODELS[spec["model"]]().to(spec["device"])
    opt = torch.optim.SGD(net.parameters(), lr=spec["lr"], momentum=0.9)
    average = copy.deepcopy(net).eval()
    states = [module_view.describe(average)]
    for t in range(1, spec["steps"] + 1):
        for p in net.parameters():
            p.grad = None
        fixtures.mse(net(spec["x"]), spec["y"]).backward()
        opt.step()
        step = t - 1 if late else t
        ramp = math.exp(-step / spec["tau"]) if backwards else 1 - math.exp(-step / spec["tau"])
        d = spec["decay"] * ramp
        if swapped:
            d = 1 - d
        current = net.state_dict()
        with torch.no_grad():
            for name, value in average.state_dict().items():
                is_buffer = name not in dict(average.named_parameters())
                if value.dtype.is_floating_point and (buffers or not is_buffer):
                    value.mul_(d).add_(current[name], alpha=1 - d)
                elif not value.dtype.is_floating_point and buffers:
                    value.copy_(current[name])
        states.append(module_view.describe(average))
    return states


def _averaged_model_reference(spec):
    """With a constant decay, torch's own AveragedModel: its first update_parameters copies, as ours starts."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    torch.manual_seed(spec["seed"])
    net = fixtures.MODELS[spec["model"]]().to(spec["device"])
    opt = torch.optim.SGD(net.parameters(), lr=spec["lr"], momentum=0.9)
    average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(spec["decay"]), use_buffers=True)
    average.update_parameters(net)
    states = [module_view.describe(average.module)]
    for _ in range(spec["steps"]):
        for p in net.parameters():
            p.grad = None
        fixtures.mse(net(spec["x"]), spec["y"]).backward()
        opt.step()
        average.update_parameters(net)
        state = module_view.describe(average.module)
        # AveragedModel "averages" integer buffers with truncation; ours copies the model's count.
        state["buffers"].update({n: b.detach().clone() for n, b in net.named_buffers() if not b.is_floating_point()})
        states.append(state)
    return states


EMA_MISTAKES = [({"buffers": False}, "the buffers (BatchNorm's running statistics) were not averaged: average "
                 "every floating-point entry of state_dict(), not only parameters()"),
                ({"backwards": True}, "the ramp runs backwards: d = decay·(1 − exp(−t/τ)) starts near 0 and grows "
                 "towards decay"),
                ({"late": True}, "the update count is off by one: add 1 to self.updates before computing d"),
                ({"swapped": True}, "d and 1 − d are swapped: the average keeps d of itself and takes 1 − d from "
                 "the model")]


def _ema_case(gen, device, decay, tau, steps=12, constant=False, update_other=False):
    """update_other: the model trained and handed to update() is another instance of the net, with the same
    starting weights as the one ModelEMA was built from (the reference is the same run)."""
    seed_ = seed_from(gen)
    spec = {"model": "batchnorm_net", "x": randn(gen, 8, 4, device=device), "y": randn(gen, 8, 3, device=device),
            "decay": decay, "tau": tau, "steps": steps, "seed": seed_, "lr": 0.1, "device": str(device),
            "update_other": update_other}
    states = _averaged_model_reference(spec) if constant else _ema_reference(spec)

    def judge(o):
        if o["call_error"] is not None:
            return Failure(f"ModelEMA(model, decay={decay}, tau={tau}) raised {o['call_error'][:500]}")
        if o["same_object"]:
            return Failure("ema.module is the model itself", "keep a copy: copy.deepcopy(model)")
        if not o["is_module"]:
            return Failure("ema.module is not an nn.Module", "self.module = copy.deepcopy(model).eval()")
        if o["source_training"] is False:
            return Failure("building the EMA put the model being trained into eval mode",
                           "put the copy in eval mode, not the original: copy.deepcopy(model).eval()")
        if o["step_error"] is not None:
            return Failure(f"{o['step_error'][:500]}", "integer buffers (num_batches_tracked) cannot be scaled by a "
                           "float in place: copy them from the model" if "Long" in o["step_error"] else "")
        if o["source_changed"]:
            return Failure("update(model) changed the model being trained", "only the averaged copy changes")
        first = module_view.read(o["states"][0])
        if any(first["training"].values()):
            return Failure("ema.module is in training mode", "the average is for evaluation: .eval() on the copy")
        if any(first["requires_grad"].values()):
            return Failure("ema.module's parameters require grad", "the average is never trained: "
                           "requires_grad_(False) on its parameters")
        if o["updates"][0] != 0 or o["updates"][-1] != steps:
            return Failure(f"ema.updates went {o['updates'][0]} → {o['updates'][-1]} over {steps} updates "
                           f"(expected 0 → {steps})")
        for t, (expected, rec) in enumerate(zip(states, o["states"])):
            got = module_view.read(rec)
            if t and any(got["requires_grad"].values()):
                return Failure(f"after update {t}, ema.module's parameters require grad: the average was recorded in "
                               "a graph (each update chains onto the last, and the model's graph is kept alive)",
                               "decorate update with @torch.no_grad() (or average the detached tensors of "
                               "model.state_dict())")
            both = {**expected["parameters"], **expected["buffers"]}
            mine = {**got["parameters"], **got["buffers"]}
            problem = module_view.tensors_problem("the average of", both, mine, atol=1e-6, rtol=1e-5)
            if problem:
                start = module_view.read(o["states"][0])
                if update_other and t and module_view.tensors_problem(
                        "", {**start["parameters"], **start["buffers"]}, mine, atol=1e-6, rtol=1e-5) is None:
                    return problem.within(f"after update {t}: ").with_hint(
                        "the average did not move: update(model) must average the model it is given (here another "
                        "instance of the net, with the same starting weights as the one ModelEMA was built from), "
                        "not keep a reference to the model passed to __init__")
                if t and "num_batches_tracked" in problem.message:
                    return problem.with_hint("integer buffers are counts, not weights: copy the model's value")
                for flags, message in EMA_MISTAKES:
                    wrong = _ema_reference(spec, **flags)[t]
                    if module_view.tensors_problem("", {**wrong["parameters"], **wrong["buffers"]}, mine,
                                                   atol=1e-6, rtol=1e-5) is None:
                        return problem.with_hint(message)
                return problem.within(f"after update {t}: " if t else "at the start: ")
        return None

    shown = (f"ModelEMA(a small net with BatchNorm, decay={decay}, tau={tau}), {steps} training steps each followed "
             "by update(model)" + (" (a constant decay: compared with torch's AveragedModel)" if constant else "")
             + (", where the model trained and passed to update is a second instance of the net (same starting "
                "weights), not the one ModelEMA was built from" if update_other else ""))
    return Case("probes_optim.ema_run", {"target": "optim.ModelEMA", **{k: v for k, v in spec.items()}}, judge,
                shown=shown, timeout_s=30)


@CHECKS.add("7.2", points=3, target="optim.ModelEMA")
def model_ema(gen, device):
    yield _ema_case(gen, device, decay=0.9, tau=1e-6, constant=True)
    yield _ema_case(gen, device, decay=0.99, tau=4.0)
    yield _ema_case(gen, device, decay=0.5, tau=2.0, steps=6, update_other=True)


@CHECKS.hidden("7.2", points=1)
def model_ema_hidden(gen, device):
    yield _ema_case(gen, device, decay=0.95, tau=10.0, steps=20)


# ---- in-notebook answer --------------------------------------------------------------------------

def _three_dampened_steps():
    p = torch.tensor([1.0], requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    for _ in range(3):
        p.grad = torch.ones(1)
        opt.step()
    return opt.state[p]["momentum_buffer"].clone()


@CHECKS.answer("7.a", title="predict: a dampened momentum buffer after three steps")
def answer_momentum_buffer(gen, device):
    yield answer(LESSON, "answer_momentum_buffer", expect=_three_dampened_steps(), atol=1e-5,
                 hints=[(torch.tensor([1.355]), "dampening is not applied on the first step: the buffer starts as "
                         "the raw gradient")], shown="your prediction `answer_momentum_buffer`")
