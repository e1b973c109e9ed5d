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


# The lessons whose checks build and step torch optimizers (their students' code and the references).
STEPS_OPTIMIZERS = ("06_modules", "07_optim", "08_training", "10_capstone")


def sandbox_preload(lesson: str | None) -> tuple[str, ...]:
    """Modules a lesson's sandbox imports before its job arrives, beside torch.

    torch.optim imports torch._dynamo on first use (~2.5 s on 2 cores, as long again as torch): for a
    lesson that steps optimizers, imported ahead of need, that overlaps the trusted side's own
    reference training, or a warm sandbox's idle wait. Another lesson should not wait for it."""
    try:
        return ("torch._dynamo",) if lesson is not None and resolve(lesson) in STEPS_OPTIMIZERS else ()
    except UnknownLesson:
        return ()


def module_name(lesson: str) -> str:
    """The course_pkg module (and checks module) of a lesson: '01_tensors' -> 'tensors'."""
    return resolve(lesson).split("_", 1)[1]
