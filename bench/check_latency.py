"""Median wall time of `course check 01` against `python -c "import torch"`, side by side in one run.

    python bench/check_latency.py [--runs 7] [--lesson 01]

Goal: course check ≤ 1.2 × import torch. Runs alternate so load on the machine hits both.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lesson", default="01")
    args = parser.parse_args()
    check = [sys.executable, "-m", "autograder", "check", args.lesson]
    torch_import = [sys.executable, "-c", "import torch"]
    timed(torch_import), timed(check)          # warm the page cache for both
    checks, imports = [], []
    for _ in range(args.runs):
        imports.append(timed(torch_import))
        checks.append(timed(check))
    c, i = statistics.median(checks), statistics.median(imports)
    print(f"python -c 'import torch'   median {i:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in imports)})")
    print(f"course check {args.lesson:<13} median {c:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in checks)})")
    print(f"ratio                      {c / i:6.2f}x  (goal <= 1.5x)")


if __name__ == "__main__":
    main()
