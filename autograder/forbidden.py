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
    own = _module_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == func:
            for inner in ast.walk(node):
                # torch.round / x.round, or a bare round(...) that is the builtin (not the student's
                # own helper of that name, nor a torch import, which the op trace catches).
                name = (inner.attr if isinstance(inner, ast.Attribute)
                        else inner.id if isinstance(inner, ast.Name) and inner.id not in own else None)
                if name in forbid:
                    return f"{func} uses `{name}`, which this exercise asks you not to use"
                op = OPERATORS.get(type(inner.op)) if isinstance(inner, (ast.BinOp, ast.AugAssign)) else None
                if op in forbid:
                    return f"{func} uses the `{op}` operator, which this exercise asks you not to use"
    return None


def _module_names(tree) -> set[str]:
    """Names a module binds itself: its functions, classes, assignments and imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names
