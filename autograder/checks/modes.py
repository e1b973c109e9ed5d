"""Checks for lesson 09 (course_pkg/modes.py). References: nn.BatchNorm1d replayed here step for step;
for Dropout, whose mask is random, the laws every correct dropout obeys (values in {0, x/(1−p)}, the
kept fraction within a binomial bound, the gradient through the kept elements, a fresh mask per call).

(Long because BatchNorm1d is judged step by step, output, gradients and buffers each with the named
mistake that explains it, and a batch of one value per channel has its own rule in each mode.)
"""
import math

import torch
from torch import nn

from autograder import compare, module_view
from autograder.inputs import randn, seed_from
from autograder.observation import vector_jacobian
from autograder.results import Failure
from autograder.spec import CheckList, answer

CHECKS = CheckList()
LESSON = "09_modes"
TORCH_DROPOUT = "torch.nn.modules.dropout.Dropout"
REGISTER = ("register the statistics with self.register_buffer (and the affine ones as nn.Parameter): a plain "
            "tensor attribute is missing from state_dict() and is not moved by .to()")


# ---- 9.1 Dropout ---------------------------------------------------------------------------------

def _away_from_zero(x):
    return torch.where(x.abs() < 0.1, x.sign() * 0.1 + 0.1 * (x == 0), x)


def _dropout_case(gen, device, p, shape, dtype=torch.float32):
    seed = seed_from(gen)
    x = _away_from_zero(randn(gen, *shape, device=device, dtype=dtype))
    g = randn(gen, *shape, device=device, dtype=dtype)
    to = [("to", str(device))] + ([("to", "float64")] if dtype == torch.float64 else [])
    script = to + [("forward", x, "leaf", g), ("forward", x, "plain", None), ("forward", x, "plain", None),
                   ("train", False), ("forward", x, "leaf", g)]
    n = x.numel()
    atol, rtol = compare.torch_tolerance(dtype)[1], compare.torch_tolerance(dtype)[0]

    def judge(o):
        _, problem = module_view.built(o, f"Dropout(p={p})")
        if problem:
            return problem
        where = module_view.uses_torch_class(module_view.read(o["built"])["types"], o["mro"], TORCH_DROPOUT)
        if where:
            return Failure(f"Dropout uses nn.Dropout ({where}), which this exercise asks you not to use")
        first, second, third, evaluated = (o["steps"][len(to) + i] for i in (0, 1, 2, 4))
        out = compare.unrecord(first["output"])
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return Failure(f"in training mode Dropout returned {compare.show(out)}, not a tensor shaped like x")
        # Before any comparison with x: the values below are compared elementwise with x's, which needs one dtype.
        if out.dtype != x.dtype:
            return Failure(f"in training mode the output has dtype {out.dtype} for a {x.dtype} input; it must keep "
                           "the input's dtype", "a mask in another dtype promotes the product: draw it like x "
                           "(torch.rand_like(x), or torch.bernoulli on a tensor of x's dtype)")
        out = out.to(x.device)
        kept = out != 0
        if p == 1:
            problem = compare.tensor_problem(torch.zeros_like(x), out)
            return problem.within("with p = 1 every element is dropped: ") if problem else _eval_problem(evaluated)
        if 0 < p < 1 and x.dim() >= 2:
            for dim, what in ((0, "every sample of the batch had the same elements dropped"),
                              (x.dim() - 1, "whole slices along the last dim were kept or dropped together")):
                if torch.equal(kept, kept.narrow(dim, 0, 1).expand_as(kept)):
                    return Failure(f"the mask is the same along dim {dim}: {what}",
                                   "draw one independent decision per element: a mask of x's full shape "
                                   "(torch.rand_like(x) >= p), not one broadcast along a dimension")
        dropped = n - int(kept.sum())
        bound = 5 * math.sqrt(n * p * (1 - p)) + 1
        if abs(dropped - n * p) > bound:
            hint = ("p is the probability of *dropping* an element, not of keeping it"
                    if abs(dropped - n * (1 - p)) <= bound else "")
            return Failure(f"{dropped} of {n} elements were dropped with p = {p}; expected about {n * p:.0f} "
                           f"(± {bound:.0f})", hint)
        scaled = x / (1 - p)
        if bool(kept.any()) and not bool(torch.isclose(out[kept], scaled[kept], rtol=rtol, atol=atol).all()):
            hint = ("the kept elements were not rescaled: divide them by 1 − p, so the expected output equals the "
                    "input" if bool(torch.isclose(out[kept], x[kept]).all()) else "")
            return Failure(f"in training mode the kept elements must equal x / (1 − p) = x / {1 - p:g}", hint)
        if first.get("input_grad") is None:
            return Failure("no gradient reached the input in training mode")
        problem = compare.tensor_problem(g * kept / (1 - p), compare.unrecord(first["input_grad"]).to(x.device),
                                         atol=atol, rtol=rtol)
        if problem:
            return problem.within("the gradient must flow through the kept elements only, scaled by 1/(1 − p): ")
        again = compare.unrecord(second["output"])
        if 0 < p < 1 and isinstance(again, torch.Tensor) and torch.equal(again.to(x.device) != 0, kept):
            return Failure("two calls in training mode dropped exactly the same elements",
                           "draw a fresh mask at every call (not once in __init__)")
        # A count within 1 of p·n in all three calls: for a correct dropout (σ ≥ 50 here) about 1 in 10⁷.
        outputs = [again, compare.unrecord(third["output"])]
        if 0 < p < 1 and all(isinstance(y, torch.Tensor) and y.shape == x.shape for y in outputs) and \
                all(abs(count - n * p) < 1 for count in [dropped] + [n - int((y != 0).sum()) for y in outputs]):
            return Failure(f"all three calls in training mode dropped exactly {dropped} of {n} elements (p·n): the "
                           "count of a real dropout varies from call to call",
                           "drop each element independently with probability p (torch.rand_like(x) >= p), rather than "
                           "choosing exactly p·n of them (randperm, topk, a sort)")
        return _eval_problem(evaluated)

    def _eval_problem(evaluated):
        out = compare.unrecord(evaluated["output"])
        problem = compare.tensor_problem(x, out.to(x.device) if isinstance(out, torch.Tensor) else out)
        if problem:
            return problem.within("in eval mode Dropout must return its input unchanged: ").with_hint(
                "read self.training (a parent's .eval() sets it on every sub-module)")
        problem = compare.tensor_problem(g, compare.unrecord(evaluated["input_grad"]).to(x.device)
                                         if evaluated.get("input_grad") else None)
        return problem.within("in eval mode the gradient passes unchanged: ") if problem else None

    shown = (f"Dropout(p={p}) on x with shape {tuple(shape)}{' (float64)' if dtype == torch.float64 else ''}: three "
             "calls in training mode, one in eval mode")
    return module_view.case("modes.Dropout", (p,), {}, script, seed, judge, shown)


def _dropout_rejects(p):
    def judge(o):
        if o["call_error"] is None:
            return Failure(f"Dropout(p={p}) did not raise", "a probability outside [0, 1] is a ValueError")
        if not o["call_error"].startswith("ValueError"):
            return Failure(f"Dropout(p={p}) raised {o['call_error'][:200]}; expected a ValueError")
        return None
    return module_view.case("modes.Dropout", (p,), {}, [], 0, judge, f"Dropout(p={p})")


@CHECKS.add("9.1", points=3, target="modes.Dropout",
            forbid=("dropout", "Dropout", "native_dropout", "feature_dropout", "alpha_dropout"))
def dropout(gen, device):
    yield _dropout_case(gen, device, 0.5, (100, 200))
    yield _dropout_case(gen, device, 0.2, (50, 10, 40))
    yield _dropout_case(gen, device, 0.0, (30, 7))
    yield _dropout_case(gen, device, 1.0, (30, 7))
    yield _dropout_rejects(1.5)
    yield _dropout_rejects(-0.1)


@CHECKS.hidden("9.1", points=1)
def dropout_hidden(gen, device):
    yield _dropout_case(gen, device, 0.85, (20000,), dtype=torch.float64)


# ---- 9.2 BatchNorm1d -----------------------------------------------------------------------------

def _bn_step(x, rm, rv, count, momentum, eps, *, unbiased_norm=False, biased_running=False, swapped=False):
    """One training step of BatchNorm from primitives, or a named mistake: (normalised, mean, var, count)."""
    dims = [0] if x.dim() == 2 else [0, 2]
    mean, var = x.mean(dims), x.var(dims, unbiased=unbiased_norm)
    count = count + 1
    m = 1 / count if momentum is None else momentum
    if swapped:
        m = 1 - m
    n = x.numel() / x.shape[1]
    running_var = x.var(dims, unbiased=False) if biased_running else x.var(dims, unbiased=False) * n / (n - 1)
    shape = [1, -1] + [1] * (x.dim() - 2)
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return y, (1 - m) * rm + m * mean, (1 - m) * rv + m * running_var, count


BN_MISTAKES = [({"unbiased_norm": True}, "the output", "normalise with the biased variance (unbiased=False); the "
                "unbiased one is for running_var"),
               ({"biased_running": True}, "running_var", "running_var takes the unbiased variance (n/(n − 1) times "
                "the biased one that normalises)"),
               ({"swapped": True}, None, "momentum is the weight of the *new* batch statistic: "
                "(1 − momentum)·running + momentum·batch")]


def _bn_case(gen, device, features, kwargs, shapes, eval_steps=2, dtype=torch.float32):
    seed = seed_from(gen)
    xs = [randn(gen, *s, device=device, dtype=dtype, scale=2) + 1 for s in shapes]
    gs = [randn(gen, *s, device=device, dtype=dtype) for s in shapes]
    train_n = len(shapes) - eval_steps
    to = [("to", str(device))] + ([("to", "float64")] if dtype == torch.float64 else [])
    script = to + [("forward", x, "leaf", g) for x, g in zip(xs[:train_n], gs[:train_n])] + [("train", False)] + \
        [("forward", x, "leaf", g) for x, g in zip(xs[train_n:], gs[train_n:])]
    ref = nn.BatchNorm1d(features, **kwargs).to(device).to(dtype)
    keys = list(ref.state_dict())
    names = [n for n, _ in ref.named_parameters()]
    expected = []
    for step in script[len(to):]:
        if step[0] == "train":
            ref.train(step[1])
            expected.append(None)
            continue
        x = step[1].detach().clone().requires_grad_(True)
        before = module_view.describe(ref)["buffers"]
        y = ref(x)
        grads = vector_jacobian(y, [x, *ref.parameters()], step[3])
        expected.append({"output": y.detach(), "grads": dict(zip(["input", *names], grads)), "training": ref.training,
                         "buffers": module_view.describe(ref)["buffers"], "before": before, "x": step[1],
                         "g": step[3]})
    atol, rtol = (1e-4, 1e-4) if dtype == torch.float32 else (1e-10, 1e-8)
    track = kwargs.get("track_running_stats", True)
    momentum, eps = kwargs.get("momentum", 0.1), kwargs.get("eps", 1e-5)

    def judge(o):
        built, problem = module_view.built(o, f"BatchNorm1d({features}, ...)")
        if problem:
            if "ValueError" in str(o.get("step_error")) and any(s[0] == 1 and len(s) == 3 for s in shapes):
                return problem.with_hint("a batch of one sample shaped (1, C, L) still has L values per channel, "
                                         "enough for batch statistics: refuse only when x.numel() // C is 1, not "
                                         "when the batch size is")
            return problem
        for qualified in ("torch.nn.modules.batchnorm.BatchNorm1d", "torch.nn.modules.batchnorm.BatchNorm2d"):
            where = module_view.uses_torch_class(built["types"], o["mro"], qualified)
            if where:
                return Failure(f"BatchNorm1d uses nn.BatchNorm ({where}), which this exercise asks you not to use")
        problem = module_view.names_problem("the state_dict() keys", keys, o["state_dict"]["keys"], REGISTER)
        if problem:
            return problem
        problem = module_view.names_problem("the parameters", names, built["parameters"], REGISTER)
        if problem:
            return problem
        for t, (exp, rec) in enumerate(zip(expected, o["steps"][len(to):])):
            if exp is None:
                continue
            mode = "training" if exp["training"] else "eval"
            where = f"step {t + 1} ({mode} mode)"
            state = module_view.read(rec["state"])
            # In eval mode a changed statistic explains a wrong output: look at the buffers first.
            checks = ((_output_problem, _grads_problem, _buffers_problem) if exp["training"]
                      else (_buffers_problem, _output_problem, _grads_problem))
            for check in checks:
                problem = check(exp, rec, state, where)
                if problem:
                    return problem
        return None

    def _output_problem(exp, rec, state, where):
        out = compare.unrecord(rec["output"])
        problem = compare.tensor_problem(exp["output"], out.to(device) if isinstance(out, torch.Tensor) else out,
                                         atol=atol, rtol=rtol)
        return problem.within(f"{where}, the output: ").with_hint(_hint(exp, out, "the output")) if problem else None

    def _grads_problem(exp, rec, state, where):
        for name in ("input", *names):
            got = rec.get("input_grad") if name == "input" else (rec.get("grads") or {}).get(name)
            if got is None:
                return Failure(f"{where}: no gradient reached {name}")
            got = compare.unrecord(got).to(device)
            problem = compare.tensor_problem(exp["grads"][name], got, atol=atol, rtol=rtol)
            if problem:
                hint = ("the gradient did not flow through the batch statistics: compute the mean and variance "
                        "from x with autograd on (only the running update goes under no_grad)"
                        if name == "input" and exp["training"] and _detached_grad_matches(exp, got, kwargs) else "")
                return problem.within(f"{where}, the gradient for {name}: ").with_hint(hint)
        return None

    def _buffers_problem(exp, rec, state, where):
        for name, e in exp["buffers"].items():
            got = state["buffers"].get(name)
            if got is None:
                return Failure(f"{where}: {name} is no longer a buffer", REGISTER)
            problem = compare.tensor_problem(e, got.to(device), atol=atol, rtol=rtol)
            if problem:
                if not exp["training"]:
                    hint = "eval mode must use the running statistics and change nothing"
                elif name == "num_batches_tracked":
                    hint = "count every training batch: num_batches_tracked += 1"
                elif momentum == 0 and momentum is not None:
                    hint = ("momentum=0 is a momentum like any other (the running statistics never move), not the "
                            "cumulative average: test `momentum is None`, not its truthiness")
                else:
                    hint = _hint(exp, got.to(device), name)
                return problem.within(f"{where}, {name}: ").with_hint(hint)
        return None

    def _hint(exp, got, what):
        if not (exp["training"] and track) and what == "the output":
            return ""
        before, features_ = exp["before"], exp["x"].shape[1]
        zeros = torch.zeros(features_, dtype=exp["x"].dtype, device=exp["x"].device)
        for flags, applies, message in BN_MISTAKES:
            if applies not in (None, what):
                continue
            y, rm, rv, _ = _bn_step(exp["x"], before.get("running_mean", zeros), before.get("running_var", zeros + 1),
                                    int(before.get("num_batches_tracked", torch.tensor(0))), momentum, eps, **flags)
            alt = {"the output": y, "running_mean": rm, "running_var": rv}.get(what)
            if isinstance(got, torch.Tensor) and alt is not None and got.shape == alt.shape and \
                    compare.tensor_problem(alt, got, atol=atol, rtol=rtol) is None:
                return message
        return ""

    shown = (f"BatchNorm1d({features}{''.join(f', {k}={v}' for k, v in kwargs.items())}): {train_n} training steps "
             f"on inputs shaped {tuple(shapes[0])}…, then {eval_steps} in eval mode, each with backward")
    return module_view.case("modes.BatchNorm1d", (features,), kwargs, script, seed, judge, shown)


def _one_sample_case(gen, device, features):
    """A batch of one sample, one value per channel: eval mode normalises it with the running statistics
    like any batch; training mode has no batch variance (and the unbiased one divides by 0), so torch
    raises ValueError."""
    seed = seed_from(gen)
    x = randn(gen, 1, features, device=device, scale=2) + 1
    to = [("to", str(device))]
    script = to + [("train", False), ("forward", x, "plain", None), ("train", True), ("forward", x, "plain", None)]
    expected = nn.BatchNorm1d(features).to(device).eval()(x).detach()
    shape = f"shape (1, {features})"

    def judge(o):
        if o["call_error"] is not None or not o["is_module"]:
            return module_view.built(o, f"BatchNorm1d({features})")[1]
        steps, error = o["steps"], str(o["step_error"]).split(": ", 1)[-1]  # "forward: ValueError: …"
        if len(steps) < len(to) + 2:  # the eval-mode forward (the second step after .to) did not finish
            return Failure(f"in eval mode, a batch of {shape} raised {error[:300]}",
                           "eval mode normalises with the running statistics, which a batch of one does not change: "
                           "only the batch statistics (training mode) need more than one value per channel")
        out = compare.unrecord(steps[len(to) + 1]["output"])
        problem = compare.tensor_problem(expected, out.to(device) if isinstance(out, torch.Tensor) else out,
                                         atol=1e-5, rtol=1e-4)
        if problem:
            return problem.within(f"in eval mode, on a batch of {shape}, the output: ")
        if o["step_error"] is None:
            return Failure(f"in training mode, a batch of {shape} (one value per channel) did not raise",
                           "its batch variance is 0 and the unbiased one for running_var divides by 0: raise "
                           "ValueError, as torch does (\"Expected more than 1 value per channel when training\")")
        if not error.startswith("ValueError"):
            return Failure(f"in training mode, a batch of {shape} raised {error[:200]}; expected a ValueError")
        return None

    shown = f"BatchNorm1d({features}) on x with {shape}: once in eval mode, then once in training mode"
    return module_view.case("modes.BatchNorm1d", (features,), {}, script, seed, judge, shown)


def _detached_grad_matches(exp, got, kwargs):
    """Whether `got` is the input gradient with the batch statistics treated as constants (weight is still
    ones: nothing trains it here)."""
    x, g = exp["x"], exp["g"]
    dims = [0] if x.dim() == 2 else [0, 2]
    shape = [1, -1] + [1] * (x.dim() - 2)
    alt = g * torch.rsqrt(x.var(dims, unbiased=False) + kwargs.get("eps", 1e-5)).reshape(shape)
    return compare.tensor_problem(alt, got, atol=1e-4, rtol=1e-4) is None


def _shapes(gen, n_steps, features, length=None):
    sizes = torch.randint(2, 9, (n_steps,), generator=gen).tolist()
    return [(n, features) if length is None else (n, features, length) for n in sizes]


BATCH_NORM_FORBID = ("batch_norm", "BatchNorm1d", "BatchNorm2d", "native_batch_norm", "_native_batch_norm_legit",
                     "instance_norm")


@CHECKS.add("9.2", points=4, target="modes.BatchNorm1d", forbid=BATCH_NORM_FORBID)
def batch_norm(gen, device):
    yield _bn_case(gen, device, 3, {}, _shapes(gen, 22, 3))
    shapes = _shapes(gen, 22, 4, length=5)
    shapes[3] = (1, 4, 5)       # one sample, yet 5 values per channel: a valid training batch
    yield _bn_case(gen, device, 4, {"momentum": 0.5}, shapes)
    yield _bn_case(gen, device, 2, {"momentum": None, "affine": False}, _shapes(gen, 22, 2))
    yield _bn_case(gen, device, 3, {"track_running_stats": False}, _shapes(gen, 6, 3), eval_steps=2)
    yield _one_sample_case(gen, device, 4)
    yield _bn_case(gen, device, 2, {"momentum": 0.0}, _shapes(gen, 5, 2))


@CHECKS.hidden("9.2", points=2)
def batch_norm_hidden(gen, device):
    yield _bn_case(gen, device, 5, {"eps": 1e-3, "momentum": 0.3}, _shapes(gen, 21, 5, length=3), dtype=torch.float64)


# ---- in-notebook answers -------------------------------------------------------------------------

def _eval_output_requires_grad():
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model.eval()
    return model(torch.randn(4, 3)).requires_grad


def _running_var_after_one_batch():
    bn = nn.BatchNorm1d(1)
    bn(torch.tensor([[1.0], [3.0]]))
    return bn.running_var.detach().clone()


@CHECKS.answer("9.a", title="predict: does an output in eval mode require grad?")
def answer_eval_requires_grad(gen, device):
    yield answer(LESSON, "answer_eval_requires_grad", expect=_eval_output_requires_grad(),
                 shown="your prediction `answer_eval_requires_grad`",
                 hints=[(False, "eval() only changes what Dropout and BatchNorm compute; autograd still records "
                                "the graph (torch.no_grad() is what switches that off)")])


@CHECKS.answer("9.b", title="predict: running_var after one training batch")
def answer_running_var(gen, device):
    yield answer(LESSON, "answer_running_var", expect=_running_var_after_one_batch(), atol=1e-6,
                 hints=[(torch.tensor([1.0]), "running_var takes the *unbiased* variance of the batch (2 here), "
                         "weighted by momentum 0.1: 0.9·1 + 0.1·2")], shown="your prediction `answer_running_var`")
