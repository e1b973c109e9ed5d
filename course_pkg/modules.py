"""Lesson 06 — modules, parameters, buffers and checkpoints (lessons/06_modules/06_modules.ipynb).

An `nn.Module` is bookkeeping: assigning an `nn.Parameter`, a sub-module or a registered buffer to
`self` in `__init__` puts it in the module's registries, and everything else (`parameters()`,
`state_dict()`, `.to()`, `train()` / `eval()`, what an optimizer sees, what a checkpoint holds)
walks those registries. The grader builds your modules in its sandbox and compares them with
torch's own classes: same parameter names, shapes and (under the same seed) values, same outputs,
same gradients, same `state_dict()`.
"""
import math

import torch
from torch import nn


class Linear(nn.Module):
    """Exercise 6.1 — `nn.Linear`, rebuilt: y = x Wᵀ + b.

    Parameters named `weight` (shape `(out_features, in_features)`: y = x Wᵀ for a batch of
    row vectors x, the transpose of the `x @ W` layout) and `bias` (shape `(out_features,)`, or registered as None when
    `bias=False`, as torch does, so `state_dict()` has no `bias` key). Initialise both uniformly
    in (−1/√in_features, 1/√in_features), weight first, then bias: under the same
    `torch.manual_seed` your weights equal `nn.Linear`'s. Also store `in_features` and
    `out_features`. `forward(x)` accepts any number of leading batch dimensions.
    Do not use `nn.Linear` or `torch.nn.functional.linear` (forbidden).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        ### BEGIN SOLUTION
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias
        ### END SOLUTION


class RunningMean(nn.Module):
    """Exercise 6.2 — a module with state that is not a parameter: a running mean, kept as a buffer.

    Input x has shape `(batch, num_features)`. Keep a buffer named `running_mean` (zeros at the
    start, float32), registered with `register_buffer` so it is in `state_dict()`, moved by
    `.to()`, and *not* in `parameters()` (no optimizer ever trains it).
    - In training mode, `forward(x)` returns `x - x.mean(dim=0)` (the gradient flows through the
      batch mean too) and updates the statistic without recording it in the graph:
      `running_mean ← (1 − momentum)·running_mean + momentum·batch_mean` (BatchNorm's rule).
    - In eval mode it returns `x - running_mean` and changes nothing.
    """

    def __init__(self, num_features: int, momentum: float = 0.1):
        super().__init__()
        ### BEGIN SOLUTION
        self.num_features, self.momentum = num_features, momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        if not self.training:
            return x - self.running_mean
        mean = x.mean(dim=0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
        return x - mean
        ### END SOLUTION


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    """Exercise 6.3 — a multi-layer perceptron with exactly these `state_dict()` keys.

    `MLP([4, 8, 8, 2])` holds one `nn.Sequential` named `layers`: Linear(4, 8), activation,
    Linear(8, 8), activation, Linear(8, 2) — no activation after the last Linear. Its
    `state_dict()` keys are therefore exactly `layers.0.weight`, `layers.0.bias`,
    `layers.2.weight`, `layers.2.bias`, `layers.4.weight`, `layers.4.bias`. `activation` is one
    of "relu", "tanh", "sigmoid" (an `nn.ReLU()`, `nn.Tanh()`, `nn.Sigmoid()` module); anything
    else raises ValueError. Build the Linears in order, first to last (nn.Linear or your own
    Linear): under the same seed the weights equal those of the same Sequential built by hand.
    `forward(x)` runs the layers.
    """

    def __init__(self, sizes, activation: str = "relu"):
        super().__init__()
        ### BEGIN SOLUTION
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.Linear(fan_in, fan_out))
        self.layers = nn.Sequential(*layers)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.layers(x)
        ### END SOLUTION


def freeze_all_but(model: nn.Module, names) -> None:
    """Exercise 6.4 — afterwards, only the parameters of the sub-modules named in `names` train.

    `names` are dotted sub-module names as `model.named_modules()` gives them ("head",
    "encoder.2"). Every parameter of those sub-modules must require grad — even one that was
    frozen before — and every other parameter of the model must not. A name that is not a
    sub-module of the model raises (as `model.get_submodule(name)` does), before anything is
    changed. Returns None.
    An optimizer built over *all* the parameters then changes only the trainable ones.
    """
    ### BEGIN SOLUTION
    trainable = [model.get_submodule(name) for name in names]
    for p in model.parameters():
        p.requires_grad_(False)
    for module in trainable:
        for p in module.parameters():
            p.requires_grad_(True)
    ### END SOLUTION


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    """Exercise 6.5a — save what it takes to continue training later, with `torch.save`.

    The file holds one dict: {"model": the model's state_dict(), "optimizer": the optimizer's
    state_dict(), "epoch": epoch}. Training resumed from it (see load_checkpoint) must go on
    exactly as if it had never stopped: same losses, same weights.
    """
    ### BEGIN SOLUTION
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)
    ### END SOLUTION


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, map_location=None) -> int:
    """Exercise 6.5b — load a file written by save_checkpoint into model and optimizer; return its epoch.

    Load with `weights_only=True` (a checkpoint is a pickle, and unpickling an untrusted file can
    run any code: a file that is not plain tensors and containers must be refused) and pass
    `map_location` on, so that a checkpoint saved on a GPU loads on a CPU-only machine with
    `map_location="cpu"`.
    """
    ### BEGIN SOLUTION
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
    ### END SOLUTION
