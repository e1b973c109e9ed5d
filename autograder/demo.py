"""`course demo`: the instructor's round trip on a made-up class, start to finish.

release the student edition → fill nbgrader's submitted/<student>/01_tensors/ with a solution, a
blank, two buggy and three hostile students → grade → print the table. Nothing outside OUT is touched.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from autograder import grade, release, report

# Each made-up student: the source appended to course_pkg/tensors.py (a def replaces the solution's).
STUDENTS = {
    "ada_solution": "",
    "ben_blank": None,   # the student edition, untouched
    "cy_ties_up": """
        def round_half_even(x):
            return torch.floor(x + 0.5)          # rounds every tie up
    """,
    "dee_matmul_2d": """
        def matmul(a, b):
            return (a.unsqueeze(-1) * b.unsqueeze(0)).sum(1)   # only right for 2-D @ 2-D
    """,
    "eve_patches_allclose": """
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        def round_half_even(x):
            print("PASSED")
            return x
    """,
    "fay_exits": """
        import os
        os._exit(0)
    """,
    "gus_hangs": """
        def histc(input, bins=100, min=0, max=0):
            while True:
                pass
    """,
}


def build_class(out: Path, lesson: str, edition: Path) -> Path:
    submitted = out / "submitted"
    if submitted.exists():
        shutil.rmtree(submitted)
    for student, change in STUDENTS.items():
        folder = submitted / student / lesson
        source = release.ROOT if change is not None else edition
        pkg_src = source / "course_pkg"
        shutil.copytree(pkg_src, folder / "course_pkg", ignore=shutil.ignore_patterns("__pycache__"))
        notebook = (release.ROOT / "lessons" / lesson / f"{lesson}.ipynb" if change is not None
                    else edition / lesson / f"{lesson}.ipynb")
        if notebook.is_file():
            shutil.copyfile(notebook, folder / f"{lesson}.ipynb")
        if change:
            module = folder / "course_pkg" / "tensors.py"
            module.write_text(module.read_text() + "\n\n" + textwrap.dedent(change))
    return submitted


def run(out: Path, lesson: str = "01_tensors", jobs: int = 2) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"1. course release --out {out / 'student'}")
    edition = release.release(out / "student", log=lambda m: print(m), force=True)   # the demo's own folder
    print(f"2. a made-up class of {len(STUDENTS)} in {out / 'submitted'}")
    submitted = build_class(out, lesson, edition)
    print(f"3. course grade {lesson} --submitted {submitted} --out {out / 'grades'}")
    results = grade.grade_class(lesson, submitted, out / "grades", jobs=jobs, course_root=out)
    print()
    print(report.class_table(lesson, results))
    print(f"\ngrades: {out / 'grades' / 'grades.csv'}; feedback: {out / 'grades' / 'feedback'}/<student>.html")
    return results
