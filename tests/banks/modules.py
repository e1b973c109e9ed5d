"""Realistic wrong answers to lesson 06_modules (course_pkg/modules.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/modules.py, a word the message must say).
"""
LESSON = "06_modules"
MODULE = "modules"

_LINEAR_FORWARD = """
    def forward(self, x):
        return x @ self.weight.T + self.bias if self.bias is not None else x @ self.weight.T
"""


def _linear(init: str, forward: str = _LINEAR_FORWARD) -> str:
    return ("class Linear(nn.Module):\n    def __init__(self, in_features, out_features, bias=True):\n"
            "        super().__init__()\n" + init + forward)


def _running(body: str) -> str:
    return ("class RunningMean(nn.Module):\n    def __init__(self, num_features, momentum=0.1):\n"
            "        super().__init__()\n        self.momentum = momentum\n" + body)


_RUNNING_FORWARD = """
    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        mean = x.mean(dim=0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
        return x - mean
"""

WRONG = [
    ("6.1", "W @ x layout: weight stored (in, out)",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
""", "\n    def forward(self, x):\n        y = x @ self.weight\n        return y + self.bias if self.bias is not None else y\n"),
     "(out_features, in_features)"),
    ("6.1", "init bound from out_features",
     _linear("""        b = 1 / math.sqrt(out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
"""), "1/√in_features"),
    ("6.1", "bias drawn before the weight",
     _linear("""        b = 1 / math.sqrt(in_features)
        bias_values = torch.empty(out_features).uniform_(-b, b)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(bias_values) if bias else None
"""), "weight first"),
    ("6.1", "plain tensors, not Parameters",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.weight = torch.empty(out_features, in_features).uniform_(-b, b).requires_grad_()
        self.bias = torch.empty(out_features).uniform_(-b, b).requires_grad_() if bias else None
"""), "nn.Parameter"),
    ("6.1", "delegates to F.linear",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
""", "\n    def forward(self, x):\n        return torch.nn.functional.linear(x, self.weight, self.bias)\n"), "linear"),
    ("6.1", "the bias folded into the weight at the first forward",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.in_features = in_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
""", """
    def forward(self, x):
        if self.bias is not None:
            with torch.no_grad():
                folded = torch.cat([self.weight, self.bias[:, None]], dim=1)
            self.weight = nn.Parameter(folded)
            self.bias = None
        if self.weight.shape[1] == self.in_features + 1:
            x = torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], dim=-1)
        return x @ self.weight.T
"""), "changed during forward"),
    ("6.1", "in_features / out_features never stored",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
"""), "in_features"),
    ("6.2", "the statistic as a plain attribute",
     _running("        self.running_mean = torch.zeros(num_features)\n" + _RUNNING_FORWARD), "register_buffer"),
    ("6.2", "the statistic as an nn.Parameter",
     _running("        self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)\n"
              + _RUNNING_FORWARD), "parameters()"),
    ("6.2", "updates in eval mode too",
     _running("""        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(x.mean(dim=0), alpha=self.momentum)
        return x - (x.mean(dim=0) if self.training else self.running_mean)
"""), "eval mode"),
    ("6.2", "momentum weighs the old statistic",
     _running("""        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        mean = x.mean(dim=0)
        with torch.no_grad():
            self.running_mean.mul_(self.momentum).add_(mean, alpha=1 - self.momentum)
        return x - mean
"""), "momentum"),
    ("6.2", "batch mean detached in training",
     _running("""        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        mean = x.mean(dim=0).detach()
        self.running_mean.mul_(1 - self.momentum).add_(mean, alpha=self.momentum)
        return x - mean
"""), "detached"),
    ("6.3", "layers in a plain Python list",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == 0 else layer(self.act(x))
        return x
""", "plain Python list"),
    ("6.3", "an activation after the last layer",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(activation)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)
        self.final = ACTIVATIONS[activation]()

    def forward(self, x):
        return self.final(self.layers(x))
""", "last Linear"),
    ("6.3", "activations as functions: keys layers.0, layers.1",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(activation)
        self.layers = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.act = ACTIVATIONS[activation]()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x if i == 0 else self.act(x))
        return x
""", "activations are modules"),
    ("6.4", "module.requires_grad = False freezes nothing",
     """def freeze_all_but(model, names):
    for name, module in model.named_modules():
        module.requires_grad = name in names
""", "plain attribute"),
    ("6.4", "names matched by prefix",
     """def freeze_all_but(model, names):
    for n in names:
        model.get_submodule(n)
    for name, p in model.named_parameters():
        p.requires_grad_(any(name.startswith(n) for n in names))
""", "prefix"),
    ("6.4", "only freezes; never unfreezes",
     """def freeze_all_but(model, names):
    keep = {id(p) for n in names for p in model.get_submodule(n).parameters()}
    for p in model.parameters():
        if id(p) not in keep:
            p.requires_grad_(False)
""", "frozen before"),
    ("6.4", "only the named module's own parameters (recurse=False) switched on",
     """def freeze_all_but(model, names):
    modules = [model.get_submodule(n) for n in names]
    keep = {id(p) for m in modules for p in m.parameters(recurse=False)}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
""", "sub-modules"),
    ("6.4", "everything frozen before the names are looked up",
     """def freeze_all_but(model, names):
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
""", "leave the model as it was"),
    ("6.4", "each name looked up as its parameters are switched on",
     """def freeze_all_but(model, names):
    keep = set()
    for name in names:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
            keep.add(id(p))
    for p in model.parameters():
        if id(p) not in keep:
            p.requires_grad_(False)
""", "leave the model as it was"),
    ("6.5", "optimizer state not saved",
     """def save_checkpoint(path, model, optimizer, epoch):
    torch.save({"model": model.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, model, optimizer, map_location=None):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    return checkpoint["epoch"]
""", "momentum"),
    ("6.5", "loads with weights_only=False",
     """def load_checkpoint(path, model, optimizer, map_location=None):
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
""", "weights_only"),
    ("6.5", "map_location ignored",
     """def load_checkpoint(path, model, optimizer, map_location=None):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
""", "map_location"),
    ("6.5", "only the parameters restored: BatchNorm's running statistics lost",
     """def load_checkpoint(path, model, optimizer, map_location=None):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(checkpoint["model"][name])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
""", "buffers"),
    ("6.5", "load_checkpoint switches the model to eval mode after loading",
     """def load_checkpoint(path, model, optimizer, map_location=None):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    model.eval()
    return checkpoint["epoch"]
""", "eval mode"),
    ("6.1", "forward with x.mm: only a 2-D batch works",
     _linear("""        b = 1 / math.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-b, b)) if bias else None
""", "\n    def forward(self, x):\n        y = x.mm(self.weight.t())\n        return y if self.bias is None else y + self.bias\n"),
     "matrix"),
    ("6.3", "an unknown activation looked up only when a hidden layer needs one",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        name = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}.get(activation, activation)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(getattr(nn, name)())
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
""", "did not raise"),
]

RIGHT = [
    ("6.1", "nn.Linear's own init calls (kaiming_uniform_ with a=√5), forward through torch.matmul",
     _linear("""        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            nn.init.uniform_(self.bias, -1 / math.sqrt(in_features), 1 / math.sqrt(in_features))
""", "\n    def forward(self, x):\n        y = torch.matmul(x, self.weight.t())\n        return y if self.bias is None else y + self.bias\n")),
    ("6.2", "the buffer reassigned each step (a registered name stays a buffer)",
     _running("""        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            mean = x.mean(dim=0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean.detach()
            return x - mean
        return x - self.running_mean
""")),
    ("6.3", "one activation module shared by every position of the Sequential",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(activation)
        act = ACTIVATIONS[activation]()
        layers = [nn.Linear(sizes[0], sizes[1])]
        for a, b in zip(sizes[1:-1], sizes[2:]):
            layers += [act, nn.Linear(a, b)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
"""),
    ("6.3", "the lesson's own Linear, all built first, then interleaved with activations",
     """class MLP(nn.Module):
    def __init__(self, sizes, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(activation)
        linears = [Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        layers = [linears[0]]
        for linear in linears[1:]:
            layers += [ACTIVATIONS[activation](), linear]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
"""),
    ("6.4", "whole dotted names matched with a trailing dot, names checked first",
     """def freeze_all_but(model, names):
    known = dict(model.named_modules())
    for n in names:
        if n not in known:
            raise KeyError(n)
    for name, p in model.named_parameters():
        p.requires_grad = any(name.startswith(n + ".") for n in names)
"""),
    ("6.4", "model.requires_grad_(False), then module.requires_grad_(True)",
     """def freeze_all_but(model, names):
    keep = [model.get_submodule(n) for n in names]
    model.requires_grad_(False)
    for module in keep:
        module.requires_grad_(True)
"""),
]
