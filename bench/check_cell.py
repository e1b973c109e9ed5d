"""Median wall time of a notebook check cell, in a real kernel with torch imported, with the sandbox
started ahead of need (the default) and without it (COURSE_KEEP_WARM=0), side by side in one run.

    python bench/check_cell.py [--runs 7] [--gap 5] [--cell 'check("01_tensors", "1.4")']

Each kernel runs the lesson's setup cell, then the check cell `--runs` times, `--gap` seconds apart
(a student reads the verdict and edits the code in between); the two kernels alternate, so load on
the machine hits both. Goal: median <= 0.3 s.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
SETUP = """
import sys, pathlib
ROOT = next(p for p in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents] if (p / "course_pkg").is_dir())
sys.path.insert(0, str(ROOT))
import torch
from autograder.notebook import check
"""


def run(client, code: str) -> float:
    start = time.perf_counter()
    reply = client.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed in the kernel: {reply['content'].get('evalue')}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--gap", type=float, default=5.0, help="seconds between two presses of the cell")
    parser.add_argument("--cell", default='check("01_tensors", "1.4")')
    args = parser.parse_args()
    lesson = args.cell.split('"')[1]
    kernels = {}
    for name, warm in (("started ahead of need", "1"), ("started by the cell (COURSE_KEEP_WARM=0)", "0")):
        env = {**os.environ, "COURSE_KEEP_WARM": warm, "PYTHONPATH": str(ROOT)}
        manager, client = start_new_kernel(cwd=str(ROOT / "lessons" / lesson), env=env, kernel_name="python3")
        run(client, SETUP)
        kernels[name] = (manager, client)
    times = {name: [] for name in kernels}
    try:
        for _ in range(args.runs):
            for name, (_, client) in kernels.items():
                time.sleep(args.gap)
                times[name].append(run(client, args.cell))
    finally:
        for manager, client in kernels.values():
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    print(f"{args.cell} in a kernel, {args.runs} runs {args.gap:g} s apart, {os.cpu_count()} cores, {sys.version.split()[0]}")
    for name, ts in times.items():
        print(f"  sandbox {name:<42} median {statistics.median(ts):5.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ts)})")
    print("goal: median <= 0.3 s")


if __name__ == "__main__":
    main()
