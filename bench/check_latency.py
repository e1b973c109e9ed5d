"""Median wall time of `course check LESSON` against `python -c "import torch"`, side by side in one run.

    python bench/check_latency.py [--runs 7] [--lesson 01 [02 …]] [--compare-with OTHER_CHECKOUT] [--full] [--watch]

--compare-with also times `course check` from another checkout of the course (an older commit, say),
in the same alternation, so a change's cost is measured against the same load.
Goal: course check ≤ 1.2 × import torch. Runs alternate so load on the machine hits all of them.
(torch.optim's first use imports torch._dynamo, as long again as torch: both sides of a check put
sandboxed/lazy_dynamo.py's stand-in in its place, so the lessons that step optimizers share the floor.)
--full also times `course check LESSON --full` (with the slow cases a quick check leaves out: lesson 10's
accuracy run).
--watch also times `course check LESSON --watch` on a copy of the course: from saving a file in
course_pkg/ to the new verdict, `--runs` saves `--gap` seconds apart (a student edits in between).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command, root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    start = time.perf_counter()
    subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lesson", nargs="+", default=["01"])
    parser.add_argument("--compare-with", type=Path, help="another checkout of the course to time as well")
    parser.add_argument("--full", action="store_true", help="also time `course check LESSON --full`")
    parser.add_argument("--watch", action="store_true", help="also time a check after a save in --watch mode")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between saves with --watch")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    runs = {"python -c 'import torch'": ([sys.executable, "-c", "import torch"], ROOT)}
    for lesson in args.lesson:
        check = [sys.executable, "-m", "autograder", "check", lesson, "--path", str(ROOT)]
        runs[f"course check {lesson}"] = (check, ROOT)
        if args.full:
            runs[f"course check {lesson} --full"] = (check + ["--full"], ROOT)
        if args.compare_with:
            other = args.compare_with.resolve()
            runs[f"course check {lesson} ({other.name})"] = (check[:-1] + [str(other)], other)
    times = {name: [] for name in runs}
    for command, root in runs.values():
        timed(command, root)                   # warm the page cache
    for _ in range(args.runs):
        for name, (command, root) in runs.items():
            times[name].append(timed(command, root))
    base = statistics.median(times["python -c 'import torch'"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:<40} median {m:6.2f} s  {m / base:5.2f}x  (runs: {', '.join(f'{t:.2f}' for t in ts)})")
    if args.watch:
        for lesson in args.lesson:
            ts = watched(lesson, args.runs, args.gap)
            m = statistics.median(ts)
            print(f"{'course check ' + lesson + ' --watch, a save':<40} median {m:6.2f} s  {m / base:5.2f}x  "
                  f"(runs: {', '.join(f'{t:.2f}' for t in ts)})")
    print("goal: course check <= 1.2x import torch")


def watched(lesson: str, saves: int, gap: float) -> list[float]:
    """Seconds from each save to the verdict it causes, in one `course check LESSON --watch`."""
    from tests.support import make_submission
    with tempfile.TemporaryDirectory() as folder:
        work = make_submission(Path(folder))
        watch = subprocess.Popen([sys.executable, "-m", "autograder", "check", lesson, "--watch", "--path", str(work)],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)

        def verdict():      # the line the watcher prints after each verdict
            while "watching" not in watch.stderr.readline():
                if watch.poll() is not None:
                    raise SystemExit(f"course check {lesson} --watch stopped (exit {watch.returncode})")

        try:
            verdict()
            times = []
            target = next((work / "course_pkg").glob("*.py"))
            for _ in range(saves):
                time.sleep(gap)
                start = time.perf_counter()
                with open(target, "a") as f:
                    f.write("\n")
                verdict()
                times.append(time.perf_counter() - start)
        finally:
            watch.terminate()
            watch.wait()
        return times


if __name__ == "__main__":
    main()
