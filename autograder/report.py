"""What a grading run prints and writes: a text table, grades.csv, per-student feedback HTML, JSON."""
from __future__ import annotations

import csv
import html
import json
import textwrap
from pathlib import Path

MARK = {"pass": "✓ pass", "fail": "✗ fail", "error": "! error", "not_started": "· not started",
        "grader_error": "‼ grader error (not your fault)"}
COLOUR = {"pass": "#1a7f37", "fail": "#c62828", "error": "#b3261e", "not_started": "#6b6b6b", "grader_error": "#7b1fa2"}
WIDTH = 100


def _wrap(text: str, indent: str = "    ") -> list[str]:
    """Lines wrapped at words (a long token stays whole), each line of the message kept."""
    out = []
    for line in text.splitlines() or [""]:
        out.extend(textwrap.wrap(line, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                                 break_long_words=False, break_on_hyphens=False) or [indent])
    return out


def _message_without_hint(c) -> str:
    suffix = f". Hint: {c.hint}"
    return c.message[:-len(suffix)] if c.hint and c.message.endswith(suffix) else c.message


def hidden_note(points: float) -> str:
    return f"+{points:g} point{'s' if points != 1 else ''} on hidden inputs at grading"


def text_table(result, hidden_points: float = 0) -> str:
    """A student's verdicts, one line per check, then the reasons for what lost points, wrapped at words."""
    head = f"{result.lesson}: {result.score:g} / {result.max:g} points"
    lines = [head + (f"  ({hidden_note(hidden_points)})" if hidden_points else "")]
    for c in result.checks:
        devices = "  ".join(f"{d}: {MARK.get(s, s)}" for d, s in c.devices.items()) or "not run"
        lines.append(f"  {c.id:<6} {(c.title + (' (hidden)' if c.hidden else ''))[:30]:<30} {c.points:g}/{c.max:g}  "
                     f"{devices}")
    problems = [c for c in result.checks if c.message]
    if problems:
        lines.append("")
    for c in problems:
        lines.append(f"{c.id} {c.title}:")
        lines.extend(_wrap("\n".join(_message_without_hint(c).splitlines()[:30])))
        if c.hint:
            lines.extend(_wrap(f"Hint: {c.hint}"))
    for warning in result.warnings:
        lines.extend(_wrap(f"note: {warning}", ""))
    for c in result.checks:
        if c.left_out:
            lines.extend(_wrap(left_out_note(result.lesson, c), ""))
    return "\n".join(lines)


def left_out_note(lesson: str, check) -> str:
    """What a quick check did not run for `check`, and how to run it."""
    return (f"not run by this quick check, for {check.id}: {'; '.join(check.left_out)}. "
            f"`course check {lesson.split('_')[0]} --full` runs it (its check cell in the notebook and grading "
            "always do)")


def check_html(result, hidden_points: float = 0) -> str:
    """The same verdicts as a small HTML report for a notebook: a coloured table, the details of what
    lost points open below it, the hint set apart."""
    e = html.escape
    total = (f"<b>{e(result.lesson)}</b>: {result.score:g} / {result.max:g} points"
             + (f" <span style='color:#555'>({e(hidden_note(hidden_points))})</span>" if hidden_points else ""))
    rows = []
    for c in result.checks:
        cells = "".join(f"<td style='color:{COLOUR.get(s, '#000')};font-weight:600'>{e(d)}: {e(MARK.get(s, s))}</td>"
                        for d, s in c.devices.items()) or "<td>not run</td>"
        rows.append(f"<tr><td>{e(c.id)}</td><td>{e(c.title)}{' (hidden)' if c.hidden else ''}</td><td>{c.points:g} / {c.max:g}</td>{cells}</tr>")
    details = []
    for c in result.checks:
        if not c.message:
            continue
        hint = (f"<div style='margin-top:6px;padding:6px 10px;background:#fff8e1;border-left:4px solid #f0b400'>"
                f"<b>Hint:</b> {e(c.hint)}</div>" if c.hint else "")
        details.append(f"<details open><summary><b>{e(c.id)} {e(c.title)}</b>: what went wrong</summary>"
                       f"<div style='white-space:pre-wrap;overflow-wrap:anywhere;font-family:monospace;"
                       f"margin:4px 0 0 1em'>{e(_message_without_hint(c))}</div>{hint}</details>")
    notes = "".join(f"<p style='color:#555'>note: {e(w)}</p>" for w in result.warnings)
    return (f"<div class='course-check'><div>{total}</div>"
            f"<table style='border-collapse:collapse;margin:4px 0'>{''.join(rows)}</table>"
            f"{''.join(details)}{notes}</div>")


CELL = {"pass": "✓", "fail": "✗", "error": "!", "not_started": "·", "grader_error": "‼"}


def check_ids(results: dict) -> list[str]:
    ids: list[str] = []
    for r in results.values():
        ids += [c.id for c in r.checks if c.id not in ids]
    return ids


def class_summary(results: dict) -> tuple[dict[str, float], float]:
    """Per check, the share of students with its full points; and the class's mean score."""
    ids = check_ids(results)
    rates = {}
    for i in ids:
        got = [c for r in results.values() for c in r.checks if c.id == i]
        rates[i] = sum(c.points >= c.max for c in got) / len(got) if got else 0.0
    mean = sum(r.score for r in results.values()) / len(results) if results else 0.0
    return rates, mean


def _cell(c) -> str:
    if c is None:
        return " "
    if c.points >= c.max:
        return CELL["pass"]
    worst = next((s for s in ("grader_error", "error", "fail", "not_started") if s in c.devices.values()), "fail")
    return CELL[worst]


def class_table(lesson: str, results: dict) -> str:
    """One row per student (score, then ✓ ✗ ! · per check), the pass rate of each check, the mean."""
    ids = check_ids(results)
    width = max([len(s) for s in results] + [10])
    cols = [max(len(i), 4) for i in ids]
    lines = [f"{'student':<{width}}  {'score':>9}  " + " ".join(f"{i:>{w}}" for i, w in zip(ids, cols))]
    lines.append("-" * len(lines[0]))
    for student, r in sorted(results.items()):
        by_id = {c.id: c for c in r.checks}
        lines.append(f"{student:<{width}}  {f'{r.score:g}/{r.max:g}':>9}  "
                     + " ".join(f"{_cell(by_id.get(i)):>{w}}" for i, w in zip(ids, cols))
                     + ("  (see notes)" if r.warnings else ""))
    rates, mean = class_summary(results)
    top = max((r.max for r in results.values()), default=0)
    lines.append("-" * len(lines[0]))
    lines.append(f"{'pass rate':<{width}}  {'':>9}  " + " ".join(f"{100 * rates[i]:>{w - 1}.0f}%" for i, w in zip(ids, cols)))
    lines.append(f"{'mean':<{width}}  {f'{mean:.1f}/{top:g}':>9}")
    lines.append("✓ full points  ✗ wrong  ! raised or hung  · not started  ‼ grader error")
    notes = [(s, w) for s, r in sorted(results.items()) for w in r.warnings]
    if notes:
        lines += ["", "notes:"] + [f"  {s}: {w}" for s, w in notes]
    return "\n".join(lines)


def class_json(lesson: str, results: dict) -> dict:
    return {"lesson": lesson, "students": {s: r.as_json() for s, r in sorted(results.items())}}


def write_csv(path: Path, lesson: str, results: dict) -> None:
    """One row per student, then two rows about the class: "(pass rate)" per check, "(mean)" score."""
    ids = check_ids(results)
    rates, mean = class_summary(results)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lesson", "score", "max", *ids])
        for student, r in sorted(results.items()):
            points = {c.id: c.points for c in r.checks}
            w.writerow([student, lesson, f"{r.score:g}", f"{r.max:g}", *(f"{points.get(i, 0):g}" for i in ids)])
        top = max((r.max for r in results.values()), default=0)
        w.writerow(["(pass rate)", lesson, "", "", *(f"{rates[i]:.3f}" for i in ids)])
        w.writerow(["(mean)", lesson, f"{mean:.3f}", f"{top:g}", *([""] * len(ids))])


def write_charts(folder: Path, lesson: str, results: dict) -> list[Path]:
    """scores.png (a histogram of the class's scores) and exercises.png (students × checks, the
    share of each check's points each student got): what an instructor looks at before reading."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if not results:
        return []
    students = sorted(results)
    ids = check_ids(results)
    top = max(r.max for r in results.values())
    scores = [results[s].score for s in students]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    bins = np.linspace(0, top, min(int(top), 20) + 1) if top else 1
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    ax.axvline(float(np.mean(scores)), color="#c62828", linestyle="--", label=f"mean {np.mean(scores):.1f}")
    ax.set(xlabel=f"score (out of {top:g})", ylabel="students", title=f"{lesson}: scores of {len(students)} students")
    ax.set_xlim(0, top or 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left")
    fig.tight_layout()
    histogram = folder / "scores.png"
    fig.savefig(histogram, dpi=110)
    plt.close(fig)

    share = np.full((len(students), len(ids)), np.nan)
    for row, s in enumerate(students):
        for c in results[s].checks:
            share[row, ids.index(c.id)] = c.points / c.max if c.max else 1.0
    fig, ax = plt.subplots(figsize=(1.6 + 0.42 * len(ids), 1.4 + 0.28 * len(students)))
    image = ax.imshow(share, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    rates, _ = class_summary(results)
    ax.set_xticks(range(len(ids)), [f"{i}\n{rates[i]:.0%}" for i in ids], fontsize=8)
    ax.set_xlabel("check, and the share of students with its full points")
    ax.set_yticks(range(len(students)), students)
    ax.set_title(f"{lesson}: points per check (green: full, red: none)")
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the points")
    fig.tight_layout()
    heat_map = folder / "exercises.png"
    fig.savefig(heat_map, dpi=110)
    plt.close(fig)
    return [histogram, heat_map]


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
