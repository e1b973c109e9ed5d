"""What a grading run prints and writes: a text table, grades.csv, per-student feedback HTML, JSON."""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path

MARK = {"pass": "✓ pass", "fail": "✗ fail", "error": "! error", "grader_error": "‼ grader error (not your fault)"}


def text_table(result) -> str:
    """A student's verdicts, one line per check, then the reasons for what lost points."""
    lines = [f"{result.lesson}: {result.score:g} / {result.max:g} points"]
    for c in result.checks:
        devices = "  ".join(f"{d}: {MARK.get(s, s)}" for d, s in c.devices.items()) or "not run"
        tag = " (hidden)" if c.hidden else ""
        lines.append(f"  {c.id:<6} {c.title[:28]:<28} {c.points:g}/{c.max:g}  {devices}{tag}")
    problems = [c for c in result.checks if c.message]
    if problems:
        lines.append("")
    for c in problems:
        lines.append(f"{c.id} {c.title}:")
        lines.extend(f"    {line}" for line in c.message.splitlines()[:30])
    for warning in result.warnings:
        lines.append(f"note: {warning}")
    return "\n".join(lines)


def class_table(lesson: str, results: dict) -> str:
    width = max([len(s) for s in results] + [7])
    lines = [f"{'student':<{width}}  score", f"{'-' * width}  -----"]
    for student, r in sorted(results.items()):
        lines.append(f"{student:<{width}}  {r.score:g}/{r.max:g}" + (f"  ({r.warnings[0][:60]})" if r.warnings else ""))
    return "\n".join(lines)


def class_json(lesson: str, results: dict) -> dict:
    return {"lesson": lesson, "students": {s: r.as_json() for s, r in sorted(results.items())}}


def write_csv(path: Path, lesson: str, results: dict) -> None:
    ids = []
    for r in results.values():
        ids += [c.id for c in r.checks if c.id not in ids]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lesson", "score", "max", *ids])
        for student, r in sorted(results.items()):
            points = {c.id: c.points for c in r.checks}
            w.writerow([student, lesson, f"{r.score:g}", f"{r.max:g}", *(f"{points.get(i, 0):g}" for i in ids)])


def feedback_html(student: str, result) -> str:
    """Feedback for one student. Messages are escaped; hidden checks carry no inputs (the engine redacts)."""
    rows = []
    for c in result.checks:
        devices = ", ".join(f"{html.escape(d)}: {html.escape(s)}" for d, s in c.devices.items()) or "not run"
        ok = c.points >= c.max
        rows.append(
            f"<tr class='{'ok' if ok else 'bad'}'><td>{html.escape(c.id)}</td><td>{html.escape(c.title)}"
            f"{' (hidden)' if c.hidden else ''}</td><td>{c.points:g} / {c.max:g}</td><td>{devices}</td>"
            f"<td><pre>{html.escape(c.message)}</pre></td></tr>")
    notes = "".join(f"<p class='note'>{html.escape(w)}</p>" for w in result.warnings)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(result.lesson)} — {html.escape(student)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} tr.ok{{background:#eefbea}}
tr.bad{{background:#fdecea}} pre{{white-space:pre-wrap;margin:0;max-width:60em}}</style></head>
<body><h1>{html.escape(result.lesson)}: {result.score:g} / {result.max:g}</h1>
<p>Student: {html.escape(student)}</p>{notes}
<table><tr><th>check</th><th>exercise</th><th>points</th><th>devices</th><th>what went wrong</th></tr>
{''.join(rows)}</table></body></html>
"""


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)
