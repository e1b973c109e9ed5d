"""sandboxed/lazy_dynamo.py: a stand-in for torch._dynamo that eager torch.optim cannot tell apart.

Each case runs in a fresh interpreter: whether torch._dynamo is imported is a process-wide fact.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from tests.support import ROOT, grade, make_submission

# Every optimizer option whose code path differs, a state_dict round trip, and a second param group.
TRAJECTORIES = """
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
optimizers = [
    torch.optim.SGD(net.parameters(), lr=0.1),
    torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, maximize=True),
    torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True),
    torch.optim.Adam(net.parameters(), lr=0.01, amsgrad=True),
    torch.optim.AdamW(net.parameters(), lr=0.01),
    torch.optim.RMSprop(net.parameters(), lr=0.01, momentum=0.5),
]
seen = []
for opt in optimizers:
    for _ in range(4):
        opt.zero_grad()
        net(torch.randn(6, 4)).pow(2).mean().backward()
        opt.step()
    opt.load_state_dict(opt.state_dict())
    seen += [p.detach().clone() for p in net.parameters()]
extra = torch.nn.Parameter(torch.ones(3))
optimizers[1].add_param_group({"params": [extra], "lr": 0.5})
extra.grad = torch.full((3,), 2.0)
optimizers[1].step()
seen.append(extra.detach().clone())
print(repr(b"".join(t.numpy().tobytes() for t in seen).hex()))
"""

INSTALL = "import torch, sys; from autograder.sandboxed import lazy_dynamo; lazy_dynamo.install()\n"
STILL_STAND_IN = "\nprint(type(sys.modules['torch._dynamo']).__name__)\n"


def python(*parts: str) -> list[str]:
    code = "\n".join(textwrap.dedent(part) for part in parts)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_optimizers_step_bit_for_bit_as_with_torch_dynamo_and_never_import_it():
    with_torch_dynamo = python(TRAJECTORIES)
    with_stand_in = python(INSTALL, TRAJECTORIES, STILL_STAND_IN)
    assert with_stand_in[0] == with_torch_dynamo[0]
    assert with_stand_in[1] == "StandIn", "an eager optimizer step imported torch._dynamo after all"


def test_anything_else_asked_of_it_is_torch_dynamo_itself():
    out = python(INSTALL, """
        opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        opt.state_dict()                                            # its wrapper was made by the stand-in
        print(torch.compile(lambda x: x.sin() + 1, backend="eager")(torch.zeros(2)).tolist())
        import torch._dynamo
        print(type(sys.modules["torch._dynamo"]).__name__, torch._dynamo.disable.__module__)
        calls = []
        real_disable = torch._dynamo.disable
        torch._dynamo.disable = lambda *a, **k: calls.append(a) or real_disable(*a, **k)
        opt.state_dict()
        print("a wrapper handed out before defers to torch._dynamo.disable:", len(calls))
    """)
    assert out == ["[1.0, 1.0]", "module torch._dynamo.decorators",
                   "a wrapper handed out before defers to torch._dynamo.disable: 1"]


@pytest.mark.parametrize("statement", ["import torch._dynamo.eval_frame as sub",
                                       "import torch._dynamo.config as sub",     # a module that refuses new attributes
                                       "from torch._dynamo.backends import registry as sub"])
def test_a_submodule_import_brings_the_package_and_each_module_once(statement):
    """Importing a submodule reads the stand-in's __path__, which imports the real package, which
    imports that submodule itself: it must not run a second time as a second module."""
    out = python(INSTALL, statement, """
        parent = sys.modules[sub.__name__.rpartition(".")[0]]
        print(type(sys.modules["torch._dynamo"]).__name__, sys.modules[sub.__name__] is sub,
              getattr(parent, sub.__name__.rpartition(".")[2]) is sub, type(sub.__spec__.loader).__name__)
    """)
    assert out == ["module True True SourceFileLoader"]


def test_a_look_at_every_module_leaves_it_lazy():
    """IPython's autoreload reads every module's __file__ before each cell of a notebook answer's run:
    that must not import torch._dynamo (1.2 s; and on a full disk, a failed import fails the cell)."""
    out = python(INSTALL, """
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "autoreload")
        shell.run_line_magic("autoreload", "2")
        for _ in range(2):
            assert shell.run_cell("x = 1").success
        import inspect
        inspect.getmodule(lambda: None)
        print(type(sys.modules["torch._dynamo"]).__name__)
    """)
    assert out == ["StandIn"]


def test_it_is_installed_after_torch_or_not_at_all():
    """torch's own import looks torch._dynamo up: a stand-in there would import it mid-way, and fail."""
    out = python("""
        import sys
        from autograder.sandboxed import lazy_dynamo
        try:
            lazy_dynamo.install()
        except RuntimeError as e:
            print(e)
        print("torch._dynamo" in sys.modules)
        import torch, torch._dynamo
        lazy_dynamo.install()
        print(type(sys.modules["torch._dynamo"]).__name__)
    """)
    assert out == ["lazy_dynamo.install() runs after `import torch` has finished", "False", "module"]


# Appended to the instructor's optim.py: the student's step asks torch._dynamo something, so the real
# module arrives in the sandbox mid-check, after the stand-in's wrappers were handed out and the seal made.
ASKS_DYNAMO_MID_RUN = """
_solution_step = SGD.step


def _step(self, closure=None):
    assert not torch._dynamo.is_compiling()
    return _solution_step(self, closure)


SGD.step = _step
"""


def test_a_student_whose_code_uses_torch_dynamo_is_graded_as_before(tmp_path):
    result = grade("07_optim", make_submission(tmp_path, {"optim": ASKS_DYNAMO_MID_RUN}), only={"7.1"})
    assert [(c.points, c.devices) for c in result.checks] == [(5, {"cpu": "pass"})], [c.message for c in result.checks]
