"""Realistic wrong answers to lesson 08_training (course_pkg/training.py): each loses exactly its exercise.

Rows: (exercise, what the mistake is, source appended to course_pkg/training.py, a word the message must say).
"""
LESSON = "08_training"
MODULE = "training"

_TRAIN = """def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
"""

_EVALUATE = """def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            total += loss_fn(model(inputs), targets).item() * len(inputs)
            count += len(inputs)
    model.train(was_training)
    return total / count
"""

_FIT = """def fit(model, train_loader, test_loader, loss_fn, optimizer, epochs):
    history = {"train_loss": [], "examples_seen": [], "test_loss": [], "epoch_examples": []}
    seen = 0
    for _ in range(epochs):
        model.train()
        for batch, (inputs, targets) in enumerate(train_loader):
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
"""

_PLOT = """def plot_history(history, reference=None):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    for prefix, h in [("", history)] + ([("reference ", reference)] if reference is not None else []):
        ax.plot(h["examples_seen"], h["train_loss"], label=prefix + "train")
        ax.plot(h["epoch_examples"], h["test_loss"], marker="o", label=prefix + "test")
    ax.set_xlabel("examples seen")
    ax.set_ylabel("loss")
    ax.legend()
    return fig
"""


def _change(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


WRONG = [
    ("8.1", "shuffles with the global RNG",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)\n", "global random stream"),
    ("8.1", "reseeds the global RNG",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n    torch.manual_seed(seed)\n"
     "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)\n", "global"),
    ("8.1", "drops the last batch",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=True,\n"
     "                      generator=torch.Generator().manual_seed(seed))\n", "drop_last"),
    ("8.1", "never shuffles",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    return DataLoader(dataset, batch_size=batch_size, generator=torch.Generator().manual_seed(seed))\n",
     "shuffle"),
    ("8.1", "one generator made at import, reseeded in each call (loaders share it)",
     "_GENERATOR = torch.Generator()\n\n\ndef make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    _GENERATOR.manual_seed(seed)\n"
     "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=_GENERATOR)\n",
     "share one generator"),
    ("8.2", "no zero_grad", _change(_TRAIN, "        optimizer.zero_grad()\n", ""), "zeroed"),
    ("8.2", "zero_grad after the step, at the end of the batch",
     _change(_TRAIN, "        optimizer.zero_grad()\n", "").replace("        optimizer.step()\n",
                                                                        "        optimizer.step()\n        optimizer.zero_grad()\n"),
     "zeroed after the step"),
    ("8.2", "F.cross_entropy instead of the loss_fn given",
     _change(_TRAIN, "loss_fn(model(inputs), targets)", "torch.nn.functional.cross_entropy(model(inputs), targets)"),
     "loss_fn"),
    ("8.2", "steps before backward",
     _change(_TRAIN, "        loss.backward()\n        optimizer.step()\n", "        optimizer.step()\n        loss.backward()\n"),
     "before loss.backward"),
    ("8.2", "the notes' argument order: loss_fn(target, output)",
     _change(_TRAIN, "loss_fn(model(inputs), targets)", "loss_fn(targets, model(inputs))"), "(input, target)"),
    ("8.2", "never switches to training mode", _change(_TRAIN, "    model.train()\n", ""), "eval mode"),
    ("8.2", "returns loss tensors", _change(_TRAIN, "losses.append(loss.item())", "losses.append(loss)"), "floats"),
    ("8.3", "the mean of batch means",
     _change(_change(_EVALUATE, ".item() * len(inputs)", ".item()"), "count += len(inputs)", "count += 1"), "weight"),
    ("8.3", "no eval()", _change(_EVALUATE, "    model.eval()\n", ""), "training mode"),
    ("8.3", "torch.set_grad_enabled(False) as a statement: autograd stays off after evaluate",
     _change(_EVALUATE, "    with torch.no_grad():\n", "    torch.set_grad_enabled(False)\n    if True:\n"),
     "autograd stayed off"),
    ("8.3", "F.cross_entropy(reduction='sum') instead of the loss_fn given",
     _change(_EVALUATE, "loss_fn(model(inputs), targets).item() * len(inputs)",
                     "torch.nn.functional.cross_entropy(model(inputs), targets, reduction='sum').item()"), "loss_fn"),
    ("8.3", "no no_grad", _change(_EVALUATE, "    with torch.no_grad():\n        for", "    if True:\n        for"),
     "graph"),
    ("8.3", "leaves the model in eval mode", _change(_EVALUATE, "    model.train(was_training)\n", ""), "restore"),
    ("8.4", "counts batches, not examples",
     _change(_FIT, "history[\"examples_seen\"].append(seen)", "history[\"examples_seen\"].append(len(history[\"train_loss\"]))"),
     "count examples"),
    ("8.4", "adds the batch size, not the batch's size",
     _change(_FIT, "seen += len(inputs)", "seen += train_loader.batch_size"), "smaller"),
    ("8.4", "test loss as the mean of batch means",
     _change(_change(_FIT, ".item() * len(inputs)", ".item() / len(test_loader)"),
             "total / len(test_loader.dataset)", "total"), "weight"),
    ("8.4", "zero_grad after the step", _change(_change(_FIT, "            optimizer.zero_grad()\n", ""),
                                                "            optimizer.step()\n",
                                                "            optimizer.step()\n            optimizer.zero_grad()\n"),
     "zeroed after the step"),
    ("8.4", "the test loss with F.cross_entropy, not the loss_fn given",
     _change(_FIT, "total += loss_fn(model(inputs), targets).item() * len(inputs)",
             "total += torch.nn.functional.cross_entropy(model(inputs), targets, reduction='sum').item()"), "loss_fn"),
    ("8.4", "the test loss computed without no_grad",
     _change(_FIT, "        with torch.no_grad():\n            for inputs, targets in test_loader:\n"
                   "                total +=", "        for inputs, targets in test_loader:\n            total +="),
     "graph"),
    ("8.5", "two Axes, the test curve without markers",
     """def plot_history(history, reference=None):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2)
    for prefix, h in [("", history)] + ([("reference ", reference)] if reference is not None else []):
        axes[0].plot(h["examples_seen"], h["train_loss"], label=prefix + "train")
        axes[1].plot(h["epoch_examples"], h["test_loss"], label=prefix + "test")
    axes[0].set_xlabel("examples seen")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    return fig
""", "one Axes"),
    ("8.5", "the test curve without markers", _change(_PLOT, 'marker="o", ', ""), "markers"),
    ("8.5", "x-axis in batches",
     _change(_PLOT, 'ax.plot(h["examples_seen"], h["train_loss"]', 'ax.plot(range(len(h["train_loss"])), h["train_loss"]'),
     "examples seen"),
    ("8.5", "the reference is not drawn",
     _change(_PLOT, '([("reference ", reference)] if reference is not None else [])', "[]"), "reference"),
    ("8.3", "restores the mode by assigning model.training (sub-modules stay in eval mode)",
     _change(_EVALUATE, "    model.train(was_training)\n", "    model.training = was_training\n"), "sub-modules"),
    ("8.4", "ends by assigning model.training = True (sub-modules stay in eval mode)",
     _change(_FIT, "    model.train()\n    return history", "    model.training = True\n    return history"),
     "sub-modules"),
    ("8.1", "a RandomSampler with its own generator, the loader without one",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    from torch.utils.data import RandomSampler, SequentialSampler\n"
     "    g = torch.Generator().manual_seed(seed)\n"
     "    sampler = RandomSampler(dataset, generator=g) if shuffle else SequentialSampler(dataset)\n"
     "    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)\n", "global random stream"),
    ("8.1", "a generator only when shuffling (an unshuffled loader still draws from the global RNG)",
     "def make_loader(dataset, batch_size, seed, shuffle=True):\n"
     "    generator = torch.Generator().manual_seed(seed) if shuffle else None\n"
     "    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)\n",
     "even with shuffle=False"),
]

RIGHT = [
    ("8.2", "model.zero_grad() and float(loss)",
     _change(_change(_TRAIN, "optimizer.zero_grad()", "model.zero_grad()"), "loss.item()", "float(loss)")),
    ("8.3", "evaluate under torch.inference_mode()", _change(_EVALUATE, "torch.no_grad()", "torch.inference_mode()")),
    ("8.4", "fit calling evaluate for the test loss", _change(
        _FIT, """        model.eval()
        total = 0.0
        with torch.no_grad():
            for inputs, targets in test_loader:
                total += loss_fn(model(inputs), targets).item() * len(inputs)
        history["test_loss"].append(total / len(test_loader.dataset))
""", """        history["test_loss"].append(evaluate(model, test_loader, loss_fn))
""")),
    ("8.5", "pyplot's current figure and axes (plt.plot, plt.xlabel, plt.legend)",
     """def plot_history(history, reference=None):
    import matplotlib.pyplot as plt
    fig = plt.figure()
    plt.plot(history["examples_seen"], history["train_loss"], label="train")
    plt.plot(history["epoch_examples"], history["test_loss"], "o-", label="test")
    if reference is not None:
        plt.plot(reference["examples_seen"], reference["train_loss"], label="reference train")
        plt.plot(reference["epoch_examples"], reference["test_loss"], "o--", label="reference test")
    plt.xlabel("examples seen")
    plt.ylabel("loss")
    plt.legend()
    return fig
"""),
]
