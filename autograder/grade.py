"""Grade a whole class: every `submitted/<student>/<lesson>/` folder, in parallel, one sandbox each.

A submission that crashes, hangs or misbehaves costs only its own result: each student is graded
in its own sandboxed process, and anything unexpected while grading one student becomes that
student's error line, never the batch's.
"""
from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import engine, lessons, report
from autograder import gradebook as nbgrader_gradebook

SECRET_FILE = ".grading_secret"


def grading_secret(course_root: Path) -> bytes:
    """The seed of hidden checks: COURSE_GRADING_SECRET, else a file made once in the course folder.

    The same secret gives the same hidden inputs, so grading twice gives identical results, while
    students (who never see the file) cannot know the inputs in advance.
    """
    if os.environ.get("COURSE_GRADING_SECRET"):
        return os.environ["COURSE_GRADING_SECRET"].encode()
    path = Path(course_root) / SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def students_of(submitted: Path, lesson: str) -> dict[str, Path]:
    """student name -> their lesson folder (which may be missing: that is reported, not skipped)."""
    return {d.name: d / lesson for d in sorted(Path(submitted).iterdir())
            if d.is_dir() and not d.name.startswith(".")}


def _failed(lesson: str, reason: str) -> engine.LessonResult:
    from autograder import checks as checks_pkg
    results = [engine.CheckResult(c.id, c.title, 0.0, float(c.points), c.hidden, {}, reason)
               for c in checks_pkg.load(lesson).CHECKS]
    return engine.LessonResult(lesson, results, [reason])


def notebook_problem(lesson: str, folder: Path) -> str | None:
    """Why the submitted lesson notebook cannot be graded, if the lesson has one (as nbgrader sees it)."""
    from autograder import release
    if not (release.ROOT / "lessons" / lesson / f"{lesson}.ipynb").is_file():
        return None
    path = folder / f"{lesson}.ipynb"
    if not path.is_file():
        return f"no {lesson}.ipynb was submitted"
    try:
        import nbformat
        nbformat.read(path, as_version=4)
    except Exception as e:
        return f"{lesson}.ipynb cannot be read: {type(e).__name__}: {str(e)[:200]}"
    return None


def grade_one(lesson: str, folder: Path, secret: bytes) -> engine.LessonResult:
    if not folder.is_dir():
        return _failed(lesson, f"no {lesson}/ folder was submitted")
    # nbgrader gives a submission whose notebook is missing or unreadable no points; so do we.
    problem = notebook_problem(lesson, folder)
    if problem:
        return _failed(lesson, problem)
    try:
        return engine.grade_submission(lesson, folder, hidden=True, secret=secret)
    except Exception as e:   # the grader's own trouble with this one submission: report, go on
        return _failed(lesson, f"the grader could not grade this submission: {type(e).__name__}: {e}")


def grade_class(lesson: str, submitted: Path, out: Path, jobs: int = 2, progress: bool = True,
                course_root: Path | None = None, gradebook: bool = True) -> dict[str, engine.LessonResult]:
    """Grade every student in parallel; write grades.csv and feedback/<student>.html into `out`, and,
    where `course_root` is an nbgrader course grading its own submitted/, its gradebook.db."""
    lesson = lessons.resolve(lesson)
    submitted, out = Path(submitted), Path(out)
    if not submitted.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submitted}")
    course_root = Path(course_root or submitted.parent)
    secret = grading_secret(course_root)
    folders = students_of(submitted, lesson)
    results: dict[str, engine.LessonResult] = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(folders), desc=f"grading {lesson}", unit="student")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, lesson, folder, secret): student for student, folder in folders.items()}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    if gradebook and nbgrader_gradebook.is_course(course_root, submitted, lesson):
        for student, problem in nbgrader_gradebook.record(course_root, lesson, results).items():
            results[student].warnings.append(f"nbgrader could not record this submission: {problem}")
    out.mkdir(parents=True, exist_ok=True)
    report.write_csv(out / "grades.csv", lesson, results)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for student, result in results.items():
        (feedback / f"{student}.html").write_text(report.feedback_html(student, result))
    return results
