"""Lesson 03's own observation: a backward pass walked by the student's code, and whether torch's
autograd engine ran meanwhile.

A pre-hook registered on a graph node (`node.register_prehook`) runs only when torch's engine
executes that node (torch.autograd.grad, Tensor.backward, torch.autograd.backward), never when Python
calls the node itself (`node(*grads)`, `node.apply(*grads)`): checked on torch 2.13. So hooks on every
node tell an engine run apart from a walk by hand. Everything recorded here is an observation only;
the trusted judge computes torch's gradients itself, on the same graph built there.
"""
import torch

import fixtures
from probes import CLONE, DETACH, GRAD, REQUIRES_GRAD_, TENSOR, error_text, record

CUSTOM = torch.autograd.function.BackwardCFunction      # the node class of a custom autograd.Function
MAX_NAMES = 50
# The counting Functions' classes as they were before any student code ran (the runner imports this
# module before the job arrives; the seal watches fixtures' module names, not these class attributes).
COUNTING = [(cls, dict(vars(cls))) for cls in (fixtures.Softsign, fixtures.Cube, fixtures.Sine)]


walk = fixtures.walk_nodes


def backward_run(ctx, target, build, inputs, kinds, spare=(), pick=()):
    """Build fixtures.BUILDERS[build] from fresh leaves, then call target(output, chosen).

    kinds[i] ("leaf" or "plain") says whether the builder's argument i requires grad; `spare` are
    further leaves requiring grad that the graph never reaches; chosen = [every[i] for i in pick],
    every = the builder's arguments followed by the spare leaves.

    Records: what target returned; the names of the nodes torch's engine ran during the call (their
    pre-hooks fired); the .grad of every leaf that requires grad, after the call; and, for each
    custom-Function node (in `walk` order), its name, the numbers of its backward's calls and the
    gradient of its first call (fixtures._note_call writes them on the node); whether the submission rewrote
    those Functions' classes since before any student code ran.
    """
    record_, error_text_, grad, getattr_, int_, isinstance_, len_, type_ = (record, error_text, GRAD, getattr, int,
                                                                          isinstance, len, type)
    builder = dict(fixtures.BUILDERS)[build]
    leaves = [REQUIRES_GRAD_(CLONE(DETACH(t)), k != "plain") for t, k in zip(inputs, kinds)]
    extra = [REQUIRES_GRAD_(CLONE(DETACH(t)), True) for t in spare]
    every = leaves + extra
    watched = [t for t in every if t.requires_grad]
    output = builder(*leaves)
    nodes = walk(output.grad_fn) if output.grad_fn is not None else []
    custom = [n for n in nodes if isinstance(n, CUSTOM)]
    ran = []
    for node in nodes:
        node.register_prehook(lambda grads, name=type(node).__name__: ran.append(name))   # returns None
    chosen = [every[i] for i in pick]
    counting, dict_, vars_, any_ = COUNTING, dict, vars, any
    fn = ctx.resolve(target)          # the student's module is imported here, on the first case
    try:
        value = fn(output, chosen)
    except NotImplementedError:
        raise
    except Exception as e:
        return {"call_error": error_text_(e)}
    calls = []
    for node in custom:
        numbers, received = getattr_(node, "calls", ()), getattr_(node, "received", ())
        try:
            numbers = [int_(k) for k in numbers][:100]
            first = received[0] if len_(received) else None
        except Exception:
            numbers, first = None, None
        calls.append({"name": type_(node).__name__, "calls": numbers,
                      "received": record_(first) if isinstance_(first, TENSOR) else None})
    engine = []
    for name in ran:
        if name not in engine and len_(engine) < MAX_NAMES:
            engine.append(name)
    changed = any_(dict_(vars_(cls)) != saved for cls, saved in counting)    # the counting Functions, rewritten
    return {"returned": record_(value), "engine": engine, "custom": calls, "fixtures_changed": bool(changed),
            "grads_after_call": [record_(grad(t)) if grad(t) is not None else None for t in watched]}
