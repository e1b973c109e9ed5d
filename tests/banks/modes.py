"""Realistic wrong answers to lesson 09_modes (course_pkg/modes.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/modes.py, a word the message must say).
"""
LESSON = "09_modes"
MODULE = "modes"


def _dropout(forward: str, init: str = "        self.p = p\n") -> str:
    return ("class Dropout(nn.Module):\n    def __init__(self, p=0.5):\n        super().__init__()\n"
            "        if not 0 <= p <= 1:\n            raise ValueError(p)\n" + init
            + "\n    def forward(self, x):\n" + forward)


_BN_INIT = """class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, momentum, affine, track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
"""


def _bn(forward_body: str, init: str = _BN_INIT) -> str:
    return init + "\n    def forward(self, x):\n" + forward_body


def _bn_forward(*, unbiased=False, running_biased=False, swapped=False, no_grad_stats=False, update_in_eval=False,
                count=True) -> str:
    stats = "        with torch.no_grad():\n            mean, var = x.mean(dims), x.var(dims, unbiased=%s)\n" \
        if no_grad_stats else "        mean, var = x.mean(dims), x.var(dims, unbiased=%s)\n"
    return ("        dims = [0] if x.dim() == 2 else [0, 2]\n"
            "        shape = [1, -1] + [1] * (x.dim() - 2)\n"
            "        batch = self.training or not self.track_running_stats\n"
            + stats % unbiased +
            "        if (self.training or %s) and self.track_running_stats:\n" % update_in_eval +
            "            with torch.no_grad():\n"
            + ("                self.num_batches_tracked += 1\n" if count else "") +
            "                m = 1 / max(float(self.num_batches_tracked), 1.0) if self.momentum is None else self.momentum\n"
            + ("                m = 1 - m\n" if swapped else "") +
            "                n = x.numel() / x.shape[1]\n"
            "                self.running_mean.mul_(1 - m).add_(x.mean(dims), alpha=m)\n"
            "                v = x.var(dims, unbiased=False)\n"
            + ("" if running_biased else "                v = v * n / (n - 1)\n") +
            "                self.running_var.mul_(1 - m).add_(v, alpha=m)\n"
            "        if not batch:\n"
            "            mean, var = self.running_mean, self.running_var\n"
            "        y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)\n"
            "        return y * self.weight.reshape(shape) + self.bias.reshape(shape) if self.affine else y\n")


WRONG = [
    ("9.1", "no rescaling of the kept elements",
     _dropout("        if not self.training:\n            return x\n        return x * (torch.rand_like(x) >= self.p)\n"),
     "rescaled"),
    ("9.1", "p taken as the keep probability",
     _dropout("        if not self.training:\n            return x\n"
              "        if self.p in (0, 1):\n            return x * (1 - self.p)\n"
              "        return x * (torch.rand_like(x) < self.p) / self.p\n"), "dropping"),
    ("9.1", "active in eval mode too",
     _dropout("        if self.p == 1:\n            return x * 0\n"
              "        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)\n"), "eval mode"),
    ("9.1", "one mask drawn once and reused",
     _dropout("        if not self.training:\n            return x\n"
              "        if self.p in (0, 1):\n            return x * (1 - self.p)\n"
              "        if self.mask is None or self.mask.shape != x.shape:\n"
              "            self.mask = torch.rand_like(x) >= self.p\n"
              "        return x * self.mask / (1 - self.p)\n", init="        self.p = p\n        self.mask = None\n"),
     "fresh mask"),
    ("9.1", "delegates to F.dropout",
     _dropout("        return torch.nn.functional.dropout(x, self.p, self.training)\n"), "dropout"),
    ("9.1", "no ValueError for p outside [0, 1]",
     "class Dropout(nn.Module):\n    def __init__(self, p=0.5):\n        super().__init__()\n        self.p = p\n\n"
     "    def forward(self, x):\n        if not self.training or self.p == 0:\n            return x\n"
     "        if self.p >= 1:\n            return x * 0\n"
     "        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)\n", "ValueError"),
    ("9.1", "mask drawn in float64: a float32 input comes back float64",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        if self.p == 1:\n            return x * 0\n"
              "        keep = torch.bernoulli(torch.full(x.shape, 1 - self.p, dtype=torch.float64))\n"
              "        return x * keep / (1 - self.p)\n"), "dtype"),
    ("9.1", "a negative p accepted (only p > 1 raises)",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        if self.p >= 1:\n            return x * 0\n"
              "        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)\n")
     .replace("if not 0 <= p <= 1:", "if p > 1:"), "ValueError"),
    ("9.1", "exactly p·n elements dropped (randperm), not each independently",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        if self.p == 1:\n            return x * 0\n"
              "        drop = torch.randperm(x.numel(), device=x.device)[:round(self.p * x.numel())]\n"
              "        keep = torch.ones(x.numel(), dtype=x.dtype, device=x.device)\n"
              "        keep[drop] = 0\n"
              "        return x * keep.reshape(x.shape) / (1 - self.p)\n"), "independently"),
    ("9.1", "one mask per sample, broadcast over its features",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        if self.p == 1:\n            return x * 0\n"
              "        keep = torch.rand(x.shape[0], *[1] * (x.dim() - 1), dtype=x.dtype, device=x.device) >= self.p\n"
              "        return x * keep / (1 - self.p)\n"), "full shape"),
    ("9.1", "one mask over the features, shared by every sample",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        if self.p == 1:\n            return x * 0\n"
              "        keep = torch.rand(x.shape[1:], dtype=x.dtype, device=x.device) >= self.p\n"
              "        return x * keep / (1 - self.p)\n"), "same elements dropped"),
    ("9.2", "normalises with the unbiased variance", _bn(_bn_forward(unbiased=True)), "biased variance"),
    ("9.2", "running_var from the biased variance", _bn(_bn_forward(running_biased=True)), "unbiased"),
    ("9.2", "momentum as the weight of the old value", _bn(_bn_forward(swapped=True)), "new"),
    ("9.2", "batch statistics under no_grad", _bn(_bn_forward(no_grad_stats=True)), "batch statistics"),
    ("9.2", "running statistics updated in eval mode", _bn(_bn_forward(update_in_eval=True)), "eval mode"),
    ("9.2", "num_batches_tracked never counted", _bn(_bn_forward(count=False)), "num_batches_tracked"),
    ("9.2", "running statistics as plain attributes",
     _bn(_bn_forward(), init=_BN_INIT.replace('self.register_buffer("running_mean", torch.zeros(num_features))',
                                              'self.running_mean = torch.zeros(num_features)')
         .replace('self.register_buffer("running_var", torch.ones(num_features))',
                  'self.running_var = torch.ones(num_features)')), "register_buffer"),
    ("9.2", "no ValueError for a training batch of one value per channel", _bn(_bn_forward()), "did not raise"),
    ("9.2", "a batch of one refused in eval mode too",
     _bn("        if x.numel() // x.shape[1] <= 1:\n            raise ValueError(\"more than 1 value per channel\")\n"
         + _bn_forward()), "eval mode"),
    ("9.2", "delegates to F.batch_norm",
     _bn("        return torch.nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, "
         "self.bias, self.training or not self.track_running_stats, 0.1 if self.momentum is None else self.momentum, "
         "self.eps)\n"), "batch_norm"),
    ("9.2", "refuses a training batch of one sample even when it is (1, C, L)",
     _bn("        if (self.training or not self.track_running_stats) and x.shape[0] < 2:\n"
         "            raise ValueError(\"Expected more than 1 value per channel when training\")\n" + _bn_forward()),
     "values per channel"),
    ("9.2", "momentum=0 taken for None (`self.momentum or 1 / count`)",
     _bn("        if (self.training or not self.track_running_stats) and x.numel() // x.shape[1] <= 1:\n"
         "            raise ValueError(\"Expected more than 1 value per channel when training\")\n"
         + _bn_forward().replace("m = 1 / max(float(self.num_batches_tracked), 1.0) if self.momentum is None else "
                                 "self.momentum", "m = self.momentum or 1 / float(self.num_batches_tracked)")),
     "momentum is None"),
]
