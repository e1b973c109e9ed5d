"""Lesson 08's observations: the student's loop run on a fixture model with loaders built here, the
student's loaders iterated, the student's figure read back as data.

A forward hook (registered through nn.Module's own method, bound before student code runs) records,
for every forward pass, whether autograd was recording and whether the model was in training mode:
that is how a missing eval() or no_grad() shows, whatever the returned numbers.
"""
import os
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

import fixtures
from probes import error_text, record, unwritten
from probes_modules import MODULE, SEED, SGD, TO, TRAIN, module_state, parameters, qualname

IS_GRAD_ENABLED = torch.is_grad_enabled
REGISTER_HOOK = MODULE.register_forward_hook
RAND = torch.rand
LINSPACE = torch.linspace


def _figure_api():
    """matplotlib's Figure, Axes and Line2D, and the methods plot_run reads a figure with, taken from those
    classes themselves: a figure is read only through objects of exactly these types, so a subclass's
    override (a line whose get_xdata lies) is never called. A tuple: nothing can be swapped in it."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    return (pyplot.close, Figure, Axes, Line2D, Figure.get_axes, Axes.get_lines, Axes.get_xlabel, Axes.get_ylabel,
            Axes.get_legend, Line2D.get_label, Line2D.get_marker, Line2D.get_xdata, Line2D.get_ydata)


# The sandbox of a lesson that plots imports matplotlib.pyplot ahead of its job anyway (the runner's
# PRELOAD argument, lessons.PLOTS): there, bind matplotlib here, a moment earlier, so that it is bound
# before any student code could patch its classes (and sealed with this module). Other lessons' sandboxes
# do not pay ~0.8 s for it; plot_run binds it when it first runs there.
_PRELOAD = sys.argv[4].split(",") if len(sys.argv) > 4 else []
FIGURE_API = _figure_api() if "matplotlib.pyplot" in _PRELOAD else None


def stale_gradients(named):
    """The gradients a model may be handed over with (a backward run earlier, say, to inspect them): fixed
    values in every parameter's .grad, which a loop that zeroes them before its first step never uses.
    The trusted reference (checks/training.py) puts the same ones."""
    for k, (_, p) in enumerate(named):
        p.grad = LINSPACE(-1.0, 1.0, p.numel(), dtype=p.dtype).reshape(p.shape).to(p.device) * (k + 1)


def loop_run(ctx, target, model, x, y, test_x, test_y, seed, batch_size, shuffle_seed, test_batch_size=16,
             loss="cross_entropy", lr=0.1, momentum=0.9, epochs=1, start_training=True, loss_options=None,
             stale_grads=False):
    """Call train_one_epoch / evaluate / fit on a fixture model (built under `seed`, put in training
    mode or not, its .grad holding stale_gradients or not), torch's SGD, seeded loaders, the loss built
    with loss_options (label smoothing: a loss_fn that is not F.cross_entropy's defaults); dropout
    draws from torch.manual_seed(seed + 1)."""
    fn = ctx.resolve(target)
    SEED(seed)
    net = fixtures.MODELS[model]()
    TO(net, x.device)
    named = parameters(net)
    optimizer = SGD([p for _, p in named], lr=lr, momentum=momentum)
    TRAIN(net, start_training)
    if stale_grads:
        stale_gradients(named)
    train_loader = fixtures.loader(x, y, batch_size, shuffle_seed)
    test_loader = fixtures.loader(test_x, test_y, test_batch_size, None)
    loss_fn = fixtures.LOSSES[loss](**(loss_options or {}))
    forwards = []

    def hook(module, inputs, output, _grad=IS_GRAD_ENABLED, _vars=vars, _bool=bool):
        forwards.append([_bool(_grad()), _bool(_vars(module).get("training"))])
    REGISTER_HOOK(net, hook)
    name = target.rsplit(".", 1)[1]
    args = {"train_one_epoch": (net, train_loader, loss_fn, optimizer), "evaluate": (net, test_loader, loss_fn),
            "fit": (net, train_loader, test_loader, loss_fn, optimizer, epochs)}[name]
    SEED(seed + 1)
    out = {"call_error": None, "returned": None, "forwards": forwards, "training_after": None, "state": None,
           "grad_enabled_after": None}
    try:
        returned = fn(*args)
    except Exception as e:      # torch's NotImplementedError for a Long input included: the arguments' order
        if isinstance(e, NotImplementedError) and unwritten(e):
            raise
        out["call_error"] = error_text(e)
        return out
    out.update({"returned": record(returned), "training_after": bool(vars(net).get("training")),
                "state": module_state(net), "grad_enabled_after": bool(IS_GRAD_ENABLED())})
    return out


def loader_run(ctx, target, n, batch_size, seed, shuffle=True, global_seed=0):
    """Two loaders from make_loader(dataset of 0 … n−1, batch_size, seed), both made first, then iterated
    in turn, twice each (as a training and a test loader are): epochs recorded as [first loader's two,
    second's two]; then what the global RNG draws next (it must be as if the loaders had never run)."""
    fn = ctx.resolve(target)
    dataset = TensorDataset(torch.arange(n))
    SEED(global_seed)
    out = {"call_error": None, "is_loader": False, "epochs": [], "global_after": None}
    try:
        loaders = []
        for _ in range(2):
            loaders.append(fn(dataset, batch_size, seed, shuffle=shuffle))
            out["is_loader"] = all(isinstance(loader, DataLoader) for loader in loaders)
        if not out["is_loader"]:
            return out
        epochs = [None] * 4
        for epoch in range(2):
            for k, loader in enumerate(loaders):
                epochs[2 * k + epoch] = [[int(v) for v in batch[0].tolist()] for batch in loader]
        out["epochs"] = epochs
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        return out
    out["global_after"] = record(RAND(4))
    return out


def plot_run(ctx, target, history, reference=None):
    """Call plot_history(history, reference); record each Axes' labels, legend and lines as numbers,
    read only from objects of exactly matplotlib's types (any other is recorded by its type name)."""
    os.environ["MPLCONFIGDIR"] = os.path.abspath(".matplotlib")   # a writable folder for its cache
    (close, figure_type, axes_type, line_type, get_axes, get_lines, get_xlabel, get_ylabel, get_legend, get_label,
     get_marker, get_xdata, get_ydata) = FIGURE_API if FIGURE_API is not None else _figure_api()
    fn = ctx.resolve(target)
    out = {"call_error": None, "is_figure": False, "figure_type": None, "axes": []}
    try:
        fig = fn(history, reference)
    except NotImplementedError:
        raise
    except Exception as e:
        out["call_error"] = error_text(e)
        return out
    if type(fig) is not figure_type:
        out["figure_type"] = qualname(type(fig))
        return out
    out["is_figure"] = True
    for ax in get_axes(fig)[:10]:
        if type(ax) is not axes_type:
            out["axes"].append({"type": qualname(type(ax))})
            continue
        lines = []
        for line in get_lines(ax)[:20]:
            if type(line) is not line_type:
                lines.append({"type": qualname(type(line)), "label": str(get_label(line))[:200]})
                continue
            lines.append({"type": None, "label": str(get_label(line))[:200],
                          "marker": str(get_marker(line)),
                          "x": [float(v) for v in get_xdata(line)],
                          "y": [float(v) for v in get_ydata(line)]})
        out["axes"].append({"type": None, "xlabel": str(get_xlabel(ax))[:200],
                            "ylabel": str(get_ylabel(ax))[:200],
                            "legend": get_legend(ax) is not None, "lines": lines})
    close(fig)
    return out
