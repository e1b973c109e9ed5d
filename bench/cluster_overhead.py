"""The cluster path's overhead on one machine: the same class graded by `course grade --jobs 2` (a
thread pool here) and by `course grade --cluster local:2` (a Dask LocalCluster of two one-thread
worker processes, started and closed by the command), side by side in one run.

    python bench/cluster_overhead.py [--students 20] [--lesson 00_basics] [--workers 2] [--rounds 1]

Both commands run whole, as an instructor runs them (start-up, canaries, writing grades included);
with --rounds > 1 they alternate and each one's best time counts, so that a burst of load from
elsewhere on the machine does not decide the ratio. Both must write the same grades.csv.
Goal: the cluster path within 15 % of the local one.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
# Both commands (and the cluster's worker processes) grade with this checkout's package.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

from grading_throughput import BUGS, build, timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--lesson", default="00_basics")
    parser.add_argument("--workers", type=int, default=2, help="--jobs here and local:N workers there")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    n, w = args.students, args.workers
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        build(course, args.lesson, n, plain=False)
        runs = {"here": ["--jobs", str(w)], "cluster": ["--cluster", f"local:{w}"]}
        best = {name: (float("inf"), 0.0, 0.0) for name in runs}
        csv = {}
        for _ in range(args.rounds):
            for name, extra in runs.items():
                out = course / f"grades-{name}"
                command = [sys.executable, "-m", "autograder", "grade", args.lesson, "--submitted",
                           str(course / "submitted"), "--out", str(out), *extra]
                best[name] = min(best[name], timed(command, course))
                csv[name] = (out / "grades.csv").read_bytes()
        if csv["here"] != csv["cluster"]:
            raise SystemExit("the two paths wrote different grades.csv files")
    (t_here, m_here, _), (t_cluster, m_cluster, _) = best["here"], best["cluster"]
    print(f"class: {n} submissions of {args.lesson} ({len(BUGS)} kinds: correct, two buggy, allclose patch); "
          f"best of {args.rounds} round(s); same grades.csv: yes")
    print(f"course grade --jobs {w}          : {t_here:7.1f} s  {60 * n / t_here:6.1f} submissions/min  "
          f"peak {m_here:6.0f} MiB")
    print(f"course grade --cluster local:{w} : {t_cluster:7.1f} s  {60 * n / t_cluster:6.1f} submissions/min  "
          f"peak {m_cluster:6.0f} MiB")
    print(f"overhead of the cluster path   : {100 * (t_cluster / t_here - 1):+6.1f} %  (goal <= 15 %)")


if __name__ == "__main__":
    main()
