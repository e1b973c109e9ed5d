"""Grade a whole class: every `submitted/<student>/<lesson>/` folder, in parallel, one sandbox each.

A submission that crashes, hangs or misbehaves costs only its own result: each student is graded in
its own sandboxed process. The grader's own faults are never a student's zero: the instructor's
solution is graded in the same batch as a canary and must score full marks, and a sandbox that
cannot start or a check that cannot be judged stops the batch (GraderFault) before anything is written.

The same batch runs on a Dask cluster with `cluster=` (autograder/cluster.py): only the dispatch
differs, the results are gathered and written here either way.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import lessons, report, submission
from autograder import gradebook as nbgrader_gradebook
from autograder.results import GraderFault, LessonResult
from autograder.secret import grading_secret

def students_of(submitted: Path, lesson: str) -> dict[str, Path]:
    """student name -> their lesson folder (which may be missing: that is reported, not skipped)."""
    return {d.name: d / lesson for d in sorted(Path(submitted).iterdir())
            if d.is_dir() and not d.name.startswith(".")}


def grade_class(lesson: str, submitted: Path, out: Path, jobs: int = 2, progress: bool = True,
                course_root: Path | None = None, gradebook: bool = True,
                cluster: str | None = None) -> dict[str, LessonResult]:
    """Grade every student in parallel; write grades.csv and feedback/<student>.html into `out`, and,
    where `course_root` is an nbgrader course grading its own submitted/, its gradebook.db.

    cluster: a Dask scheduler address or `local:N` to grade on a Dask cluster (autograder/cluster.py)
    instead of `jobs` threads here; the results are written the same way.

    Raises GraderFault (and writes nothing) when the grader cannot be trusted on this batch."""
    lesson = lessons.resolve(lesson)
    submitted, out = Path(submitted), Path(out)
    if not submitted.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submitted}")
    course_root = Path(course_root or submitted.parent)
    secret = grading_secret(course_root)
    folders = students_of(submitted, lesson)
    staged = (nbgrader_gradebook.StagedGradebook(course_root, lesson)
              if gradebook and nbgrader_gradebook.is_course(course_root, submitted, lesson) else None)
    try:
        results = _grade_all(lesson, folders, secret, jobs, progress, cluster, staged.add if staged else None)
        broken = [(s, c) for s, r in results.items() for c in r.grader_errors]
        if broken:
            raise GraderFault("the grader could not judge " + "; ".join(
                f"{s}'s {c.id} ({c.message[:200]})" for s, c in broken[:5]) + ". No grades were written")
        if staged:
            for student, problem in staged.commit(results).items():
                results[student].warnings.append(f"nbgrader could not record this submission: {problem}")
    finally:
        if staged:
            staged.discard()
    out.mkdir(parents=True, exist_ok=True)
    report.write_csv(out / "grades.csv", lesson, results)
    report.write_charts(out, lesson, results)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for student, result in results.items():
        (feedback / f"{student}.html").write_text(report.feedback_html(student, result))
    return results


def _grade_all(lesson, folders, secret, jobs, progress, cluster=None, on_result=None) -> dict[str, LessonResult]:
    """Every student's result, in the order of `folders`, from this machine's pool or a Dask cluster
    (autograder/cluster.py); either stops at the first grader fault. on_result(student, result) is
    called in this thread as each arrives, while the rest are still being graded."""
    results: dict[str, LessonResult] = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(folders), desc=f"grading {lesson}", unit="student")
    if cluster:
        from autograder import cluster as dask_cluster
        stream = dask_cluster.grade_all(cluster, lesson, folders, secret)
    else:
        stream = _grade_here(lesson, folders, secret, jobs)
    try:
        for student, result in stream:
            results[student] = result
            if on_result:
                on_result(student, result)
            if bar:
                bar.update(1)
    finally:
        stream.close()
        if bar:
            bar.close()
    return {student: results[student] for student in folders}


def _grade_here(lesson, folders, secret, jobs):
    """(student, result) as this machine's pool finishes them: the class and the canary in one pool;
    the first grader fault cancels what has not started."""
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(submission.grade_canary, lesson, secret): submission.CANARY}
        futures.update({pool.submit(submission.grade_one, lesson, folder, secret): student for student, folder in folders.items()})
        for future in as_completed(futures):
            who = futures[future]
            result = future.result()          # a GraderFault stops the batch here
            if who == submission.CANARY:
                problem = submission.canary_problem(result)
                if problem:
                    raise GraderFault(problem)
                continue
            yield who, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
