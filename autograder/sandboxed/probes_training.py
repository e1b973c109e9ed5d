"""Lesson 08's observations: the student's loop run on a fixture model with loaders built here, the
student's loaders iterated, the student's figure read back as data.

A forward hook (registered through nn.Module's own method, bound before student code runs) records,
for every forward pass, whether autograd was recording and whether the model was in training mode:
that is how a missing eval() or no_grad() shows, whatever the returned numbers.
"""
import os

import torch
from torch.utils.data import DataLoader, TensorDataset

import fixtures
from probes import error_text, record, unwritten
from probes_modules import MODULE, SEED, SGD, TO, TRAIN, module_state, parameters

IS_GRAD_ENABLED = torch.is_grad_enabled
REGISTER_HOOK = MODULE.register_forward_hook
RAND = torch.rand


def loop_run(ctx, target, model, x, y, test_x, test_y, seed, batch_size, shuffle_seed, test_batch_size=16,
             loss="cross_entropy", lr=0.1, momentum=0.9, epochs=1, start_training=True):
    """Call train_one_epoch / evaluate / fit on a fixture model (built under `seed`, put in training
    mode or not), torch's SGD, seeded loaders; dropout draws from torch.manual_seed(seed + 1)."""
    fn = ctx.resolve(target)
    SEED(seed)
    net = fixtures.MODELS[model]()
    TO(net, x.device)
    optimizer = SGD([p for _, p in parameters(net)], lr=lr, momentum=momentum)
    TRAIN(net, start_training)
    train_loader = fixtures.loader(x, y, batch_size, shuffle_seed)
    test_loader = fixtures.loader(test_x, test_y, test_batch_size, None)
    loss_fn = fixtures.LOSSES[loss]()
    forwards = []

    def hook(module, inputs, output, _grad=IS_GRAD_ENABLED, _vars=vars, _bool=bool):
        forwards.append([_bool(_grad()), _bool(_vars(module).get("training"))])
    REGISTER_HOOK(net, hook)
    name = target.rsplit(".", 1)[1]
    args = {"train_one_epoch": (net, train_loader, loss_fn, optimizer), "evaluate": (net, test_loader, loss_fn),
            "fit": (net, train_loader, test_loader, loss_fn, optimizer, epochs)}[name]
    SEED(seed + 1)
    out = {"call_error": None, "returned": None, "forwards": forwards, "training_after": None, "state": None}
    try:
        returned = fn(*args)
    except Exception as e:      # torch's NotImplementedError for a Long input included: the arguments' order
        if isinstance(e, NotImplementedError) and unwritten(e):
            raise
        out["call_error"] = error_text(e)
        return out
    out.update({"returned": record(returned), "training_after": bool(vars(net).get("training")),
                "state": module_state(net)})
    return out


def loader_run(ctx, target, n, batch_size, seed, shuffle=True, global_seed=0):
    """Two loaders from make_loader(dataset of 0 … n−1, batch_size, seed), each iterated twice; then
    what the global RNG draws next (it must be as if the loaders had never run)."""
    fn = ctx.resolve(target)
    dataset = TensorDataset(torch.arange(n))
    SEED(global_seed)
    out = {"call_error": None, "is_loader": False, "epochs": [], "global_after": None}
    try:
        for _ in range(2):
            loader = fn(dataset, batch_size, seed, shuffle=shuffle)
            out["is_loader"] = isinstance(loader, DataLoader)
            for _ in range(2):
                out["epochs"].append([[int(v) for v in batch[0].tolist()] for batch in loader])
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        return out
    out["global_after"] = record(RAND(4))
    return out


def plot_run(ctx, target, history, reference=None):
    """Call plot_history(history, reference); record each Axes' labels, legend and lines as numbers."""
    os.environ["MPLCONFIGDIR"] = os.path.abspath(".matplotlib")   # a writable folder for its cache
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    fn = ctx.resolve(target)
    try:
        fig = fn(history, reference)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text(e), "is_figure": False, "axes": []}
    if not isinstance(fig, Figure):
        return {"call_error": None, "is_figure": False, "axes": []}
    axes = [{"xlabel": str(ax.get_xlabel())[:200], "ylabel": str(ax.get_ylabel())[:200],
             "legend": ax.get_legend() is not None,
             "lines": [{"label": str(line.get_label())[:200], "marker": str(line.get_marker()),
                        "x": [float(v) for v in line.get_xdata()], "y": [float(v) for v in line.get_ydata()]}
                       for line in ax.get_lines()[:20]]}
            for ax in fig.get_axes()[:10]]
    plt.close(fig)
    return {"call_error": None, "is_figure": True, "axes": axes}
