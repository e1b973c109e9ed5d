"""Realistic wrong answers to lesson 07_optim (course_pkg/optim.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/optim.py, a word the message must say).
Most replace `sgd_update`, the one-parameter rule that SGD.step calls.
"""
LESSON = "07_optim"
MODULE = "optim"


def _update(body: str) -> str:
    return ("def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):\n"
            + body)


def _ema_update(body: str) -> str:
    return ("class ModelEMA:\n    def __init__(self, model, decay=0.9999, tau=2000):\n"
            "        self.module = copy.deepcopy(model).eval()\n"
            "        for p in self.module.parameters():\n            p.requires_grad_(False)\n"
            "        self.decay, self.tau, self.updates = decay, tau, 0\n\n"
            "    @torch.no_grad()\n    def update(self, model):\n" + body)


WRONG = [
    ("7.1", "weight decay added after momentum", _update("""    d_p = -grad if maximize else grad
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    param.add_(d_p, alpha=-lr)
"""), "after momentum"),
    ("7.1", "the textbook momentum form", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum == 0:
        param.add_(d_p, alpha=-lr)
        return
    v = state.get("velocity")
    v = -lr * d_p if v is None else momentum * v - lr * d_p
    state["velocity"] = v
    state["momentum_buffer"] = v / -lr
    param.add_(v)
"""), "textbook"),
    ("7.1", "dampening applied on the first step", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = (1 - dampening) * d_p
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)
"""), "first step"),
    ("7.1", "Nesterov with the old buffer", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        old = torch.zeros_like(d_p) if buf is None else buf.clone()
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(old, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)
"""), "Nesterov"),
    ("7.1", "maximize flips the update, not the gradient", _update("""    d_p = grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=lr if maximize else -lr)
"""), "maximize"),
    ("7.1", "updates through .data", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.data = param.data - lr * d_p
"""), ".data"),
    ("7.1", "step outside no_grad",
     """_SOLVED_STEP = SGD.step


def _step_with_grad(self, closure=None):
    loss = closure() if closure is not None else None
    for group in self.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                sgd_update(p, p.grad, self.state[p], **{k: group[k] for k in ("lr", "momentum", "dampening",
                           "weight_decay", "nesterov", "maximize")})
    return loss


SGD.step = _step_with_grad
""", "no_grad"),
    ("7.1", "its own copy of the parameter list",
     """class SGD(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError("invalid")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))
        self.groups_at_start = [dict(g) for g in self.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.groups_at_start:
            for p in group["params"]:
                if p.grad is not None:
                    sgd_update(p, p.grad, self.state[p], **{k: group[k] for k in ("lr", "momentum", "dampening",
                               "weight_decay", "nesterov", "maximize")})
""", "param_groups"),
    ("7.1", "momentum kept outside self.state", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = _BUFFERS.get(id(param))
        if buf is None:
            buf = _BUFFERS[id(param)] = d_p.clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)


_BUFFERS = {}
"""), "momentum_buffer"),
    ("7.1", "subclasses torch.optim.SGD",
     "class SGD(torch.optim.SGD):\n    pass\n", "SGD"),
    ("7.1", "delegates to torch's functional sgd under another name",
     """from torch.optim import _functional as _F


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    bufs = [state.get("momentum_buffer")]
    _F.sgd([param], [grad], bufs, weight_decay=weight_decay, momentum=momentum, lr=lr, dampening=dampening,
           nesterov=nesterov, maximize=maximize)
    if momentum != 0:
        state["momentum_buffer"] = bufs[0]
""", "torch's own SGD code"),
    ("7.1", "the momentum buffer is the gradient tensor itself (no copy)", _update("""    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p.add(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)
"""), "gradient tensor itself"),
    ("7.1", "weight decay and maximize applied to p.grad in place (old torch's d_p.add_)", _update("""    d_p = grad
    if maximize:
        d_p.neg_()
    if weight_decay != 0:
        d_p.add_(param, alpha=weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = torch.clone(d_p).detach()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
        d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
    param.add_(d_p, alpha=-lr)
"""), "p.grad"),
    ("7.1", "a default lr of 0.01, not torch's 1e-3",
     """_Solved = SGD


class SGD(_Solved):
    def __init__(self, params, lr=0.01, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize)
""", "defaults"),
    ("7.1", "momentum >= 1 refused (torch allows it)",
     """_Solved = SGD


class SGD(_Solved):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize)
""", "momentum=1.0"),
    ("7.2", "update averages the model it was built from, not the one it is given",
     """class ModelEMA:
    def __init__(self, model, decay=0.9999, tau=2000):
        self.source = model
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = self.source.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                average.copy_(current[name])
""", "the model it is given"),
    ("7.2", "buffers left out of the average", _ema_update("""        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = dict(model.named_parameters())
        for name, average in self.module.named_parameters():
            average.mul_(d).add_(current[name].detach(), alpha=1 - d)
"""), "buffers"),
    ("7.2", "the ramp backwards", _ema_update("""        self.updates += 1
        d = self.decay * math.exp(-self.updates / self.tau)
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                average.copy_(current[name])
"""), "backwards"),
    ("7.2", "the notes' code: integer buffers never updated", _ema_update("""        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            if average.dtype.is_floating_point:
                average.mul_(d).add_(current[name].detach(), alpha=1 - d)
"""), "counts"),
    ("7.2", "integer buffers averaged too (truncated, as AveragedModel does)", _ema_update("""        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            average.copy_((average * d + current[name].detach() * (1 - d)).to(average.dtype))
"""), "counts"),
    ("7.2", "update without torch.no_grad, from model.parameters()", """class ModelEMA:
    def __init__(self, model, decay=0.9999, tau=2000):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        for a, p in zip(self.module.parameters(), model.parameters()):
            a.mul_(d).add_(p, alpha=1 - d)
        for a, b in zip(self.module.buffers(), model.buffers()):
            if a.dtype.is_floating_point:
                a.mul_(d).add_(b, alpha=1 - d)
            else:
                a.copy_(b)
""", "no_grad"),
    ("7.2", "no copy: the average is the model itself",
     """class ModelEMA:
    def __init__(self, model, decay=0.9999, tau=2000):
        self.module, self.decay, self.tau, self.updates = model, decay, tau, 0

    def update(self, model):
        self.updates += 1
""", "deepcopy"),
]
