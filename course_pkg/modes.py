"""Lesson 09 — train and eval mode: Dropout and BatchNorm (lessons/09_modes/09_modes.ipynb).

`train()` and `eval()` on a model only set the `training` flag of every sub-module; each layer
reads its own flag in `forward`. The grader compares your layers with torch's in both modes, step
for step: outputs, gradients, running statistics and `state_dict()`.
"""
import torch
from torch import nn


class Dropout(nn.Module):
    """Exercise 9.1 — inverted dropout, as `nn.Dropout(p)`.

    In training mode (`self.training`, which a parent's `.eval()` / `.train()` sets), each element
    is zeroed with probability p, independently, with a fresh mask at every call, and the kept ones
    are scaled by 1/(1 − p), so the expected output equals the input. p = 0 returns the input's
    values unchanged; p = 1 returns zeros. In eval mode it returns the input unchanged. Gradients
    flow only through the kept elements, scaled the same way. A p outside [0, 1] raises ValueError.
    `nn.Dropout` and `torch.nn.functional.dropout` are forbidden (draw the mask yourself, e.g. with
    `torch.rand_like(x) >= p` or `torch.bernoulli`).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        ### BEGIN SOLUTION
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        if not self.training or self.p == 0:
            return x.clone() if self.training else x
        if self.p == 1:
            return x * 0
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1 - self.p)
        ### END SOLUTION


class BatchNorm1d(nn.Module):
    """Exercise 9.2 — `nn.BatchNorm1d`, rebuilt: same arguments, parameters, buffers and behaviour.

    Input `(N, C)` or `(N, C, L)`; statistics per channel C, over N (and L).
    - Parameters `weight` (ones) and `bias` (zeros) of shape (C,) when `affine`, else registered
      as None. Buffers `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked`
      (a 0-d int64 zero) when `track_running_stats`, else registered as None. So `state_dict()` has
      the same keys and shapes as torch's and loads both ways.
    - Training mode (or no running statistics): normalise with the batch mean and the *biased*
      variance, `(x − mean) / sqrt(var + eps)`, then `· weight + bias`; gradients flow through the
      batch statistics. When tracking, also (without recording it in the graph) count the batch
      in `num_batches_tracked` and update `running ← (1 − m)·running + m·batch_stat` with the
      *unbiased* variance for `running_var`, where m = momentum, or 1/num_batches_tracked when
      momentum is None (a cumulative average).
    - Eval mode with running statistics: normalise with them, and change nothing.
    - Batch statistics of a single value per channel are meaningless: raise ValueError, as torch does.
    `nn.BatchNorm*` and `torch.nn.functional.batch_norm` are forbidden.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        ### BEGIN SOLUTION
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        dims = [0] if x.dim() == 2 else [0, 2]
        shape = [1, -1] + [1] * (x.dim() - 2)
        use_batch = self.training or not self.track_running_stats
        if use_batch and x.numel() // x.shape[1] <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        if use_batch:
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    m = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                    n = x.numel() / x.shape[1]
                    self.running_mean.mul_(1 - m).add_(mean, alpha=m)
                    self.running_var.mul_(1 - m).add_(var * n / (n - 1), alpha=m)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y
        ### END SOLUTION
