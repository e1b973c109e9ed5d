"""Lesson 10 — capstone: a conv net trained end to end with your own parts (lessons/10_capstone/10_capstone.ipynb).

Everything you built meets on a real dataset: scikit-learn's handwritten digits (1,797 images of
8×8 pixels, shipped with the package). The same network is built twice from one seed, from your
parts (BatchNorm, Dropout, SGD, EMA) and from torch's, and the grader checks that with dropout off
the two are the same computation, step for step; that with dropout on they are again once torch's
applies the masks your dropout drew; and that with dropout on yours learns as well.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, TensorDataset

from course_pkg.modes import BatchNorm1d, Dropout
from course_pkg.optim import SGD, ModelEMA

# The pipeline's settings: the grader's reference uses the same ones.
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 1e-4
EMA_DECAY, EMA_TAU = 0.99, 20
BATCH_SIZE, TEST_SIZE = 64, 360


def digits_data():
    """scikit-learn's digits as tensors: images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16   # pixels are 0 … 16
    return images, torch.tensor(digits.target, dtype=torch.int64)


def split_loaders(images, labels, seed: int, batch_size: int = BATCH_SIZE, test_size: int = TEST_SIZE):
    """Exercise 10.1 — a seeded train / test split, wrapped in DataLoaders: (train_loader, test_loader).

    Draw one permutation of the examples with `torch.randperm` from a `torch.Generator` seeded
    with `seed` (not the global RNG: splitting must not change what dropout or initialisation
    draw later). Its first `test_size` indices are the test set, the rest the training set, each
    in the permutation's order. The training loader shuffles with its own generator, also seeded
    with `seed` (as your lesson-08 `make_loader` does); the test loader does not shuffle, but give
    it a generator seeded with `seed` too: a DataLoader without one draws a seed from the global RNG
    every time it is iterated, shuffling or not. Both use `batch_size` and keep the last, smaller batch.
    """
    ### BEGIN SOLUTION
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    test, train = order[:test_size], order[test_size:]
    train_loader = DataLoader(TensorDataset(images[train], labels[train]), batch_size=batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    test_loader = DataLoader(TensorDataset(images[test], labels[test]), batch_size=batch_size,
                             generator=torch.Generator().manual_seed(seed))
    return train_loader, test_loader
    ### END SOLUTION


class BatchNorm2d(BatchNorm1d):
    """Exercise 10.2 — `nn.BatchNorm2d` from your lesson-09 `BatchNorm1d`: input (N, C, H, W).

    BatchNorm2d normalises each channel over N, H and W, which is exactly what your BatchNorm1d
    does for an (N, C, L) input with L = H·W. So subclass it (same arguments, parameters and
    buffers: its `state_dict()` loads into `nn.BatchNorm2d` and back) and only reshape in
    `forward`: (N, C, H, W) → (N, C, H·W) → your BatchNorm1d → back to (N, C, H, W).
    `nn.BatchNorm*` and `torch.nn.functional.batch_norm` stay forbidden.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        n, c, h, w = x.shape
        return super().forward(x.reshape(n, c, h * w)).reshape(n, c, h, w)
        ### END SOLUTION


def ramp_average(decay: float = EMA_DECAY, tau: float = EMA_TAU):
    """Your ModelEMA's rule as an `avg_fn` for torch's `AveragedModel` (given, not an exercise).

    AveragedModel calls avg_fn(average, current, n) with n updates done so far (its first update
    copies the model, as your ModelEMA starts from a copy): n plays the role of ModelEMA's t.
    Integer buffers (BatchNorm's `num_batches_tracked`) are copied, as ModelEMA does.
    """
    def avg_fn(average, current, n):
        if not average.is_floating_point():
            return current
        d = decay * (1 - math.exp(-float(n) / tau))
        return average * d + current * (1 - d)
    return avg_fn


def update_ema(ema, model) -> None:
    """One EMA update, whichever EMA the pipeline holds (given): AveragedModel names it update_parameters."""
    if isinstance(ema, AveragedModel):
        ema.update_parameters(model)
    else:
        ema.update(model)


class DigitsNet(nn.Module):
    """Exercise 10.3, part one — the notes' conv net, adapted to 8×8 digits.

    `DigitsNet(batch_norm, dropout_layer, dropout)`: `batch_norm` and `dropout_layer` are classes
    (yours, or `nn.BatchNorm2d` and `nn.Dropout`). Create the layers in this order and under these
    names (initialisation draws from the global RNG in creation order, and the grader compares
    your weights with torch's net built from the same seed):
    - `conv1` = Conv2d(1, 16, 3, padding=1, bias=False), `bn1` = batch_norm(16)
    - `conv2` = Conv2d(16, 32, 3, padding=1, bias=False), `bn2` = batch_norm(32)
    - `dropout` = dropout_layer(dropout), `fc` = Linear(32 · 2 · 2, 10)
    forward: conv1 → bn1 → relu → 2×2 max-pool (8×8 → 4×4), conv2 → bn2 → relu → 2×2 max-pool
    (→ 2×2), flatten, dropout, fc: the logits (N, 10). (No conv bias: BatchNorm subtracts the
    mean right after, which would cancel it.)
    """

    def __init__(self, batch_norm=BatchNorm2d, dropout_layer=Dropout, dropout: float = 0.25):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = batch_norm(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = batch_norm(32)
        self.dropout = dropout_layer(dropout)
        self.fc = nn.Linear(32 * 2 * 2, 10)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.dropout(x.flatten(1)))
        ### END SOLUTION


def build_pipeline(seed: int, *, use_torch: bool = False, dropout: float = 0.25):
    """Exercise 10.3 — (model, optimizer, ema), built after `torch.manual_seed(seed)`.

    - `use_torch=False`, your parts: `DigitsNet(BatchNorm2d, Dropout, dropout)` with the
      BatchNorm2d above and your lesson-09 Dropout; your lesson-07 `SGD` over all its parameters
      with lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY; your `ModelEMA(model, EMA_DECAY, EMA_TAU)`.
    - `use_torch=True`, torch's: `DigitsNet(nn.BatchNorm2d, nn.Dropout, dropout)`,
      `torch.optim.SGD` with the same settings, and `AveragedModel(model, avg_fn=ramp_average(),
      use_buffers=True)` given one `update_parameters(model)` at once (its first update copies).
    Everything from the seed on is the same in both: the same seed gives the same weights.
    Without `use_torch`, torch's optimizer, BatchNorm, Dropout and AveragedModel must not be used.
    """
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    if use_torch:
        model = DigitsNet(nn.BatchNorm2d, nn.Dropout, dropout)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        ema = AveragedModel(model, avg_fn=ramp_average(), use_buffers=True)
        ema.update_parameters(model)
    else:
        model = DigitsNet(BatchNorm2d, Dropout, dropout)
        optimizer = SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        ema = ModelEMA(model, EMA_DECAY, EMA_TAU)
    return model, optimizer, ema
    ### END SOLUTION


def train(pipeline, loaders, epochs: int) -> dict:
    """Exercise 10.4 — the lesson-08 loop with an EMA: train for `epochs`; return the history.

    `pipeline` = (model, optimizer, ema) from build_pipeline, `loaders` = (train_loader, test_loader).
    Each training batch: training mode, zero the gradients, forward, `F.cross_entropy(logits,
    labels)`, backward, step, then `update_ema(ema, model)` (after the step: the average follows
    the weights the step made). After each epoch evaluate both the model and `ema.module`, each in
    eval mode and without a graph, on the whole test loader. The history, a dict of lists:
    - "train_loss", "examples_seen": per training batch, its loss (a float) and the number of
      training examples seen so far (so your lesson-08 `plot_history` draws it);
    - per epoch: "epoch_examples" (examples seen so far), "test_loss" (the mean over test
      *examples*), "test_accuracy" (the fraction of test examples whose largest logit is the
      label), and "ema_test_loss", "ema_test_accuracy", the same for `ema.module`.
    Leave the model in training mode at the end. Run each net by calling it, `net(images)`, not
    `net.forward(images)`: the grader watches the forward passes through the nets' hooks, which only
    a call runs.
    """
    ### BEGIN SOLUTION
    model, optimizer, ema = pipeline
    train_loader, test_loader = loaders
    keys = ("train_loss", "examples_seen", "epoch_examples", "test_loss", "test_accuracy", "ema_test_loss",
            "ema_test_accuracy")
    history = {key: [] for key in keys}
    seen = 0
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            update_ema(ema, model)
            seen += len(images)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        history["epoch_examples"].append(seen)
        for prefix, net in (("", model), ("ema_", ema.module)):
            loss, accuracy = _test(net, test_loader)
            history[prefix + "test_loss"].append(loss)
            history[prefix + "test_accuracy"].append(accuracy)
    model.train()
    return history


def _test(net, loader):
    net.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits = net(images)
            total += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            count += len(labels)
    return total / count, correct / count
    ### END SOLUTION
