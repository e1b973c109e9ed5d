"""The functions both sides need: what lesson 02's tools are applied to, and lesson 03's graph builders.

Plain torch code and nothing else, loaded on purpose by both sides: the sandbox applies the student's
tools to these functions (`probes.observe(..., fixture=name)`), and the trusted checks compute torch's
reference with the very same functions. No reference *answer* lives here: every expected value is
computed by the trusted side, never in the sandbox.

Long because it is the one copy of everything both sides build (lessons 02–03's functions and graphs,
lessons 06–10's models, loaders and loops): split up, the sandbox would have more files to keep in step.
"""
import itertools

import torch


# ---- fixtures: scalar functions of one or several tensors ------------------------------------------

def _weights(n, m, like):
    """A fixed, deterministic (n, m) matrix on like's device and dtype."""
    return (torch.arange(n * m, dtype=torch.float64).reshape(n, m).sin() * 0.7).to(like)


def cubic_sum(x):
    return (x ** 3 - 2 * x).sum()


def sin_poly(x):
    return (torch.sin(x) * x ** 2).sum() + 0.5 * (x ** 2).sum()


def product_mix(x, y):
    return (x * torch.sin(y)).sum() + (x ** 2).sum() * y.mean()


def matrix_tanh(w, x):
    return torch.tanh(x @ w.T).pow(2).sum()


def ignores_second(x, y):
    return (x.exp()).sum()


def opaque_cubic(x):
    """Σ (x³ − x), computed where autograd cannot see it: only a numerical derivative works here."""
    y = x.detach()
    return (y ** 3 - y).sum()


def logsumexp_rows(x):
    return torch.logsumexp(x, dim=-1).sum() + (x ** 2).mean()


# ---- fixtures: vector functions (vjp / jacobian) ----------------------------------------------------

def mix(x):
    """R^n -> R^n, not elementwise (so a transposed Jacobian is wrong)."""
    return torch.tanh(x) * x.flip(-1) + x.cumsum(-1)


def project(x):
    """R^n -> R^3."""
    w = _weights(3, x.shape[-1], x)
    return torch.sin(w @ x) + x.sum() * torch.arange(1, 4, dtype=x.dtype, device=x.device)


def matrix_square(x):
    """R^{n×n} -> R^{n×n}."""
    return x @ x.T + x.sin()


# ---- fixtures: losses (gradient descent) ------------------------------------------------------------

def rosenbrock(w):
    return (1 - w[0]) ** 2 + 10 * (w[1] - w[0] ** 2) ** 2


def quadratic(w):
    a = _weights(w.shape[0], w.shape[0], w)
    return 0.5 * (w @ (a @ a.T + torch.eye(w.shape[0], dtype=w.dtype, device=w.device)) @ w).sum() + w.sum()


def regression(w):
    x = _weights(6, w.shape[-1], w)
    y = torch.arange(6, dtype=w.dtype, device=w.device) / 3
    return ((x @ w - y) ** 2).mean() + 0.1 * (w ** 4).sum()


FUNCTIONS = {f.__name__: f for f in (cubic_sum, sin_poly, product_mix, matrix_tanh, ignores_second,
                                     opaque_cubic, logsumexp_rows, mix, project, matrix_square, rosenbrock, quadratic,
                                     regression)}


# ---- graph builders: input leaves -> a tensor with a known graph ---------------------------------------

def chain(a):
    return torch.exp(torch.sin(a) * 2).sum()


def shared(a, b):
    c = a * b                    # used twice below: its node is shared
    return (c + c.exp() + a).mean()


def square_self(a):
    return (a * a).sum()        # MulBackward0 points at the same AccumulateGrad twice


def mlp(x, w1, w2):
    h = torch.relu(x @ w1)
    return torch.nn.functional.mse_loss(h @ w2, torch.zeros(x.shape[0], w2.shape[1], device=x.device, dtype=x.dtype))


def diamond(a, b):
    c = a + b
    d = c * 2
    e = c.sin()
    f = d * e
    return (f + a.detach()).sum() + b.sum()


# Custom Functions whose nodes note each call of their backward on the node itself (ctx is the node):
# `ctx.calls`, a global call number per call, and `ctx.received`, the gradients it was called with.
# Lesson 03's backward by hand reads them: how often, in what order, and with what each was called.
_CALL_NUMBERS = itertools.count()


def _note_call(ctx, grad):
    ctx.calls = getattr(ctx, "calls", ()) + (next(_CALL_NUMBERS),)
    ctx.received = getattr(ctx, "received", ()) + (None if grad is None else grad.detach().clone(),)


class Softsign(torch.autograd.Function):
    """y = x / (1 + |x|); dy/dx = 1 / (1 + |x|)²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + x.abs())

    @staticmethod
    def backward(ctx, grad):
        _note_call(ctx, grad)
        (x,) = ctx.saved_tensors
        return grad / (1 + x.abs()) ** 2


class Cube(torch.autograd.Function):
    """y = x³; dy/dx = 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        _note_call(ctx, grad)
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class Sine(torch.autograd.Function):
    """y = sin(x); dy/dx = cos(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad):
        _note_call(ctx, grad)
        (x,) = ctx.saved_tensors
        return grad * torch.cos(x)


def counted(a, b):
    """Three custom-Function nodes: c's node gets its gradient from two uses, each a custom node."""
    c = Softsign.apply(a * b)
    return (Cube.apply(c) * Sine.apply(c)).sum()


def residual_tanh(x, w):
    """A residual block: x is used twice (in the matmul and added back); the output is not a scalar."""
    return torch.tanh(x @ w) + x


def split_parts(x, w):
    """One SplitBackward0 node with three outputs: the first used twice, the second once, the third never
    (b * a: the product's first input is the split's output 1)."""
    a, b, _ = x.split(2)
    return (b * a * w).sum() + a.exp().sum()


def unbind_rows(m, v):
    """One UnbindBackward0 node, one output per row: the last row used twice, middle rows never; not a scalar."""
    rows = m.unbind(0)
    return rows[-1] * v + rows[0] * rows[-1].sin()


def affine(x, w, b):
    """A matrix output with b (of its shape) reached through an addition only: b's gradient is the seed
    itself, so a seed that is not ones_like(output) (0-d, or float32 for float64) shows."""
    return x @ w + b


def pieces(x, w):
    return (x * w).split(2)


def second_piece(x, w):
    """The output is the second piece of a split (output.output_nr is 1): the seed goes to slot 1."""
    return pieces(x, w)[1]


BUILDERS = {f.__name__: f for f in (chain, shared, square_self, mlp, diamond, counted, residual_tanh, split_parts,
                                    unbind_rows, affine, second_piece)}

# ---- around: what is built on the student's result before backward (fan-in) -------------------------

def residual(y, x):
    """y + x: the input's gradient arrives along two paths and is summed, so a backward that writes
    into grad_output in place, or returns it where a new tensor is due, corrupts the other path."""
    return y + x


def used_twice(y, x):
    """y·y: the result's own gradient is the sum of two products with grad_output."""
    return y * y


AROUND = {f.__name__: f for f in (residual, used_twice)}

FIXTURES = {**FUNCTIONS, **BUILDERS}

# ---- models: what lessons 06–07 build, train, freeze, checkpoint and average ---------------------------
# Built by both sides under the same torch.manual_seed, so the sandbox's copy and the trusted
# reference start from the same weights.

def encoder_head():
    """Named sub-modules: encoder (two Linears), head."""
    from collections import OrderedDict
    nn = torch.nn
    return nn.Sequential(OrderedDict(encoder=nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)),
                                     act=nn.ReLU(), head=nn.Linear(5, 3)))


def twelve_layers():
    """Sub-modules named "0" … "11": "1" is a prefix of "10" and "11"."""
    return torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(12)])


class WithSpare(torch.nn.Module):
    """A small net with one parameter the loss never reaches: its .grad stays None."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(4, 6)
        self.out = torch.nn.Linear(6, 3)
        self.spare = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


def with_spare():
    return WithSpare()


def batchnorm_net():
    """Floating-point buffers (running_mean, running_var) and an integer one (num_batches_tracked)."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def dropout_net():
    """A classifier of 2-D points into 3 classes, with Dropout: a loop that forgets train() / eval() shows."""
    nn = torch.nn
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


MODELS = {f.__name__: f for f in (encoder_head, twelve_layers, with_spare, batchnorm_net, dropout_net)}


def mse(output, target):
    return ((output - target) ** 2).mean()


def param_groups(named, groups):
    """What an optimizer is built from: all the (name, parameter) pairs' parameters, or groups given by
    parameter names with their own options ({"params": ["out.weight", …], "lr": 0.2})."""
    if groups is None:
        return [p for _, p in named]
    lookup = dict(named)
    return [{**{k: v for k, v in g.items() if k != "params"}, "params": [lookup[n] for n in g["params"]]}
            for g in groups]


def loader(x, y, batch_size, shuffle_seed):
    """The loaders a training loop is handed: shuffled by their own seeded generator, or not at all."""
    from torch.utils.data import DataLoader, TensorDataset
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator)


# The losses a training loop is given, by name (a function cannot cross into the sandbox).
LOSSES = {"cross_entropy": torch.nn.CrossEntropyLoss, "mse": torch.nn.MSELoss}


# ---- lesson 10: the digits net, torch's pipeline, the split and the loop both sides run -------------------

CAPSTONE = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "decay": 0.99, "tau": 20}


class DigitsNet(torch.nn.Module):
    """The capstone's net from torch's parts (course_pkg.capstone.DigitsNet's spec)."""

    def __init__(self, dropout):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        F = torch.nn.functional
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.dropout(x.flatten(1)))


def ema_ramp(decay, tau):
    """ModelEMA's warm-up rule as AveragedModel's avg_fn; integer buffers are copied."""
    import math

    def avg_fn(average, current, n):
        if not average.is_floating_point():
            return current
        d = decay * (1 - math.exp(-float(n) / tau))
        return average * d + current * (1 - d)
    return avg_fn


def torch_pipeline(seed, dropout, device, dtype=torch.float32):
    """(model, optimizer, ema) of torch's parts, as build_pipeline(seed, use_torch=True) makes them (then
    moved to a device and dtype)."""
    from torch.optim.swa_utils import AveragedModel
    torch.manual_seed(seed)
    model = DigitsNet(dropout).to(device=device, dtype=dtype)
    c = CAPSTONE
    optimizer = torch.optim.SGD(model.parameters(), lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"])
    ema = AveragedModel(model, avg_fn=ema_ramp(c["decay"], c["tau"]), use_buffers=True)
    ema.update_parameters(model)
    return model, optimizer, ema


def split(n, seed, test_size):
    """(train indices, test indices) of a seeded split: the permutation's first test_size are the test set."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[test_size:], order[:test_size]


def digits_loaders(x, y, seed, batch_size, test_size, test_batch_size):
    """The loaders the capstone's loops are handed (test batches of another size than training's)."""
    train, test = split(len(x), seed, test_size)
    return loader(x[train], y[train], batch_size, seed), loader(x[test], y[test], test_batch_size, None)


def run_epochs(model, optimizer, update_ema, train_loader, epochs, lr_gamma=1.0):
    """The capstone's training loop, run on the student's parts in the sandbox and on torch's here:
    per-batch losses. After each epoch every group's lr is multiplied by lr_gamma, as a scheduler does."""
    F = torch.nn.functional
    losses = []
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            update_ema()
            losses.append(loss.item())
        for group in optimizer.param_groups:
            group["lr"] *= lr_gamma
    return losses


def walk_nodes(root):
    """Every node reachable from root through next_functions, each once, in one fixed depth-first
    pre-order: lesson 03's probe and judge both walk a graph this way, so their indices correspond."""
    order, seen, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        order.append(node)
        stack.extend(child for child, _ in reversed(node.next_functions))
    return order
