"""Each lesson notebook run top to bottom in a fresh kernel: wall time, and the cells that take it.

    python bench/notebook_times.py [LESSON ...] [--slowest 3]

Goal (issue 17 / lessons/AUTHORING.md): every lesson <= 60 s on 2 cores, the capstone <= 5 min.
Check cells are timed apart from the rest, since they are where the grader's sandbox runs.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import PatientClient  # noqa: E402  (nbclient, with replies polled a second at a time)


class TimedClient(PatientClient):
    """Records each code cell's wall time (nbclient's own timing metadata is optional)."""

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        start = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        finally:
            self.times.append((time.perf_counter() - start, cell_index, "".join(cell.source)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--slowest", type=int, default=3)
    args = parser.parse_args()
    names = sorted(p.name for p in (ROOT / "lessons").iterdir() if (p / f"{p.name}.ipynb").is_file())
    names = [n for n in names if not args.lessons or any(n.startswith(l) for l in args.lessons)]
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for name in names:
        path = ROOT / "lessons" / name / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        client = TimedClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        client.times = []
        start = time.perf_counter()
        client.execute()
        total = time.perf_counter() - start
        checks = sum(t for t, _, src in client.times if src.lstrip().startswith("check("))
        goal = 300 if name.startswith("10") else 60
        print(f"{name:<13} {total:6.1f} s  (check cells {checks:5.1f} s, {len(client.times)} code cells)"
              f"  {'ok' if total <= goal else f'over the {goal} s goal'}")
        for t, index, src in sorted(client.times, reverse=True)[:args.slowest]:
            print(f"    {t:5.1f} s  cell {index}: {src.strip().splitlines()[0][:70] if src.strip() else ''}")


if __name__ == "__main__":
    main()
