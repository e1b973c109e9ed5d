"""The rule "do not delegate to the builtin you are rebuilding", checked twice.

From the source, read as text here (the student's code is never run in the trusted process), and
from the trace of torch functions that ran during the call (the probe's `OpLog`), so that both
`torch.round(x)` written out and a round reached through a helper are reported.
"""
from __future__ import annotations

import ast
from pathlib import Path

OPERATORS = {ast.MatMult: "@", ast.Mod: "%"}   # operators a `forbid` list may name


OVERLOADS = {"default", "Tensor", "Scalar", "int", "float", "out", "self", "dim", "decimals", "values"}


def base_name(op: str) -> str:
    """The operation a traced name stands for, whatever the spelling: torch.round, Tensor.round_,
    torch.special.round (traced as special_round), torch.ops.aten.round.default all say "round"."""
    parts = op.removeprefix("torch.").split(".")
    while len(parts) > 1 and parts[-1] in OVERLOADS:
        parts.pop()
    name = parts[-1]
    name = name.removeprefix("special_").removeprefix("linalg_")
    return name[:-1] if name.endswith("_") and not name.endswith("__") and len(name) > 1 else name


def in_trace(forbid: tuple[str, ...], ops) -> str | None:
    """The first forbidden torch function in a recorded op trace."""
    if not forbid or not isinstance(ops, list):
        return None
    for op in ops:
        if isinstance(op, str) and base_name(op) in forbid:
            return f"torch.{base_name(op)}"
    return None


def in_source(forbid: tuple[str, ...], target: str | None, submission: Path) -> str | None:
    """A forbidden name or operator written inside the target function's own source."""
    if not forbid or not target:
        return None
    module, func = target.rsplit(".", 1)
    path = submission / "course_pkg" / f"{module}.py"
    try:
        tree = ast.parse(path.read_text(errors="replace")[:2_000_000])
    except (OSError, SyntaxError, ValueError):
        return None
    own = _module_names(ast.walk(tree))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == func:
            for inner in ast.walk(node):
                # torch.round / x.round, or a bare round(...) that is the builtin (not the student's
                # own helper of that name, nor a torch import, which the op trace catches).
                name = (inner.attr if isinstance(inner, ast.Attribute)
                        else inner.id if isinstance(inner, ast.Name) and inner.id not in own else None)
                if name in forbid:
                    return f"{func} uses `{name}`, which this exercise asks you not to use"
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str) and inner.value in forbid \
                        and inner.value.isidentifier():       # getattr(nn, "Linear"): the same name, spelt as text
                    return f"{func} names `{inner.value}`, which this exercise asks you not to use"
                op = OPERATORS.get(type(inner.op)) if isinstance(inner, (ast.BinOp, ast.AugAssign)) else None
                if op in forbid:
                    return f"{func} uses the `{op}` operator, which this exercise asks you not to use"
    return None


def _module_names(nodes) -> set[str]:
    """Names a module binds itself (given all its nodes): its functions, classes, assignments and imports."""
    names = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


# ---- The rule "graded code does not reach into the grader" ---------------------------------------------
# The sandbox's probes share a process with the student's code, so whatever they record could in
# principle be rewritten by that code: they are a tripwire, not a wall (sandboxed/seal.py). What the
# student's code *says* is read here, in the trusted process, from the files themselves: a package that
# reaches for the process's frames, hooks, threads, raw memory or file descriptors, switches torch's
# tracing off or patches torch has nothing to do with a lesson on PyTorch, and none of its exercises is
# graded. Each rule below is a construct an attack on the probes needs and an honest answer never does.

MODULES_DENIED = {
    "gc": "the garbage collector (a way to every object of the grader)",
    "ctypes": "raw memory", "_ctypes": "raw memory",
    "_thread": "threads", "threading": "threads", "multiprocessing": "other processes",
    "subprocess": "other processes", "signal": "signal handlers",
    "inspect": "the interpreter's frames", "traceback": "the interpreter's frames",
    "importlib": "the import machinery", "builtins": "Python's builtins", "types": "code and function objects",
    "marshal": "code objects", "dis": "code objects", "posix": "the process's file descriptors and processes",
    "fcntl": "file descriptors", "mmap": "raw memory", "pty": "other processes", "resource": "the sandbox's limits",
    "socket": "the network", "atexit": "code run after the grader's last word",
}
# Modules an honest answer imports by their own name if at all (sys.float_info, os.path), never reaches
# through another module's attribute (torch.serialization.os, `from torch.serialization import sys`),
# names in a string (getattr(m, "sys")) or reads the namespace of (torch.serialization.__dict__).
REACHED_MODULES = {"sys", "os", "posix", "gc", "ctypes", "_thread", "threading", "subprocess", "inspect",
                   "traceback", "importlib", "builtins", "marshal", "shutil"}
LOOKUPS = ("getattr", "setattr", "delattr")     # passed around (reduce(getattr, names, torch)), not called
ATTRIBUTES_DENIED = {   # on any object
    **dict.fromkeys(("_getframe", "_current_frames", "f_locals", "f_globals", "f_back", "f_code", "tb_frame",
                     "gi_frame", "cr_frame", "f_builtins"), "the interpreter's frames"),
    **dict.fromkeys(("setprofile", "getprofile", "settrace", "gettrace", "addaudithook"), "the interpreter's hooks"),
    **dict.fromkeys(("__code__", "__globals__", "__closure__", "cell_contents", "__builtins__", "__subclasses__",
                     "co_code", "co_filename"), "code objects and their globals"),
    **dict.fromkeys(("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks", "_non_persistent_buffers_set", "_modules_hooks"),
                    "nn.Module's private hook and buffer registries"),
    **dict.fromkeys(("__getattribute__", "__setattr__", "__delattr__"), "going around an object's own attribute access"),
    **dict.fromkeys(("attrgetter", "methodcaller"), "attributes looked up by names made at run time"),
    **dict.fromkeys(("DisableTorchFunction", "DisableTorchFunctionSubclass", "_DisableTorchDispatch",
                     "_disable_current_modes", "_pop_mode", "_push_mode", "_pop_torch_function_stack",
                     "_push_on_torch_function_stack", "_get_current_function_mode_stack",
                     "_get_current_dispatch_mode_stack", "_set_torch_function_mode", "_len_torch_function_stack",
                     "jit"), "switching torch's tracing off (or compiling past it)"),
}
MODULE_ATTRIBUTES_DENIED = {   # on a module imported under its own name or an alias
    "sys": {"modules": "the table of loaded modules (the grader's among them)"},
    "os": {name: "the process's file descriptors and processes" for name in
           ("write", "read", "dup", "dup2", "fdopen", "open", "close", "closerange", "_exit", "kill", "fork",
            "system", "popen", "execv", "execve", "remove", "unlink", "rmdir", "pipe")},
    "shutil": {"rmtree": "deleting files", "move": "moving files"},
    "io": {"FileIO": "raw file descriptors", "open": "raw file descriptors"},
}
REGISTRIES = {"_parameters", "_buffers", "_modules", "__dict__"}   # nn.Module's own: replaced, they can lie
CALLS_DENIED = {"exec": "running code made at run time", "eval": "running code made at run time",
                "compile": "compiling code at run time", "__import__": "the import machinery",
                "globals": "a module's globals", "locals": "a frame's locals", "vars": "objects' namespaces",
                "breakpoint": "the debugger"}


def exercise_modules(checks) -> list[str]:
    """The course_pkg modules the exercises among `checks` live in: where `tampering` starts reading."""
    return sorted({c.target.rsplit(".", 1)[0] for c in checks if c.kind == "exercise" and c.target})


def tampering(submission: Path, modules) -> str | None:
    """The first construct of `course_pkg/__init__.py`, the given modules or the course_pkg modules
    they import (subpackages too) that only an attack on the grader needs, as 'file, line: what';
    None if there is none."""
    package = submission / "course_pkg"
    todo, seen = ["", *modules], set()          # dotted names inside course_pkg; "" is the package itself
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        parts = [part for part in name.split(".") if part]
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]      # importing a.b runs a/__init__.py
        for path, is_package in ((package.joinpath(*parts, "__init__.py"), True),
                                 (package.joinpath(*parts[:-1], f"{parts[-1]}.py") if parts else None, False)):
            if path is None or not path.is_file():
                continue
            try:
                tree = ast.parse(path.read_text(errors="replace")[:2_000_000])
            except (OSError, SyntaxError, ValueError):
                break             # a syntax error is reported by the checks themselves
            nodes = list(ast.walk(tree))      # one walk of the tree for every rule: ast.walk is most of the cost
            problem = _reaches_into_the_grader(nodes)
            if problem:
                line, what = problem
                return (f"{path.relative_to(submission).as_posix()}, line {line}: {what}. Graded code may not "
                        "reach into the grader's process, so no exercise of this lesson is graded")
            todo += _course_imports(nodes, parts if is_package else parts[:-1])
            break
    return None


def _course_imports(nodes, here: list[str]) -> list[str]:
    """The course_pkg modules a module imports, as dotted names inside course_pkg; `here`: the parts of
    the package it is in (relative imports start there)."""
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level - 1 <= len(here) else []
                base += (node.module or "").split(".") if node.module else []
            elif (node.module or "").split(".")[0] == "course_pkg":
                base = node.module.split(".")[1:]
            else:
                continue
            found.append(".".join(base))
            found += [".".join([*base, a.name]) for a in node.names if a.name != "*"]   # maybe submodules
        elif isinstance(node, ast.Import):
            found += [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("course_pkg.")]
    return found


def _reaches_into_the_grader(nodes) -> tuple[int, str] | None:
    imported = {}                          # local name -> the module it was imported from ("torch.nn" ...)
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                imported[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("course_pkg"):
            for a in node.names:
                imported[a.asname or a.name] = f"{node.module}.{a.name}"
    own = _module_names(nodes) - set(imported)
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    for node in nodes:
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom):
                names += [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                why = (MODULES_DENIED.get(name.split(".")[0]) or _module_attribute(name)
                       or ATTRIBUTES_DENIED.get(name.rpartition(".")[2]))
                if why:
                    return line, f"imports `{name}` ({why})"
                if "." in name and name.rpartition(".")[2] in REACHED_MODULES:
                    return line, f"imports `{name}` (the module {name.rpartition('.')[2]} through another module)"
        elif isinstance(node, ast.Attribute):
            why = ATTRIBUTES_DENIED.get(node.attr)
            if why:
                return line, f"uses `.{node.attr}` ({why})"
            if node.attr in REACHED_MODULES:
                return line, f"uses `{_dotted(node)}` (the module {node.attr} through another object)"
            root = _root(node)
            if node.attr == "__dict__" and root in imported:
                return line, f"reads `{_dotted(node)}` (a module's or class's namespace)"
            if root in imported:
                why = _module_attribute(f"{imported[root]}.{node.attr}") if isinstance(node.value, ast.Name) else None
                if why:
                    return line, f"uses `{_dotted(node)}` ({why})"
                if isinstance(node.ctx, (ast.Store, ast.Del)) and ".backends." not in f".{_dotted(node)}.":
                    # (torch.backends.cudnn.deterministic = True is a setting, not a patch)
                    return line, f"assigns to `{_dotted(node)}` (patching {imported[root]} changes what the grader runs)"
            if node.attr == "__class__" and isinstance(node.ctx, (ast.Store, ast.Del)):
                return line, "assigns to `__class__` (an object that changes its type under the grader)"
            if node.attr in REGISTRIES and isinstance(node.ctx, (ast.Store, ast.Del)):
                return line, f"replaces `.{node.attr}` (a registry nn.Module and the grader read)"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in own:
            why = CALLS_DENIED.get(node.func.id)
            if why:
                return line, f"calls `{node.func.id}` ({why})"
            if node.func.id in ("setattr", "delattr") and node.args and _root(node.args[0]) in imported:
                return line, f"calls `{node.func.id}` on `{_dotted(node.args[0])}` (patching what the grader runs)"
            if node.func.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) > 1 \
                    and not isinstance(node.args[1], ast.Constant) and _spells_a_name(node.args[1]):
                return line, f"calls `{node.func.id}` with a name built at run time"
            if node.func.id == "open" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, int):
                return line, "opens a file descriptor by number"
        elif isinstance(node, ast.keyword) and node.arg == "closefd":
            return line, "opens a file descriptor it did not create (closefd)"
        elif isinstance(node, ast.Name) and node.id in LOOKUPS and node.id not in own and id(node) not in called:
            return line, f"passes `{node.id}` around (attributes looked up by names made at run time)"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ATTRIBUTES_DENIED:
            return line, f"names `{node.value}` in a string ({ATTRIBUTES_DENIED[node.value]})"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _names_a_reached_module(node.value):
            return line, f"names `{node.value}` in a string (the module {_names_a_reached_module(node.value)})"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in REGISTRIES:
            return line, f"names `{node.value}` in a string (a registry nn.Module and the grader read)"
    return None


def _names_a_reached_module(text: str) -> str | None:
    """The module of REACHED_MODULES a string names as a dotted path ("sys", "serialization.os"), if any."""
    parts = text.split(".")
    if all(part.isidentifier() for part in parts):
        return next((part for part in parts if part in REACHED_MODULES), None)
    return None


def _module_attribute(dotted: str) -> str | None:
    module, _, attr = dotted.rpartition(".")
    return MODULE_ATTRIBUTES_DENIED.get(module, {}).get(attr) if module else None


def _root(node) -> str | None:
    """`torch` for `torch.nn.Module.train`; None for anything but a chain of names (`torch.zeros(3).x`)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _spells_a_name(node) -> bool:
    """A name put together from written pieces (`"drop" + "out"`, f"drop{x}"), not one looked up."""
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(node))


def _dotted(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"
