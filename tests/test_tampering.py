"""`forbidden.tampering`: the trusted side reads the student's package as text and refuses to grade a
lesson whose code reaches into the grader's process. It must flag every construct an attack on the
probes needs (tests/banks/attacks.py runs such attacks end to end) and never an honest answer: the
instructor's solution, the blank edition, every realistic wrong answer and every correct but unusual
one of the banks."""
import shutil
import textwrap

import pytest

from autograder import checks, forbidden
from tests.banks import LESSONS
from tests.support import ROOT, student_submission


def modules_of(lesson):
    return forbidden.exercise_modules(checks.load(lesson).CHECKS)


def package_with(tmp_path, module=None, source=""):
    sub = tmp_path / "sub"
    shutil.copytree(ROOT / "course_pkg", sub / "course_pkg", ignore=shutil.ignore_patterns("__pycache__"))
    if module:
        path = sub / "course_pkg" / f"{module}.py"
        path.write_text(path.read_text() + "\n\n" + textwrap.dedent(source))
    return sub


@pytest.mark.parametrize("bank", LESSONS, ids=lambda b: b.LESSON)
def test_honest_packages_are_graded(tmp_path, bank):
    assert forbidden.tampering(package_with(tmp_path), modules_of(bank.LESSON)) is None
    assert forbidden.tampering(student_submission(tmp_path), modules_of(bank.LESSON)) is None
    for number, row in enumerate([*getattr(bank, "WRONG", []), *getattr(bank, "RIGHT", [])]):
        found = forbidden.tampering(package_with(tmp_path / f"row{number}", bank.MODULE, row[2]),
                                    modules_of(bank.LESSON))
        assert found is None, (row[1], found)


# (what, source appended to course_pkg/optim.py, a fragment of the message)
REACHING_IN = [
    ("frames", "import sys\ndef f():\n    return sys._getframe(1).f_locals\n", "the interpreter's frames"),
    ("frames through inspect", "import inspect\n", "inspect"),
    ("the garbage collector", "import gc as _gc\n", "gc"),
    ("threads", "from threading import Thread\n", "threading"),
    ("raw threads", "import _thread\n", "_thread"),
    ("the profile hook", "import sys as s\nhook = s.getprofile()\n", "getprofile"),
    ("sys.modules", "import sys as s\nprobes = s.modules['probes']\n", "s.modules"),
    ("the channel", "import os\ndef f(b):\n    os.write(3, b)\n", "os.write"),
    ("the channel by number", "f = open(3, 'wb')\n", "file descriptor"),
    ("the channel, closefd", "def f(fd):\n    return open(fd, 'wb', closefd=False)\n", "closefd"),
    ("patching torch", "torch.ones_like = lambda t: t\n", "torch.ones_like"),
    ("patching nn.Module", "nn.Module.train = lambda self, mode=True: self\n", "nn.Module.train"),
    ("patching through setattr", "setattr(torch.Tensor, 'add_', None)\n", "setattr"),
    ("a name built at run time", "f = getattr(torch, 'drop' + 'out')\n", "built at run time"),
    ("torch's tracing switched off", "def f(x):\n    with torch._C.DisableTorchFunction():\n        return x\n",
     "DisableTorchFunction"),
    ("the op log's stack", "from torch.overrides import _get_current_function_mode_stack\n", "switching"),
    ("TorchScript", "f = torch.jit.script(lambda x: x)\n", "jit"),
    ("code objects", "def f(g):\n    return g.__code__.replace(co_filename='x')\n", "__code__"),
    ("closures", "def f(g):\n    return g.__closure__[0].cell_contents\n", "code objects"),
    ("a module's hooks", "def f(m):\n    m._forward_hooks.clear()\n", "_forward_hooks"),
    ("a lying registry", "def f(m, d):\n    m._parameters = d\n", "_parameters"),
    ("a registry named in a string", "def f(m):\n    return object.__getattribute__(m, '__dict__')\n",
     "__getattribute__"),
    ("a type swapped", "def f(m, cls):\n    m.__class__ = cls\n", "__class__"),
    ("builtins", "import builtins\n", "builtins"),
    ("exec", "exec('x = 1')\n", "exec"),
    ("__import__", "s = __import__('sy' + 's')\n", "__import__"),
    ("a name in a string", "def f(m):\n    return getattr(m, 'f_locals')\n", "f_locals"),
    ("os through torch", "def f(fd, b):\n    torch.serialization.os.write(fd, b)\n", "module os through"),
    ("sys imported from torch", "from torch.serialization import sys as s\nprobes = s.modules['probes']\n",
     "module sys through"),
    ("sys named in a string", "def f():\n    return getattr(torch.serialization, 'sys')\n", "module sys"),
    ("a dotted path in a string", "import operator\ns = operator.attrgetter('serialization.sys')(torch)\n",
     "attrgetter"),
    ("getattr passed around", "import functools\ns = functools.reduce(getattr, ['serialization', 'sy' 's'], torch)\n",
     "passes `getattr` around"),
    ("getattr renamed", "look = getattr\n", "passes `getattr` around"),
    ("a module's namespace", "s = torch.serialization.__dict__\n", "namespace"),
    ("posix", "import posix\n", "posix"),
    ("raw memory by mmap", "import mmap\n", "raw memory"),
    ("the sandbox's limits", "import resource\n", "limits"),
    ("code run at exit", "import atexit\n", "atexit"),
]


@pytest.mark.parametrize("what,source,fragment", REACHING_IN, ids=[r[0] for r in REACHING_IN])
def test_reaching_into_the_grader_is_refused(tmp_path, what, source, fragment):
    found = forbidden.tampering(package_with(tmp_path, "optim", source), ["optim"])
    assert found and fragment in found and "course_pkg/optim.py, line " in found, found


HONEST = [
    "def f(model):\n    model.eval()\n    return list(model.modules())\n",
    "def f(x, activation):\n    return getattr(torch, activation)(x)\n",
    "def f(x, name):\n    return getattr(torch.nn.functional, name.lower())(x)\n",
    "import os\ndef f(path):\n    return os.path.join(os.path.dirname(path), 'x.pt')\n",
    "import sys\nEPS = sys.float_info.epsilon\n",
    "def f(xs):\n    xs.remove(1)\n    return xs\n",
    "def f(path, obj):\n    with open(path, 'wb') as fh:\n        torch.save(obj, fh)\n",
    "compiled = torch.compile\n",
    "torch.backends.cudnn.deterministic = True\n",
    "import matplotlib.pyplot as plt\nplt.rcParams['font.size'] = 9\n",
    "def eval(x):\n    return x\ny = eval(1)\n",
    "import os\nDEBUG = os.environ.get('COURSE_DEBUG')\n",
    "from os import path\nHERE = path.dirname(__file__)\n",
    "def f(model):\n    return type(model).__name__ + str(len(model.__dict__))\n",
    "def f(model, name):\n    return getattr(model, name).weight\n",
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_constructs_are_not_refused(tmp_path, source):
    assert forbidden.tampering(package_with(tmp_path, "optim", source), ["optim"]) is None


def test_only_what_the_lesson_runs_is_read(tmp_path):
    """A construct in a module the lesson never imports is not that lesson's; one in __init__.py, in the
    lesson's module or in a course_pkg module it imports is."""
    sub = package_with(tmp_path, "optim", "import gc\n")
    assert forbidden.tampering(sub, ["tensors"]) is None
    assert "course_pkg/optim.py" in forbidden.tampering(sub, ["capstone"])       # capstone imports optim
    init = sub / "course_pkg" / "__init__.py"
    init.write_text(init.read_text() + "\nimport ctypes\n")
    assert "course_pkg/__init__.py" in forbidden.tampering(sub, ["tensors"])


def test_a_subpackage_is_read_too(tmp_path):
    """Code hidden in a folder of course_pkg, imported relatively, is read as the module that imports it."""
    sub = package_with(tmp_path, "optim", "from .helpers.deep import nothing\n")
    (sub / "course_pkg" / "helpers").mkdir()
    (sub / "course_pkg" / "helpers" / "__init__.py").write_text("")
    (sub / "course_pkg" / "helpers" / "deep.py").write_text("import gc\nnothing = None\n")
    assert "course_pkg/helpers/deep.py, line 1" in forbidden.tampering(sub, ["optim"])
    (sub / "course_pkg" / "helpers" / "deep.py").write_text("nothing = None\n")
    (sub / "course_pkg" / "helpers" / "__init__.py").write_text("from . import sneaky\n")
    (sub / "course_pkg" / "helpers" / "sneaky.py").write_text("import sys\nsys.settrace(None)\n")
    assert "course_pkg/helpers/sneaky.py, line 2" in forbidden.tampering(sub, ["optim"])
