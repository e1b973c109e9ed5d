"""Median wall time of `course check LESSON` against `python -c "import torch"`, side by side in one run.

    python bench/check_latency.py [--runs 7] [--lesson 01] [--compare-with OTHER_CHECKOUT]

--compare-with also times `course check` from another checkout of the course (an older commit, say),
in the same alternation, so a change's cost is measured against the same load.
Goal: course check ≤ 1.2 × import torch. Runs alternate so load on the machine hits all of them.
"""
import argparse
import os
import statistics
import subprocess
import sys
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
    parser.add_argument("--lesson", default="01")
    parser.add_argument("--compare-with", type=Path, help="another checkout of the course to time as well")
    args = parser.parse_args()
    check = [sys.executable, "-m", "autograder", "check", args.lesson, "--path", str(ROOT)]
    torch_import = [sys.executable, "-c", "import torch"]
    runs = {"python -c 'import torch'": (torch_import, ROOT), f"course check {args.lesson}": (check, ROOT)}
    if args.compare_with:
        other = args.compare_with.resolve()
        runs[f"course check {args.lesson} ({other.name})"] = (check[:-1] + [str(other)], other)
    times = {name: [] for name in runs}
    for command, root in runs.values():
        timed(command, root)                   # warm the page cache
    for _ in range(args.runs):
        for name, (command, root) in runs.items():
            times[name].append(timed(command, root))
    base = statistics.median(times["python -c 'import torch'"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:<34} median {m:6.2f} s  {m / base:5.2f}x  (runs: {', '.join(f'{t:.2f}' for t in ts)})")
    print("goal: course check <= 1.2x import torch")


if __name__ == "__main__":
    main()
