"""The lesson ids the course promises (folders, modules, CLI) and how the CLI's short forms map onto them."""
from __future__ import annotations

LESSONS = (
    "00_basics", "01_tensors", "02_autograd", "03_graph", "04_inplace", "05_detach",
    "06_modules", "07_optim", "08_training", "09_modes", "10_capstone",
)


class UnknownLesson(ValueError):
    pass


def resolve(name: str) -> str:
    """'1', '01', '01_tensors' and 'tensors' all name lesson 01_tensors."""
    text = str(name).strip().strip("/").split("/")[-1]
    for lesson in LESSONS:
        number, short = lesson.split("_", 1)
        if text in (lesson, short) or (text.isdigit() and int(text) == int(number)):
            return lesson
    raise UnknownLesson(f"unknown lesson {name!r}; expected one of: {', '.join(LESSONS)} (or just its number, e.g. 1)")


# The lessons whose students' code passes gradients to autograd.grad or backward: torch checks them
# with torch.fx.experimental.symbolic_shapes, whose first import (SymPy's) takes ~0.25 s.
PASSES_GRADIENTS = ("02_autograd",)


# The lessons whose students' code draws a matplotlib figure that a check reads (~0.45 s to import pyplot).
PLOTS = ("08_training",)


def sandbox_preload(lesson: str | None) -> tuple[str, ...]:
    """Modules a lesson's sandbox imports before its job arrives, beside torch.

    autograd.grad or backward given a gradient imports SymPy, a figure matplotlib.pyplot: for a lesson
    whose students' code does, imported ahead of need, that overlaps the trusted side's own imports
    and planning, or a warm sandbox's idle wait. Another lesson should not wait for them. (torch.optim's first use would import
    torch._dynamo, ~1.2 s, but the sandbox puts sandboxed/lazy_dynamo.py's stand-in in its place.)"""
    try:
        lesson = resolve(lesson) if lesson is not None else None
    except UnknownLesson:
        return ()
    if lesson in PASSES_GRADIENTS:
        return ("torch.fx.experimental.symbolic_shapes",)
    if lesson in PLOTS:
        return ("matplotlib.pyplot",)     # with the sandbox's MPLBACKEND=Agg, into its own HOME's cache
    return ()


def module_name(lesson: str) -> str:
    """The course_pkg module (and checks module) of a lesson: '01_tensors' -> 'tensors'."""
    return resolve(lesson).split("_", 1)[1]
