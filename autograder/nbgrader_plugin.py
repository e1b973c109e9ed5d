"""nbgrader integration: the trusted engine in place of nbgrader's in-kernel Execute step.

`nbgrader autograde` normally runs the student's notebook, tests included, in the student's own
kernel, and scores each test cell from its outputs — so a notebook that patches `torch.allclose`
scores full marks there. With `nbgrader_config.py` at the repository root, the autograde pipeline
runs `TrustedChecks` instead of `Execute`: it grades the submission with the sandboxed engine and
writes each check cell's verdict as that cell's outputs. nbgrader's own `SaveAutoGrades` then turns
those outputs into scores, so the gradebook, formgrader, feedback, late penalties and export work
unchanged:

  all points      → a stdout stream with the verdicts          (nbgrader: full credit)
  some points     → an execute_result holding the points       (nbgrader: partial credit)
  no points       → an error output saying what went wrong     (nbgrader: no credit)
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder import engine, lessons, report
from autograder.results import GraderFault, LessonResult
from autograder.secret import grading_secret


def check_calls(source: str) -> list[str]:
    """The check ids a check cell names: check("01_tensors", "1.4"), check(..., "1.4h", hidden=True)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    ids = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "check":
            ids += [a.value for a in node.args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return ids


def verdict_outputs(ids: list[str], result: LessonResult, max_points: float) -> list:
    by_id = {c.id: c for c in result.checks}
    named = [by_id[i] for i in ids if i in by_id]
    missing = [i for i in ids if i not in by_id]
    if not ids or missing:
        what = f"unknown checks {missing}" if missing else "no check() call"
        return [new_output("error", ename="NotACheckCell", evalue=f"{what}: the trusted grader gives no credit",
                           traceback=[])]
    earned, possible = sum(c.points for c in named), sum(c.max for c in named)
    points = max_points * earned / possible if possible else 0.0
    lines = []
    for c in named:
        devices = ", ".join(f"{d}: {s}" for d, s in c.devices.items()) or "not run"
        lines.append(f"{c.id} {c.title}: {c.points:g}/{c.max:g} ({devices})")
        lines += [f"    {line}" for line in c.message.splitlines()[:20]]
    text = "\n".join(lines) + "\n"
    if earned >= possible:
        return [new_output("stream", name="stdout", text=text)]
    if earned == 0:
        return [new_output("stream", name="stdout", text=text),
                new_output("error", ename="CheckFailed", evalue=f"0 of {max_points:g} points", traceback=[])]
    return [new_output("stream", name="stdout", text=text),
            new_output("execute_result", data={"text/plain": f"{points:g}"}, metadata={}, execution_count=None)]


class TrustedChecks(NbGraderPreprocessor):
    """Replaces nbgrader's Execute: check cells get the sandboxed engine's verdicts as outputs."""

    verdicts = Unicode("", help="A JSON file of verdicts `course grade` already computed in parallel "
                                "({lesson, students: {name: result}}); empty: grade here.").tag(config=True)

    def _precomputed(self, lesson: str, student: str | None) -> LessonResult | None:
        if not self.verdicts:
            return None
        data = json.loads(Path(self.verdicts).read_text())
        found = data["students"].get(student) if data.get("lesson") == lesson else None
        return LessonResult.from_json(lesson, found) if found is not None else None

    def preprocess(self, nb, resources):
        folder = Path(resources["metadata"]["path"])
        lesson = lessons.resolve(resources["nbgrader"]["assignment"])
        result = self._precomputed(lesson, resources["nbgrader"].get("student"))
        if result is None:
            # The notebook on disk here is the sanitized one nbgrader just wrote; answers come from it.
            result = engine.grade_submission(lesson, folder, hidden=True, secret=grading_secret(Path.cwd()))
        if result.grader_errors:
            raise GraderFault("the grader could not judge " + ", ".join(c.id for c in result.grader_errors)
                              + f" for {folder}: " + result.grader_errors[0].message[:500])
        self.log.info("trusted checks for %s: %g/%g", folder, result.score, result.max)
        self.log.debug(report.text_table(result))
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                cell.outputs = verdict_outputs(check_calls(cell.source), result, float(meta.get("points", 0)))
                cell.execution_count = None
            elif cell.cell_type == "code":
                cell.outputs = []          # the student's saved outputs are never trusted or shown as graded
        return nb, resources
