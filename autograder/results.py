"""What grading produces, as small typed values: a failure, a case's verdict, a check's result, a lesson's.

Five statuses. `pass`, `fail`, `error` (the student's code raised, crashed or hung) and
`not_started` (the exercise's stub still raises its NotImplementedError) are the student's; `grader_error` is the grader's own fault (a judge that raised, an unknown probe, a
malformed case, an observation missing from the schema). A grader error scores nothing, is shown as
the grader's fault, and makes `course grade` stop rather than hand out zeros.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("pass", "fail", "error", "not_started", "grader_error")


class GraderFault(RuntimeError):
    """The grader or its environment cannot grade (not any student's doing): stop, say why and how to fix it."""


@dataclass(frozen=True)
class Failure:
    """Why a case failed: what happened, and (only when the answer matches a known mistake) a hint."""
    message: str
    hint: str = ""

    def within(self, prefix: str) -> "Failure":
        """The same failure, its message put in context: `wrong gradient for x: ` + message."""
        return Failure(prefix + self.message, self.hint)

    def with_hint(self, hint: str) -> "Failure":
        """This failure with `hint`, unless a more specific one is already there."""
        return self if self.hint or not hint else Failure(self.message, hint)

    def __str__(self) -> str:
        return f"{self.message}. Hint: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class NotStarted(Failure):
    """The exercise was left as given (an answer still `...`): status not_started, not fail."""


def fail(message: str, hint: str = "") -> Failure:
    return Failure(message, hint)


@dataclass
class CaseVerdict:
    status: str                      # one of STATUSES
    failure: Failure | None = None
    shown: str = ""                  # the input, as a public check's feedback may show it


@dataclass
class CheckResult:
    id: str
    title: str
    points: float
    max: float
    hidden: bool
    kind: str = "exercise"           # "exercise" (course_pkg code) or "answer" (a notebook answer cell)
    devices: dict[str, str] = field(default_factory=dict)   # device -> status
    message: str = ""                # the first problem, as the student reads it (hint included)
    hint: str = ""
    left_out: list[str] = field(default_factory=list)   # slow cases a quick check did not run (their inputs)

    @property
    def grader_error(self) -> bool:
        return "grader_error" in self.devices.values()

    def as_json(self) -> dict:
        return {"points": self.points, "max": self.max, "devices": dict(self.devices), "message": self.message,
                "hint": self.hint, "hidden": self.hidden, "kind": self.kind, "title": self.title,
                "left_out": list(self.left_out)}

    @classmethod
    def from_json(cls, id: str, data: dict) -> "CheckResult":
        return cls(id, data["title"], float(data["points"]), float(data["max"]), bool(data["hidden"]),
                   data.get("kind", "exercise"), dict(data["devices"]), data.get("message", ""),
                   data.get("hint", ""), list(data.get("left_out", [])))


@dataclass
class LessonResult:
    lesson: str
    checks: list[CheckResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max(self) -> float:
        return sum(c.max for c in self.checks)

    @property
    def grader_errors(self) -> list[CheckResult]:
        return [c for c in self.checks if c.grader_error]

    def as_json(self) -> dict:
        return {"score": self.score, "max": self.max,
                "exercises": {c.id: c.as_json() for c in self.checks}, "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, lesson: str, data: dict) -> "LessonResult":
        return cls(lesson, [CheckResult.from_json(i, c) for i, c in data["exercises"].items()],
                   list(data.get("warnings", [])))
