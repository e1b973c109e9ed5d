"""Realistic wrong answers to lesson 10_capstone (course_pkg/capstone.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/capstone.py, a word the message must say,
and for a broken BatchNorm2d the exercise that trains it too: 10.3 builds the pipeline from it).
Among them the pipelines the capstone's issue names: the EMA updated before the step or tested in
training mode, BatchNorm left in training mode at test time, dropout off while training, dropout in
eval (a Dropout left on, or one made in forward), no zero_grad, momentum in the textbook form, the test
loss averaged per batch, the wrong split seed. A Dropout written in capstone.py stands for one broken
in lesson 09: the pipeline is built from it.
"""
LESSON = "10_capstone"
MODULE = "capstone"


def _split(order="torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))",
           test="order[:test_size]", train="order[test_size:]", test_generator=True, extra="") -> str:
    generator = ", generator=torch.Generator().manual_seed(seed)" if test_generator else ""
    return f"""def split_loaders(images, labels, seed, batch_size=64, test_size=360):
{extra}    order = {order}
    test, train = {test}, {train}
    train_loader = DataLoader(TensorDataset(images[train], labels[train]), batch_size=batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    test_loader = DataLoader(TensorDataset(images[test], labels[test]), batch_size=batch_size{generator})
    return train_loader, test_loader
"""


def _bn2d(forward: str, base: str = "BatchNorm1d") -> str:
    return f"class BatchNorm2d({base}):\n    def forward(self, x):\n{forward}"


def _net(init: str = "", forward: str = "") -> str:
    init = init or """        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = batch_norm(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = batch_norm(32)
        self.dropout = dropout_layer(dropout)
        self.fc = nn.Linear(32 * 2 * 2, 10)
"""
    forward = forward or """        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.dropout(x.flatten(1)))
"""
    return ("class DigitsNet(nn.Module):\n    def __init__(self, batch_norm=BatchNorm2d, dropout_layer=Dropout, "
            "dropout=0.25):\n        super().__init__()\n" + init + "\n    def forward(self, x):\n" + forward)


def _dropout(forward: str) -> str:
    """A Dropout written in capstone.py (it shadows lesson 09's): build_pipeline's default parts use it."""
    return ("class Dropout(nn.Module):\n    def __init__(self, p=0.5):\n        super().__init__()\n"
            "        self.p = p\n\n    def forward(self, x):\n" + forward)


def _pipeline(seed_line="    torch.manual_seed(seed)\n", yours="DigitsNet(BatchNorm2d, Dropout, dropout)",
              optimizer="SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)",
              ema="ModelEMA(model, EMA_DECAY, EMA_TAU)", before="",
              torch_ema="""ema = AveragedModel(model, avg_fn=ramp_average(), use_buffers=True)
        ema.update_parameters(model)
""") -> str:
    return before + f"""def build_pipeline(seed, *, use_torch=False, dropout=0.25):
{seed_line}    if use_torch:
        model = DigitsNet(nn.BatchNorm2d, nn.Dropout, dropout)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        {torch_ema}        return model, optimizer, ema
    model = {yours}
    return model, {optimizer}, {ema}
"""


_TEXTBOOK_SGD = """class TextbookSGD(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum=0, weight_decay=0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, dampening=0,
                                      nesterov=False, maximize=False))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                v = self.state[p].setdefault("velocity", torch.zeros_like(p))
                v.mul_(group["momentum"]).sub_(group["lr"] * g)     # v = mu v - lr g; p += v
                p.add_(v)

"""


def _train(*, zero_grad=True, ema_first=False, model_eval=True, ema_eval=True, per_example=True, each_epoch=True,
           no_grad=True) -> str:
    zero = "            optimizer.zero_grad()\n" if zero_grad else ""
    first = "            update_ema(ema, model)\n" if ema_first else ""
    after = "" if ema_first else "            update_ema(ema, model)\n"
    loss = ("total += F.cross_entropy(logits, labels, reduction='sum').item()" if per_example
            else "total += F.cross_entropy(logits, labels).item()")
    divide = "count" if per_example else "batches"
    context = "torch.no_grad()" if no_grad else "torch.enable_grad()"
    return f"""def _evaluate(net, loader, use_eval):
    if use_eval:
        net.eval()
    total, correct, count, batches = 0.0, 0, 0, 0
    with {context}:
        for images, labels in loader:
            logits = net(images)
            {loss}
            correct += (logits.argmax(1) == labels).sum().item()
            count += len(labels)
            batches += 1
    return total / {divide}, correct / count


def train(pipeline, loaders, epochs):
    model, optimizer, ema = pipeline
    train_loader, test_loader = loaders
    history = {{k: [] for k in ("train_loss", "examples_seen", "epoch_examples", "test_loss", "test_accuracy",
                                "ema_test_loss", "ema_test_accuracy")}}
    seen = 0
    model.train()
    for _ in range(epochs):
        {"model.train()" if each_epoch else "pass"}
        for images, labels in train_loader:
{zero}{first}            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
{after}            seen += len(images)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        history["epoch_examples"].append(seen)
        for prefix, net, use_eval in (("", model, {model_eval}), ("ema_", ema.module, {ema_eval})):
            loss_, accuracy = _evaluate(net, test_loader, use_eval)
            history[prefix + "test_loss"].append(loss_)
            history[prefix + "test_accuracy"].append(accuracy)
    model.train()
    return history
"""


WRONG = [
    ("10.1", "the wrong split seed", _split(order="torch.randperm(len(images), generator=torch.Generator().manual_seed(0))"),
     "randperm"),
    ("10.1", "the test set from the end of the permutation", _split(test="order[-test_size:]", train="order[:-test_size]"),
     "first"),
    ("10.1", "the permutation drawn from the global RNG",
     _split(order="torch.randperm(len(images))", extra="    torch.manual_seed(seed)\n"), "global RNG"),
    ("10.1", "a test loader without its own generator", _split(test_generator=False), "generator"),
    ("10.1", "scikit-learn's train_test_split",
     """def split_loaders(images, labels, seed, batch_size=64, test_size=360):
    from sklearn.model_selection import train_test_split
    train, test = train_test_split(torch.arange(len(images)), test_size=test_size, random_state=seed)
    return (DataLoader(TensorDataset(images[train], labels[train]), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed)),
            DataLoader(TensorDataset(images[test], labels[test]), batch_size=batch_size,
                       generator=torch.Generator().manual_seed(seed)))
""", "randperm"),
    ("10.1", "one generator shared by the two loaders (iterating the test loader moves the training order)",
     _split(test_generator=False).replace(
         "shuffle=True,\n                              generator=torch.Generator().manual_seed(seed))",
         "shuffle=True,\n                              generator=shared)").replace(
         "batch_size=batch_size)\n", "batch_size=batch_size, generator=shared)\n").replace(
         "    test, train =", "    shared = torch.Generator().manual_seed(seed)\n    test, train ="),
     "share one generator"),
    ("10.2", "channels-last values read as (N, C, H·W)",
     _bn2d("        n, c, h, w = x.shape\n"
           "        flat = x.permute(0, 2, 3, 1).reshape(n, c, h * w)\n"
           "        return super().forward(flat).reshape(n, h, w, c).permute(0, 3, 1, 2)\n"),
     "per channel", ("10.3",)),
    ("10.2", "statistics per image as well as per channel",
     _bn2d("        n, c, h, w = x.shape\n"
           "        out = torch.cat([super(BatchNorm2d, self).forward(x[i:i + 1].reshape(1, c, h * w)) for i in range(n)])\n"
           "        return out.reshape(n, c, h, w)\n"), "per channel", ("10.3",)),
    ("10.2", "its own arithmetic, with torch's default eps and momentum written in",
     _bn2d("""        if self.training:
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
            with torch.no_grad():
                m = x.numel() / x.shape[1]
                self.num_batches_tracked += 1
                self.running_mean.mul_(0.9).add_(0.1 * mean)
                self.running_var.mul_(0.9).add_(0.1 * var * m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
        return x * self.weight[None, :, None, None] + self.bias[None, :, None, None]
"""), "own eps and momentum"),
    ("10.2", "wraps torch's BatchNorm2d",
     "class BatchNorm2d(nn.Module):\n    def __init__(self, num_features):\n        super().__init__()\n"
     "        self.inner = nn.BatchNorm2d(num_features)\n\n    def forward(self, x):\n        return self.inner(x)\n",
     "not to use", ("10.3",)),
    ("10.3", "a conv bias before BatchNorm",
     _net(init="""        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = batch_norm(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = batch_norm(32)
        self.dropout = dropout_layer(dropout)
        self.fc = nn.Linear(32 * 2 * 2, 10)
"""), "unexpected"),
    ("10.3", "layers created in another order",
     _net(init="""        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.fc = nn.Linear(32 * 2 * 2, 10)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn1 = batch_norm(16)
        self.bn2 = batch_norm(32)
        self.dropout = dropout_layer(dropout)
"""), "creation order"),
    ("10.3", "no seed in build_pipeline", _pipeline(seed_line=""), "manual_seed"),
    ("10.3", "use_torch=True: the dropout argument not passed on (DigitsNet's default)",
     _pipeline().replace("DigitsNet(nn.BatchNorm2d, nn.Dropout, dropout)", "DigitsNet(nn.BatchNorm2d, nn.Dropout)"),
     "Dropout probabilities"),
    ("10.3", "torch's Dropout in your pipeline", _pipeline(yours="DigitsNet(BatchNorm2d, nn.Dropout, dropout)"),
     "Dropout"),
    ("10.3", "momentum in the textbook form (v = μv − lr·g; p += v)",
     _pipeline(optimizer="TextbookSGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)",
               before=_TEXTBOOK_SGD), "textbook"),
    ("10.3", "no weight decay", _pipeline(optimizer="SGD(model.parameters(), lr=LR, momentum=MOMENTUM)"),
     "weight_decay"),
    ("10.3", "an EMA without the warm-up ramp's tau", _pipeline(ema="ModelEMA(model, EMA_DECAY)"), "ModelEMA"),
    ("10.3", "a ModelEMA that averages the parameters only (its BatchNorm running statistics stay 0 / 1)",
     """import copy as _copy


class ModelEMA:
    def __init__(self, model, decay=0.9999, tau=2000):
        self.module = _copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        for average, current in zip(self.module.parameters(), model.parameters()):
            average.mul_(d).add_(current.detach(), alpha=1 - d)
""", "running statistics"),
    ("10.3", "use_torch=True: AveragedModel's default equal-weight average, and no first update",
     _pipeline(torch_ema="ema = AveragedModel(model)\n"), "update_parameters"),
    ("10.3", "use_torch=True: AveragedModel's default equal-weight average",
     _pipeline(torch_ema="ema = AveragedModel(model, use_buffers=True)\n        ema.update_parameters(model)\n"),
     "avg_fn=ramp_average()"),
    ("10.3", "use_torch=True: AveragedModel without use_buffers=True (the running statistics copied, not averaged)",
     _pipeline(torch_ema="ema = AveragedModel(model, avg_fn=ramp_average())\n        ema.update_parameters(model)\n"),
     "use_buffers=True"),
    ("10.3", "dropout created in forward (a new module is in training mode: on in eval)",
     _net(forward="""        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(Dropout(self.dropout.p)(x.flatten(1)))
"""), "never ran while training"),
    ("10.3", "dropout before the second conv block",
     _net(forward="""        x = self.dropout(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(x.flatten(1))
"""), "(N, 128)"),
    ("10.3", "dropout on half of each batch",
     _net(forward="""        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2).flatten(1)
        half = len(x) // 2
        return self.fc(torch.cat([self.dropout(x[:half]), x[half:]]))
"""), "batches"),
    ("10.3", "dropout's output not given to fc",
     _net(forward="""        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2).flatten(1)
        self.dropout(x)
        return self.fc(x)
"""), "dropout's output"),
    ("10.3", "a Dropout that does not scale what it keeps",
     _dropout("        if not self.training:\n            return x\n        return x * (torch.rand_like(x) >= self.p)\n"),
     "1 / (1 - p)"),
    ("10.3", "a Dropout left on in eval mode",
     _dropout("        return x * (torch.rand_like(x) >= self.p) / (1 - self.p)\n"), "eval mode"),
    ("10.3", "a Dropout with one mask for the whole batch",
     _dropout("        if not self.training:\n            return x\n"
              "        return x * (torch.rand(1, x.shape[1], dtype=x.dtype) >= self.p) / (1 - self.p)\n"), "whole batch"),
    ("10.3", "a Dropout that keeps a fraction p instead of dropping it",
     _dropout("        if not self.training or self.p == 0:\n            return x\n"
              "        return x * (torch.rand_like(x) < self.p) / (1 - self.p)\n"), "% of the features"),
    ("10.3", "a Dropout right in float64 but wrong in float32 (keeps p, unscaled): only the accuracy run uses float32",
     """class _Float32Dropout(Dropout):
    def forward(self, x):
        if x.dtype == torch.float32 and self.training and self.p > 0:
            return x * (torch.rand_like(x) < self.p)
        return super().forward(x)


""" + _pipeline(yours="DigitsNet(BatchNorm2d, _Float32Dropout, dropout)"), "float32 run"),
    ("10.3", "a Dropout whose gradient skips the mask",
     _dropout("        if not self.training:\n            return x\n"
              "        mask = (torch.rand_like(x) >= self.p) / (1 - self.p)\n"
              "        return x.detach() * mask + (x - x.detach())\n"), "gradient through your dropout"),
    ("10.4", "the EMA updated before the step", _train(ema_first=True), "before optimizer.step"),
    ("10.4", "the EMA tested in training mode", _train(ema_eval=False), "ema.module.eval()"),
    ("10.4", "BatchNorm left in training mode at test time", _train(model_eval=False), "model.eval()"),
    ("10.4", "dropout off while training (no model.train() after testing)", _train(each_epoch=False),
     "model.train()"),
    ("10.4", "AveragedModel's update_parameters called, not update_ema (a ModelEMA has update)",
     _train().replace("            update_ema(ema, model)\n", "            ema.update_parameters(model)\n"), "update_ema"),
    ("10.4", "the EMA evaluated as ema (AveragedModel's wrapper), not ema.module",
     _train().replace('("ema_", ema.module, True)', '("ema_", ema, True)'), "ema.module"),
    ("10.4", "no zero_grad", _train(zero_grad=False), "zero_grad"),
    ("10.4", "the test loss averaged per batch", _train(per_example=False), "smaller test batch"),
    ("10.4", "tested with autograd recording", _train(no_grad=False), "no_grad"),
]


# Correct but unusual: each must keep every point of its exercise.
RIGHT = [
    ("10.3", "a Dropout that works in place (its input is recorded before it runs)",
     _dropout("        if not self.training:\n            return x\n"
              "        return x.mul_((torch.rand_like(x) >= self.p) / (1 - self.p))\n")),
    ("10.3", "a Dropout drawing its mask with torch.bernoulli",
     _dropout("        if not self.training:\n            return x\n"
              "        return x * torch.bernoulli(torch.full_like(x, 1 - self.p)) / (1 - self.p)\n")),
]
