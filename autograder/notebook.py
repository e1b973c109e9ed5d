"""`check(lesson, exercise)` for a notebook's check cells: the same verdict the grader gives.

It grades the code on disk (course_pkg/ beside or above the notebook, and the saved notebook for
answer cells) in the sandbox, exactly as `course check` does; the kernel's own state is not used.
In JupyterLab the verdict is a small HTML report (plain text elsewhere); an exercise that does not
pass yet stops "Run all" with one line, not a traceback through the grader.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current one) holding course_pkg/."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "course_pkg").is_dir():
            return folder
    raise FileNotFoundError(f"no course_pkg/ folder in {start} or any folder above it")


class NotPassingYet(AssertionError):
    """Raised by a check cell whose exercise loses points: it stops "Run all" there. IPython shows
    `_render_traceback_` instead of a traceback (the report above already says what went wrong)."""

    def _render_traceback_(self):
        return [f"\x1b[31mnot passing yet: {self}\x1b[0m (details above)"]


class CheckReport:
    """A lesson result as a notebook shows it: HTML in JupyterLab, the text table anywhere else."""

    def __init__(self, result, hidden_points: float = 0):
        self.result, self.hidden_points = result, hidden_points

    def _repr_html_(self) -> str:
        from autograder import report
        return report.check_html(self.result, self.hidden_points)

    def __str__(self) -> str:
        from autograder import report
        return report.text_table(self.result, self.hidden_points)

    __repr__ = __str__


def _ipython():
    if "IPython" not in sys.modules:      # not in a kernel: and importing IPython to learn that costs 0.3 s
        return None
    from IPython import get_ipython
    return get_ipython()


def show(obj) -> None:
    shell = _ipython()
    if shell is None:
        print(obj)
        return
    from IPython.display import display
    display(obj)


def _keep_warm(lesson: str | None = None) -> None:
    """In a kernel, start the sandbox the next check cell will use, so that it does not wait for
    Python and torch to start (engine.keep_warm; it holds ~200 MB while it waits). Outside a kernel (a
    script, the tests), or with COURSE_KEEP_WARM=0, do nothing."""
    if _ipython() is None:
        return
    from autograder import engine
    if not engine.warm_wanted():
        return
    try:
        engine.keep_warm(lesson=lesson or Path.cwd().name)      # a kernel runs in its lesson's folder
    except Exception:        # a sandbox that cannot start is reported by the check that needs it
        pass


def check(lesson: str, *exercises: str, hidden: bool = False) -> None:
    """Run the named checks and show the verdicts; raise NotPassingYet if any of them lost points."""
    from autograder import checks, engine
    root = find_root()
    result = engine.grade_submission(lesson, root, only=set(exercises) or None, hidden=hidden)
    result.warnings.extend(unsaved_answers(lesson, result))
    extra = 0.0 if hidden else sum(checks.hidden_points(lesson).get(e, 0.0) for e in exercises)
    show(CheckReport(result, extra))
    _keep_warm(lesson)
    failed = [c.id for c in result.checks if c.points < c.max]
    if failed:
        raise NotPassingYet(", ".join(failed))


def unsaved_answers(lesson: str, result) -> list[str]:
    """Answer checks read the saved notebook, as the grader does. When the answer cell this kernel ran
    last differs from the saved one, the verdict is about the old file: say so."""
    from autograder import checks
    shell = _ipython()
    if shell is None:
        return []
    ran = [c.id for c in result.checks if c.kind == "answer"]
    if not ran:
        return []
    notebook = Path.cwd() / f"{lesson}.ipynb"
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return []
    saved = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): "".join(c.get("source", []))
             for c in cells if isinstance(c, dict)}
    history = shell.user_ns.get("In", [])
    warnings = []
    by_id = checks.load(lesson).CHECKS.by_id()
    for check_id in ran:
        import torch
        case = next(iter(by_id[check_id].make_cases(torch.Generator(), torch.device("cpu"))), None)
        name = case.params.get("name") if case is not None else None
        if not name or name not in saved:
            continue
        assigns = re.compile(rf"^\s*{re.escape(name)}\s*=", re.M)
        last = next((src for src in reversed(history) if isinstance(src, str) and assigns.search(src)), None)
        if last is not None and last.strip() != saved[name].strip():
            warnings.append(f"the `{name}` cell you ran last is not the one saved in {notebook.name}: the check "
                            "reads the saved file, as the grader does. Save the notebook first (Ctrl+S), then "
                            "run this cell again.")
    return warnings


class ProgressReport:
    """Every lesson's public score and the total: HTML in JupyterLab, a text table elsewhere."""

    def __init__(self, results: dict, hidden: dict):
        self.results, self.hidden = results, hidden       # lesson -> LessonResult; lesson -> hidden points

    def rows(self):
        for lesson, r in self.results.items():
            started = sum(1 for c in r.checks if any(s != "not_started" for s in c.devices.values()))
            yield lesson, r.score, r.max, self.hidden[lesson], f"{started}/{len(r.checks)}"

    def totals(self):
        return (sum(r.score for r in self.results.values()), sum(r.max for r in self.results.values()),
                sum(self.hidden.values()))

    def __str__(self) -> str:
        lines = [f"{'lesson':<14} {'public':>9} {'hidden':>7}  started", "-" * 42]
        for lesson, score, top, hidden, started in self.rows():
            lines.append(f"{lesson:<14} {score:>4g} /{top:>3g} {'+' + format(hidden, 'g'):>7}  {started}")
        score, top, hidden = self.totals()
        lines += ["-" * 42, f"{'total':<14} {score:>4g} /{top:>3g} {'+' + format(hidden, 'g'):>7}",
                  "public: the checks you can run; hidden: points on fresh inputs at grading"]
        note = self.left_out_note()
        return "\n".join(lines + ([note] if note else []))

    def left_out_note(self) -> str:
        left = [f"{c.id} ({lesson})" for lesson, r in self.results.items() for c in r.checks if c.left_out]
        return (f"quick: the slow cases of {', '.join(left)} were left out; `course check LESSON --full` runs "
                "them, grading always does") if left else ""

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = "style='padding:2px 10px;text-align:right'"
        rows = "".join(
            f"<tr><td>{lesson}</td><td {cell}>{score:g} / {top:g}</td><td {cell}>+{hidden:g}</td>"
            f"<td {cell}>{started}</td><td><div style='width:120px;background:#eee'><div style='width:"
            f"{120 * score / top if top else 0:.0f}px;height:10px;background:#1a7f37'></div></div></td></tr>"
            for lesson, score, top, hidden, started in self.rows())
        score, top, hidden = self.totals()
        return (f"<table><tr><th>lesson</th><th>public checks</th><th>hidden</th><th>exercises started</th>"
                f"<th></th></tr>{rows}<tr><td><b>total</b></td><td {cell}><b>{score:g} / {top:g}</b></td>"
                f"<td {cell}>+{hidden:g}</td><td></td><td></td></tr></table>"
                "<p style='color:#555'>public: the checks you can run; hidden: points on fresh inputs at "
                "grading</p>")


def lesson_progress(root: Path | None = None, jobs: int = 2, quick: bool = False) -> ProgressReport:
    """The public checks of every lesson that has checks, on the course_pkg and notebooks in `root`
    (quick: without their slow cases, see engine.grade_submission)."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder import checks, engine, lessons
    root = root or find_root()
    ids = [l for l in lessons.LESSONS if checks.available(l)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = list(pool.map(lambda l: engine.grade_submission(l, root, quick=quick), ids))
    return ProgressReport(dict(zip(ids, graded)), {l: sum(checks.hidden_points(l).values()) for l in ids})


def progress() -> ProgressReport:
    """Every lesson's score so far and the total (a minute or so: each lesson's checks run in a sandbox)."""
    report = lesson_progress()
    show(report)
    return None


_keep_warm()     # the setup cell imports this module: the first check cell is warm too
