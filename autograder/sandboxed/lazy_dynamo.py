"""torch._dynamo, imported only when something needs more of it than eager PyTorch does.

torch.optim wraps its methods in `torch._dynamo.disable` and calls `torch._dynamo.graph_break()` on
every step. Outside torch.compile both do nothing, yet their first use imports torch._dynamo: ~1.2 s
on 2 cores, as long again as `import torch`, paid by every `course check` of a lesson whose code
steps an optimizer, on both sides of the sandbox. `install()` puts a stand-in at
sys.modules["torch._dynamo"] that answers those two itself and imports the real module the moment
anything else is asked of it: another attribute (torch.compile asks for `optimize`), the package's
`__path__` (a submodule import), after which torch._dynamo is torch's own. A `disable` wrapper the
stand-in handed out before then defers to the real `torch._dynamo.disable` from that moment on.

The runner installs it before any student code; `course check` and `course grade` before their
references (engine.only_grading); a process that already imported torch._dynamo keeps it. tests/test_lazy_dynamo.py holds it to torch:
the same optimizer trajectories bit for bit, torch.compile and submodule imports as usual.
"""
import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import types

NAME = "torch._dynamo"


def real():
    """The real torch._dynamo, imported now if the stand-in is still in its place."""
    module = sys.modules.get(NAME)
    if isinstance(module, StandIn):
        del sys.modules[NAME]
        module = None
    return module if module is not None else importlib.import_module(NAME)


def _real_if_imported():
    module = sys.modules.get(NAME)
    return None if module is None or isinstance(module, StandIn) else module


class StandIn(types.ModuleType):
    def disable(self, fn=None, recursive=True, **options):
        if fn is None:
            return functools.partial(self.disable, recursive=recursive, **options)
        disabled = None

        @functools.wraps(fn)
        def call(*args, **kwargs):
            nonlocal disabled
            dynamo = _real_if_imported()
            if dynamo is None:
                return fn(*args, **kwargs)       # eager: what torch._dynamo.disable does here too
            if disabled is None:
                disabled = dynamo.disable(fn, recursive, **options)
            return disabled(*args, **kwargs)
        return call

    def graph_break(self, *args, **kwargs):
        dynamo = _real_if_imported()
        if dynamo is not None:
            dynamo.graph_break(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(real(), name)


class _AlreadyImported(importlib.abc.Loader):
    """Gives the import system the module the real torch._dynamo's own import has just made."""

    def __init__(self, module):
        self.module, self.spec = module, module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        if module.__spec__ is not self.spec:     # the import system set ours on it, if the module let it
            module.__spec__ = self.spec


class _Finder(importlib.abc.MetaPathFinder):
    """`import torch._dynamo.config` while the stand-in is in place: reading the stand-in's
    `__path__` imported the real package, which imports most of its submodules itself; without this
    the import system would run such a submodule a second time, as a second module."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(NAME + ".") or fullname not in sys.modules:
            return None
        module = sys.modules[fullname]
        if getattr(module, "__spec__", None) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AlreadyImported(module), origin=module.__spec__.origin)


def install() -> None:
    """Put the stand-in in place, unless torch._dynamo is imported already (then nothing changes).
    After `import torch`: torch's own import looks torch._dynamo up, and must not find the stand-in."""
    if NAME in sys.modules:
        return
    torch = sys.modules.get("torch")
    if torch is None or getattr(torch.__spec__, "_initializing", False):
        raise RuntimeError("lazy_dynamo.install() runs after `import torch` has finished")
    stand_in = StandIn(NAME, "torch._dynamo until more of it than eager mode is needed (lazy_dynamo.py)")
    spec = importlib.machinery.PathFinder.find_spec(NAME, torch.__path__)
    # What a look at every module reads (IPython's autoreload, before each cell) must not import it.
    stand_in.__spec__, stand_in.__file__, stand_in.__loader__, stand_in.__package__ = spec, spec.origin, spec.loader, NAME
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    sys.modules[NAME] = stand_in
