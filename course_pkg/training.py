"""Lesson 08 — the training loop and its loss curves (lessons/08_training/08_training.ipynb).

The grader runs your loop beside a reference loop on the same seeded data, model and optimizer (a
model with Dropout, SGD with momentum, a cross-entropy loss, a dataset whose size is not a multiple
of the batch size) and compares every loss and the final weights. Your functions must work with
torch's optimizers and layers as well as with yours from lessons 06–07. Run a model by calling it,
`model(inputs)`, never `model.forward(inputs)`: only the call runs the module's hooks, and the
grader watches every forward pass through one.
"""
import torch
from torch.utils.data import DataLoader


def make_loader(dataset, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    """Exercise 8.1 — a DataLoader whose shuffling is reproducible and touches nobody else's randomness.

    Give the loader its own `torch.Generator` seeded with `seed`: two loaders made with the same seed
    yield the same batches in the same order, and iterating one leaves the global RNG
    (`torch.manual_seed`) alone, so dropout and initialisation elsewhere are unaffected. Keep the
    last, smaller batch (`drop_last=False`).
    """
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
    ### END SOLUTION


def train_one_epoch(model, loader, loss_fn, optimizer) -> list:
    """Exercise 8.2 — one epoch of training: the list of per-batch losses (Python floats).

    Put the model in training mode, then for each batch: zero the gradients, forward, the loss as
    `loss_fn(output, target)` (torch's order: input first), backward, optimizer step.
    """
    ### BEGIN SOLUTION
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


def evaluate(model, loader, loss_fn) -> float:
    """Exercise 8.3 — the mean loss over every example of the loader (a Python float).

    `loss_fn` returns a batch's mean, so weight each batch's loss by its size: a small last batch
    must not count as much as a full one. Compute in eval mode (Dropout off, BatchNorm on its
    running statistics) and under `torch.no_grad()` (no graph is built), and leave the model in the
    mode it was in before: train stays train, eval stays eval.
    """
    ### BEGIN SOLUTION
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for inputs, targets in loader:
                total += loss_fn(model(inputs), targets).item() * len(inputs)
                count += len(inputs)
    finally:
        model.train(was_training)
    return total / count
    ### END SOLUTION


def fit(model, train_loader, test_loader, loss_fn, optimizer, epochs: int) -> dict:
    """Exercise 8.4 — train for `epochs` epochs; return the history of the run as a dict of lists:

    - "train_loss": every training batch's loss, in order;
    - "examples_seen": after each of those batches, the number of training examples seen so far
      (the x-axis of a loss curve: comparable across batch sizes, unlike a batch count);
    - "test_loss": after each epoch, `evaluate(model, test_loader, loss_fn)`;
    - "epoch_examples": after each epoch, the number of training examples seen so far.
    Iterate each loader once per epoch (iterating a shuffling loader draws its next order). You
    may call your train_one_epoch and evaluate; leave the model in training mode at the end.
    """
    ### BEGIN SOLUTION
    # Written out here rather than through train_one_epoch / evaluate, so that this exercise is
    # graded on its own (a mistake in 8.2 or 8.3 would otherwise cost 8.4 too).
    history = {"train_loss": [], "examples_seen": [], "test_loss": [], "epoch_examples": []}
    seen = 0
    for _ in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            seen += len(inputs)
            history["train_loss"].append(loss.item())
            history["examples_seen"].append(seen)
        model.eval()
        total = 0.0
        with torch.no_grad():
            for inputs, targets in test_loader:
                total += loss_fn(model(inputs), targets).item() * len(inputs)
        history["test_loss"].append(total / len(test_loader.dataset))
        history["epoch_examples"].append(seen)
    model.train()
    return history
    ### END SOLUTION


def plot_history(history: dict, reference: dict = None):
    """Exercise 8.5 — the loss curves of a history from fit(), as a matplotlib Figure.

    One Axes: the training loss per batch against examples seen (a line labelled "train"), and the
    test loss per epoch against examples seen (a line with markers labelled "test"). With a
    `reference` history, draw its two curves too, labelled "reference train" and "reference test".
    Label the x-axis "examples seen" and the y-axis "loss", add a legend, and return the Figure
    (do not call plt.show(): the notebook shows it). The grader reads the lines' data, not pixels.
    """
    ### BEGIN SOLUTION
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    curves = [("", history)] + ([("reference ", reference)] if reference is not None else [])
    for prefix, h in curves:
        style = {"alpha": 0.5, "linestyle": "--"} if prefix else {}
        ax.plot(h["examples_seen"], h["train_loss"], label=f"{prefix}train", **style)
        ax.plot(h["epoch_examples"], h["test_loss"], marker="o", label=f"{prefix}test", **style)
    ax.set_xlabel("examples seen")
    ax.set_ylabel("loss")
    ax.legend()
    return fig
    ### END SOLUTION
