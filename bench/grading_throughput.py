"""Submissions per minute: plain `nbgrader autograde` (tests run in the student's kernel) against
`course grade` (trusted judge, sandboxed probes, isolation on), on the same class, in one run.

    python bench/grading_throughput.py [--students 50] [--lesson 00_basics] [--jobs 2] [--compare-with OTHER]

The plain pipeline grades the same notebooks with the course's check cells rewritten as in-kernel
tests: each public case is called in the student's kernel and compared there, which is how
nbgrader-style tests work. Also prints the peak memory of each (its whole process tree, sandboxes
included): proportional set size, and the sum of resident sets as an upper bound.
Goal: ours ≥ 10× plain; peak ≤ 1.5 GiB with 2 jobs. --compare-with also times `course grade` from
another checkout of the course (an older commit, say) on the same class, in the same run.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.sandbox import tree_memory_mb  # noqa: E402

IN_KERNEL_CHECK = '''
def check(lesson, *ids, hidden=False):
    """Plain nbgrader style: run the public cases in this kernel and assert on the comparison."""
    import importlib, torch
    from autograder import checks, compare
    module = checks.load(lesson)
    for c in module.CHECKS:
        if c.id not in ids:
            continue
        gen = torch.Generator().manual_seed(0)
        for case in c.make_cases(gen, torch.device("cpu")):
            if case.probe != "call":
                continue
            mod, _, name = case.params["target"].rpartition(".")
            fn = getattr(importlib.import_module("course_pkg." + mod), name)
            got = fn(*case.params["args"], **case.params["kwargs"])
            rec = lambda v: {"__tensor__": v} if isinstance(v, torch.Tensor) else v
            assert case.judge({"value": rec(got), "args_after": {"__seq__": [rec(a) for a in case.params["args"]]}}) is None
'''

BUGS = [
    "",                                                    # correct
    "def pick_device():\n    return 'cpu'\n",
    "_r = tensor_summary\ndef tensor_summary(t):\n    d = _r(t)\n    d['shape'] = list(t.shape)\n    return d\n",
    "import torch\ntorch.allclose = lambda *a, **k: True\n",
]


def build(course: Path, lesson: str, students: int, plain: bool):
    (course / "lessons").mkdir(parents=True)
    shutil.copytree(ROOT / "lessons" / lesson, course / "lessons" / lesson)
    source = course / "lessons" / lesson / f"{lesson}.ipynb"
    if plain:
        nb = nbformat.read(source, as_version=4)
        nb.cells.insert(1, new_code_cell(IN_KERNEL_CHECK))
        nbformat.write(nb, source)
        (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.source_directory = "lessons"\n')
    else:
        shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--force"], cwd=course,
                   check=True, capture_output=True)
    for i in range(students):
        folder = course / "submitted" / f"s{i:03d}" / lesson
        folder.mkdir(parents=True)
        shutil.copytree(ROOT / "course_pkg", folder / "course_pkg", ignore=shutil.ignore_patterns("__pycache__"))
        bug = BUGS[i % len(BUGS)]
        if bug:
            path = folder / "course_pkg" / "basics.py"
            path.write_text(path.read_text() + "\n\n" + textwrap.dedent(bug))
        shutil.copyfile(source, folder / f"{lesson}.ipynb")


def timed(command, cwd, env=None) -> tuple[float, float, float]:
    """Wall seconds, and the peak memory (MiB) of the command's whole process tree: proportional
    set size (the memory it really holds) and the sum of resident sets (an upper bound)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pss = rss = 0.0
    while proc.poll() is None:
        pss = max(pss, tree_memory_mb(proc.pid))
        rss = max(rss, tree_memory_mb(proc.pid, proportional=False))
        time.sleep(0.05)
    if proc.returncode:
        raise SystemExit(f"{command} failed with {proc.returncode}")
    return time.perf_counter() - start, pss, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--lesson", default="00_basics")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compare-with", type=Path, help="another checkout of the course to time as well")
    args = parser.parse_args()
    n = args.students
    print(f"class: {n} submissions of {args.lesson} ({len(BUGS)} kinds: correct, two buggy, allclose patch)")
    graders = {f"course grade --jobs {args.jobs}": ROOT}
    if args.compare_with:
        graders[f"the same from {args.compare_with.resolve().name}"] = args.compare_with.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain"
        build(plain, args.lesson, n, plain=True)
        t_plain, m_plain, r_plain = timed([sys.executable, "-m", "nbgrader", "autograde", args.lesson], plain)
        print(f"{'plain nbgrader autograde':<34}: {t_plain:7.1f} s  {60 * n / t_plain:6.1f} submissions/min  "
              f"peak {m_plain:6.0f} MiB (resident sets summed: {r_plain:.0f} MiB)", flush=True)
        for i, (name, checkout) in enumerate(graders.items()):
            course = Path(tmp) / f"course{i}"
            build(course, args.lesson, n, plain=False)
            env = {**os.environ, "PYTHONPATH": str(checkout)}      # whose autograder `-m autograder` runs
            t, m, r = timed([sys.executable, "-m", "autograder", "grade", args.lesson, "--submitted",
                             str(course / "submitted"), "--out", str(course / "grades"), "--jobs", str(args.jobs)],
                            course, env)
            print(f"{name:<34}: {t:7.1f} s  {60 * n / t:6.1f} submissions/min  peak {m:6.0f} MiB "
                  f"(resident sets summed: {r:.0f} MiB)  {t_plain / t:5.2f}x plain", flush=True)
    print("goal: course grade >= 10x plain nbgrader; peak <= 1536 MiB")


if __name__ == "__main__":
    main()
