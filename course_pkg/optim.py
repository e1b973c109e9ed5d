"""Lesson 07 — optimizers: SGD with momentum and weight decay, and an EMA of the weights
(lessons/07_optim/07_optim.ipynb).

The grader runs your optimizer beside `torch.optim.SGD` on the same small model, from the same
weights and the same data, for dozens of steps, and compares every parameter and every momentum
buffer after every step, in every combination of options. Your EMA is compared with torch's own
`AveragedModel` (constant decay) and with a reference of the warm-up ramp.
"""
import copy
import math

import torch
from torch import nn


def sgd_update(param: torch.Tensor, grad: torch.Tensor, state: dict, *, lr, momentum, dampening, weight_decay,
               nesterov, maximize) -> None:
    """Exercise 7.1, part one — one parameter's SGD step, in place, exactly as `torch.optim.SGD` does it.

    In this order: the gradient g (negated when `maximize`); weight decay adds
    `weight_decay · param` to g; with momentum, the buffer `state["momentum_buffer"]` becomes g
    itself (a copy) on the first step, then `momentum · buf + (1 − dampening) · g`, and the step
    direction is the buffer (or `g + momentum · buf` with Nesterov); finally
    `param −= lr · direction`. Called by `SGD.step`, under torch.no_grad().
    """
    ### BEGIN SOLUTION
    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = torch.clone(d_p).detach()
            state["momentum_buffer"] = buf
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)
    ### END SOLUTION


class SGD(torch.optim.Optimizer):
    """Exercise 7.1 — `torch.optim.SGD`, rebuilt as a subclass of `torch.optim.Optimizer`.

    The arguments above (torch's, without foreach / fused / differentiable), its defaults and its
    `ValueError`s for invalid ones: a
    negative lr, momentum or weight_decay, and Nesterov without a positive momentum or with a
    nonzero dampening. Keep every option in the group's defaults (so parameter groups can
    override them, and `add_param_group` works), keep the momentum buffer in
    `self.state[p]["momentum_buffer"]` (so `state_dict()` saves it), skip a parameter whose
    `.grad` is None, and update the parameters in place without recording the update in the
    graph. `step(closure=None)` returns the closure's loss (or None), as torch's does.
    Subclassing or calling `torch.optim.SGD` (or its functional `sgd`) is forbidden.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        ### BEGIN SOLUTION
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)
        ### END SOLUTION

    @torch.no_grad()
    def step(self, closure=None):
        ### BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            options = {k: group[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")}
            for p in group["params"]:
                if p.grad is not None:
                    sgd_update(p, p.grad, self.state[p], **options)
        return loss
        ### END SOLUTION


class ModelEMA:
    """Exercise 7.2 — an exponential moving average of a model's weights, with a warm-up ramp.

    `ModelEMA(model, decay=0.9999, tau=2000)` keeps `self.module`, a deep copy of the model in eval
    mode whose parameters do not require grad, and `self.updates`, the number of updates so far
    (0 at the start). `update(model)` (without recording anything in a graph):
    - counts the update (t = self.updates after adding 1) and uses the decay
      `d = decay · (1 − exp(−t / tau))` — small at first, so the average follows the model
      closely early on, approaching `decay` after a few `tau` updates;
    - for each floating-point entry of `state_dict()`, parameters *and buffers* (BatchNorm's running
      statistics): `average ← d · average + (1 − d) · model's value`;
    - integer entries (BatchNorm's `num_batches_tracked`) are not averaged: copy the model's.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000):
        ### BEGIN SOLUTION
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        ### END SOLUTION

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ### BEGIN SOLUTION
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                average.copy_(current[name])
        ### END SOLUTION
