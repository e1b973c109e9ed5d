"""`course grade --cluster`: the same class graded on a real Dask LocalCluster (worker processes, no
shared state with this one but the files it is sent) gives exactly what this machine's pool gives —
the same results, the same grades.csv bytes, the same feedback files — also when a worker dies
mid-batch, and a worker whose environment is broken stops the batch before anything is written.
"""
import os
import pickle
import sys
import time

import pytest

pytest.importorskip("distributed", reason="grading on a cluster needs dask[distributed] (pip install '.[cluster]')")

from distributed import Client, LocalCluster  # noqa: E402

from autograder import cli, cluster, submission  # noqa: E402
from autograder import grade as batch  # noqa: E402
from autograder.results import CheckResult, GraderFault, LessonResult  # noqa: E402
from tests import faults  # noqa: E402

LESSON = faults.LESSON
WRONG = """
    _right = tensor_summary
    def tensor_summary(t):
        d = _right(t)
        d["shape"] = list(t.shape)
        return d
"""


def files(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A small class graded on this machine: the instructor's solution, the blank student edition, a
    wrong answer, a student with no lesson folder, an unreadable notebook."""
    root = tmp_path_factory.mktemp("cluster")
    submitted = root / "submitted"
    faults.submit(submitted, "ada")
    faults.submit(submitted, "ben", package="blank")
    faults.submit(submitted, "cy", append=WRONG)
    (submitted / "dee").mkdir()
    faults._corrupt(submitted, "eve")
    started = time.perf_counter()
    results = batch.grade_class(LESSON, submitted, root / "here", jobs=2, progress=False, course_root=root)
    print(f"graded here in {time.perf_counter() - started:.1f} s")
    return dict(root=root, submitted=submitted, results=results, files=files(root / "here"))


def dask_cluster():
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")


def assert_same_as_here(course, results, out):
    here = course["results"]
    assert list(results) == list(here) == ["ada", "ben", "cy", "dee", "eve"]
    for student in here:
        assert results[student] == here[student], student          # every check's points, statuses, messages
    assert files(out) == course["files"]                              # grades.csv and feedback/*.html, byte for byte
    # and the class is what it should be, so that equality means something
    assert here["ada"].score == here["ada"].max > 0
    assert 0 < here["ben"].score < here["ben"].max
    assert {c.id for c in here["cy"].checks if c.points < c.max} == {"0.2"}
    assert "no 00_basics/ folder" in here["dee"].checks[0].message
    assert "cannot be read" in here["eve"].checks[0].message


def test_a_local_cluster_grades_exactly_as_this_machine(course):
    out = course["root"] / "local2"
    started = time.perf_counter()
    results = batch.grade_class(LESSON, course["submitted"], out, progress=False, course_root=course["root"],
                                cluster="local:2")
    print(f"graded on local:2 in {time.perf_counter() - started:.1f} s")
    assert_same_as_here(course, results, out)
    assert pickle.loads(pickle.dumps(results)) == results


def test_a_local_cluster_has_one_canary_and_it_can_stop_the_batch(course, monkeypatch):
    """The workers of local:N are this machine's own processes: the batch's one canary is a task beside
    the students', judged here as the local pool judges its own; a failing one stops the batch."""
    judged = []

    def canary_problem(result):
        judged.append(result)
        return "the instructor's own solution lost points (planted by this test). No grades were written"

    monkeypatch.setattr(submission, "canary_problem", canary_problem)
    out = course["root"] / "canary"
    with pytest.raises(GraderFault, match="planted by this test"):
        batch.grade_class(LESSON, course["submitted"], out, progress=False, course_root=course["root"],
                          cluster="local:2")
    assert len(judged) == 1 and judged[0].score == judged[0].max > 0     # one canary: the real solution's result
    assert not out.exists()


def finished_results_held_by_workers(dask_scheduler):
    return {ts.key: sorted(ws.address for ws in ts.who_has or ())
            for ts in dask_scheduler.tasks.values() if ts.state == "memory"}


def test_a_worker_lost_mid_batch_costs_nothing(course, monkeypatch):
    """After the first result, while the batch is not reading, a worker that holds a finished result
    nobody has read yet dies (its nanny starts a fresh one). That result is lost after the batch was
    told it was done, so reading it has to wait for the rerun, and this is run under another client
    made current by `with`, as an instructor's notebook may have: the results are still exactly this
    machine's."""
    killed = []
    with dask_cluster() as dask, Client(dask) as client:
        real = cluster.grade_all

        def kill_a_holder_after_the_first_result(*args):
            stream = real(*args)
            student, result = next(stream)
            read = f"-{list(args[2]).index(student)}"  # the key of the one result read so far
            yield student, result
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                held = client.run_on_scheduler(finished_results_held_by_workers)
                holders = [workers[0] for key, workers in sorted(held.items())
                           if workers and "canary" not in key and not key.endswith(read)]
                if holders:
                    time.sleep(0.5)                    # the batch's client has heard that it is done
                    client.run(os._exit, 1, workers=holders[:1], on_error="ignore")   # never answers
                    killed.append(holders[0])
                time.sleep(0.05)
            while killed and killed[0] in client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)                       # the result is lost before the batch reads on
            yield from stream

        monkeypatch.setattr(cluster, "grade_all", kill_a_holder_after_the_first_result)
        out = course["root"] / "killed"
        results = batch.grade_class(LESSON, course["submitted"], out, progress=False, course_root=course["root"],
                                    cluster=dask.scheduler_address)
        assert killed, "no worker held an unread result after the first one was read"
        assert killed[0] not in client.scheduler_info()["workers"]
    assert_same_as_here(course, results, out)


def test_a_broken_worker_stops_the_batch_and_nothing_is_written(course):
    """One of two workers cannot start a sandbox (its Python is gone): its canary fails, the batch
    stops with a grader fault naming that worker, and no student gets a zero for it."""
    with dask_cluster() as dask, Client(dask) as client:
        broken = sorted(client.scheduler_info()["workers"])[0]
        client.run(setattr, sys, "executable", "/nonexistent/venv/bin/python", workers=[broken])
        out = course["root"] / "broken"
        with pytest.raises(GraderFault) as caught:
            batch.grade_class(LESSON, course["submitted"], out, progress=False, course_root=course["root"],
                              cluster=dask.scheduler_address)
    said = str(caught.value)
    assert broken in said and "could not start Python" in said, said
    assert not out.exists()


def test_the_worker_checks_its_grader_version_and_its_canary(monkeypatch):
    with pytest.raises(GraderFault, match="different version of the course"):
        cluster.check_worker(LESSON, b"s", "batch-a", "0" * 16)
    with pytest.raises(GraderFault, match="different version of the course"):    # kept for the batch
        cluster.check_worker(LESSON, b"s", "batch-a", cluster.grader_fingerprint(LESSON))
    lost = LessonResult(LESSON, [CheckResult("0.1", "pick_device", 0.0, 1.0, False, "exercise", {"cpu": "fail"},
                                             "returned a string")])
    monkeypatch.setattr(submission, "grade_canary", lambda lesson, secret: lost)
    for _ in range(2):                      # the verdict is kept for the batch: every later task says it too
        with pytest.raises(GraderFault, match="instructor's own solution lost points"):
            cluster.check_worker(LESSON, b"s", "batch-b", cluster.grader_fingerprint(LESSON))


def test_pack_carries_what_grading_reads_and_nothing_else(tmp_path):
    folder = faults.submit(tmp_path / "submitted", "ada")
    (folder / "course_pkg" / "__pycache__").mkdir()
    (folder / "course_pkg" / "__pycache__" / "basics.cpython-311.pyc").write_bytes(b"\0" * 10)
    (folder / "course_pkg" / "elsewhere.py").symlink_to("/etc/hostname")
    (folder / "big-data.bin").write_bytes(b"\0" * 2**20)        # never read by grading: not sent
    entries = cluster.pack(folder, LESSON)
    dest = tmp_path / "unpacked" / LESSON
    cluster.unpack(entries, dest)
    assert os.readlink(dest / "course_pkg" / "elsewhere.py") == "/etc/hostname"
    assert not (dest / "course_pkg" / "__pycache__").exists() and not (dest / "big-data.bin").exists()
    assert (dest / f"{LESSON}.ipynb").read_bytes() == (folder / f"{LESSON}.ipynb").read_bytes()
    assert files(dest / "course_pkg") == {k: v for k, v in files(folder / "course_pkg").items()
                                          if "__pycache__" not in k and k != "elsewhere.py"}
    assert cluster.pack(tmp_path / "nobody" / LESSON, LESSON) is None


def test_a_submission_too_large_to_send_is_that_students_result(tmp_path, monkeypatch):
    folder = faults.submit(tmp_path / "submitted", "ada")
    monkeypatch.setattr(cluster, "MAX_SHIPPED_BYTES", 1000)
    with pytest.raises(cluster.TooLarge, match="larger than the grader accepts"):
        cluster.pack(folder, LESSON)


def test_cluster_addresses_and_clear_errors(tmp_path, monkeypatch, capsys):
    assert cluster.parse_address("local:3") == ("local", 3)
    assert cluster.parse_address("tcp://10.0.0.5:8786") == ("scheduler", None)
    (tmp_path / "submitted").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["grade", LESSON, "--cluster", "local:0"]) == 2
    assert "at least one worker" in capsys.readouterr().err
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    faults.submit(tmp_path / "submitted", "ada")
    assert cli.main(["grade", LESSON, "--cluster", "tcp://127.0.0.1:9", "--json"]) == cli.GRADER_FAULT_EXIT
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "grades").exists()
