"""The `course` command (also `python -m autograder`): lab, check, release, grade, demo.

Imports stay inside the commands: `course check` starts its sandbox before anything imports torch.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autograder import lessons

ROOT = Path(__file__).resolve().parents[1]


class UserError(Exception):
    """A mistake in how the command was called: printed plainly, exit code 2."""


GRADER_FAULT_EXIT = 3     # the grader itself could not run: never a student's result


def _lesson(text: str) -> str:
    try:
        return lessons.resolve(text)
    except lessons.UnknownLesson as e:
        raise UserError(str(e))


def cmd_check(args) -> int:
    from autograder import notebook, report
    lesson = None if args.lesson == "all" else _lesson(args.lesson)
    if args.watch and lesson is None:
        raise UserError("--watch checks one lesson: name it (course check 06 --watch)")
    try:
        root = Path(args.path).resolve() if args.path else notebook.find_root()
    except FileNotFoundError as e:
        raise UserError(f"{e}. Run this inside your course folder, or pass --path.")
    if not (root / "course_pkg").is_dir():
        raise UserError(f"no course_pkg/ folder in {root}")
    if lesson is None:
        progress = notebook.lesson_progress(root, quick=not args.full)
        if args.json:
            print(report.dumps({"lessons": {l: r.as_json() for l, r in progress.results.items()},
                                "hidden_points": progress.hidden}))
        else:
            print(progress)
        return GRADER_FAULT_EXIT if any(r.grader_errors for r in progress.results.values()) else 0
    if args.watch:
        return _watch(lesson, root, args.json, quick=not args.full)
    return _check_once(lesson, root, args.json, quick=not args.full)


def _check_once(lesson: str, root: Path, as_json: bool, quick: bool = True) -> int:
    from autograder import engine, report
    try:
        result = engine.grade_submission(lesson, root, hidden=False, quick=quick)
    except engine.NoChecks as e:
        raise UserError(str(e))
    if as_json:
        print(report.dumps({"lesson": lesson, **result.as_json()}))
    else:
        print(report.text_table(result))
    return GRADER_FAULT_EXIT if result.grader_errors else 0


WATCH_POLL_S = 0.1


def _what_a_check_reads(root: Path, lesson: str) -> dict:
    """(mtime, size) of each file engine.copy_submission copies: course_pkg's and the lesson's notebook.
    Polled rather than watched with inotify: a dozen files, and no file events on many network homes."""
    from autograder.engine import lesson_notebooks
    files = [*lesson_notebooks(root, lesson),
             *(p for p in (root / "course_pkg").rglob("*") if "__pycache__" not in p.parts)]
    seen = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        seen[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return seen


def _watch(lesson: str, root: Path, as_json: bool, quick: bool = True) -> int:
    """Check, then check again on every save, with the next sandbox started while the student edits
    (engine.keep_warm, as in a notebook kernel): each check after the first waits only for its cases."""
    from datetime import datetime
    from autograder import engine
    warm = engine.warm_wanted()

    def stop(signum, frame):
        raise KeyboardInterrupt
    # Ctrl+C and SIGTERM end it with the spare sandbox and its folder, even when started with SIGINT
    # ignored (a background job of a script, which Python then leaves ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            before = _what_a_check_reads(root, lesson)
            code = _check_once(lesson, root, as_json, quick)
            if code == GRADER_FAULT_EXIT:
                return code
            if warm:
                engine.keep_warm(lesson=lesson)
            print(f"[{datetime.now():%H:%M:%S}] watching {root / 'course_pkg'} and {lesson}.ipynb: checking again "
                  "on every save (Ctrl+C to stop)", file=sys.stderr, flush=True)
            sys.stdout.flush()
            while _what_a_check_reads(root, lesson) == before:
                time.sleep(WATCH_POLL_S)
            time.sleep(WATCH_POLL_S)     # an editor that saves several files, or writes one in two steps
    except KeyboardInterrupt:
        return 0
    finally:
        engine.drop_spare()


def cmd_release(args) -> int:
    from autograder import release
    out = Path(args.out)
    print(f"building the student edition in {out}")
    try:
        release.release(out, notebooks=not args.no_notebooks, force=args.force)
    except release.ReleaseError as e:
        raise UserError(str(e))
    print(f"done: open it with `course lab --edition {out}`")
    return 0


def cmd_grade(args) -> int:
    from autograder import submission
    submission.skip_iri_grammar()
    from autograder import grade, report
    lesson = _lesson(args.lesson)
    submitted = Path(args.submitted)
    if not submitted.is_dir():
        raise UserError(f"no submissions folder at {submitted} (expected nbgrader's submitted/<student>/{lesson}/)")
    from autograder import gradebook
    recording = not args.no_gradebook and gradebook.is_course(Path.cwd(), submitted, lesson)
    if args.cluster:
        from autograder import cluster
        try:
            cluster.parse_address(args.cluster)
            cluster.require_dask()
        except (ValueError, ImportError) as e:
            raise UserError(str(e)) from e
    results = grade.grade_class(lesson, submitted, Path(args.out), jobs=args.jobs, progress=not args.json,
                                course_root=Path.cwd(), gradebook=recording, cluster=args.cluster)
    if args.json:
        print(report.dumps(report.class_json(lesson, results)))
    else:
        print(report.class_table(lesson, results))
        out = Path(args.out)
        print(f"\nwrote {out / 'grades.csv'}, the pictures {out / 'scores.png'} and {out / 'exercises.png'}, and "
              f"{len(results)} feedback files in {out / 'feedback'}")
        if recording:
            failed = sorted(s for s, r in results.items() if any("nbgrader could not record" in w for w in r.warnings))
            recorded = len(results) - len(failed)
            print(f"recorded {recorded} of {len(results)} submissions in nbgrader's gradebook.db (nbgrader's "
                  "autograde with these verdicts): formgrader, `nbgrader generate_feedback` and `nbgrader export` "
                  "see them" + (f"; NOT recorded: {', '.join(failed)} (why: in the notes above)" if failed else ""))
    return 0


def cmd_demo(args) -> int:
    from autograder import demo
    demo.run(Path(args.out), lesson=_lesson(args.lesson), jobs=args.jobs)
    return 0


def cmd_lab(args) -> int:
    edition = Path(args.edition).resolve()
    if not (edition / "course_pkg").is_dir():
        from autograder import release
        print(f"no student edition at {edition} yet: building it (course release --out {edition})")
        release.release(edition)
    env = dict(os.environ)
    # Kernels inherit this, so `import course_pkg` and `import autograder` find the edition's own.
    env["PYTHONPATH"] = os.pathsep.join([str(edition), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={edition}"]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")       # containers and CI machines often run as root
    print("starting JupyterLab:", " ".join(command))
    return subprocess.call(command, env=env, cwd=edition)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="The PyTorch autograd course: lessons, checks and grading.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("lab", help="open the student edition in JupyterLab (builds it first if missing)")
    p.add_argument("--edition", default=str(ROOT / "student"), help="student edition folder (default: ./student)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(run=cmd_lab)

    p = sub.add_parser("check", help="run the public checks of a lesson on your own course_pkg")
    p.add_argument("lesson", help="lesson id: 1, 01 or 01_tensors; `all` for every lesson's score and the total")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--path", help="folder holding course_pkg/ (default: this folder or the nearest above)")
    p.add_argument("--watch", action="store_true",
                   help="check again each time you save course_pkg/ or the lesson's notebook; keeps the next "
                        "sandbox started between checks (~250 MB; COURSE_KEEP_WARM=0 turns that off)")
    p.add_argument("--full", action="store_true",
                   help="also run the slow cases a quick check leaves out (lesson 10's accuracy run, ~1.5 s); "
                        "grading and a notebook's check cell always run them")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("release", help="build the student edition (stubs + nbgrader generate_assignment)")
    p.add_argument("--out", default="student", help="output folder (default: ./student)")
    p.add_argument("--no-notebooks", action="store_true", help="only the package and the public checks")
    p.add_argument("--force", action="store_true", help="overwrite an existing edition (and any work in it)")
    p.set_defaults(run=cmd_release)

    p = sub.add_parser("grade", help="grade every student in nbgrader's submitted/<student>/<lesson>/ layout")
    p.add_argument("lesson")
    p.add_argument("--submitted", default="submitted", help="submissions folder (default: ./submitted)")
    p.add_argument("--out", default="grades", help="where grades.csv and feedback/ go (default: ./grades)")
    p.add_argument("--jobs", type=int, default=2, help="students graded at once (default: 2)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: a scheduler address (tcp://host:8786) or local:N for N worker "
                        "processes here (--jobs is then ignored; needs the [cluster] extra)")
    p.add_argument("--json", action="store_true", help="print the class's results as JSON")
    p.add_argument("--no-gradebook", action="store_true",
                   help="do not write nbgrader's gradebook.db (written by default in an nbgrader course folder)")
    p.set_defaults(run=cmd_grade)

    p = sub.add_parser("demo", help="release, grade and print the table for a made-up class")
    p.add_argument("--out", default="demo", help="working folder (default: ./demo)")
    p.add_argument("--lesson", default="01_tensors")
    p.add_argument("--jobs", type=int, default=2)
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from autograder.results import GraderFault
    args = build_parser().parse_args(argv)
    if args.command in ("check", "grade"):
        from autograder import engine
        engine.only_grading()
    try:
        code = args.run(args)
        if argv is None and args.command == "check":
            # A student waits on this command. Tearing down torch at interpreter exit takes ~0.45 s,
            # and `check` leaves nothing to clean up (its sandbox and work folder are gone already).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except UserError as e:
        print(f"course {args.command}: {e}", file=sys.stderr)
        return 2
    except GraderFault as e:
        print(f"course {args.command}: the grader cannot run: {e}", file=sys.stderr)
        return GRADER_FAULT_EXIT
    except KeyboardInterrupt:
        return 130
