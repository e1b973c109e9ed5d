"""The `course` command: help, clear errors for bad input, JSON output."""
import json
import subprocess
import sys

from tests.support import ROOT


def course(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_help_lists_every_command():
    out = course("--help")
    assert out.returncode == 0
    for command in ("lab", "check", "release", "grade", "demo"):
        assert command in out.stdout


def test_bad_lesson_id_is_a_clear_error():
    out = course("check", "42")
    assert out.returncode == 2
    assert "unknown lesson '42'" in out.stderr and "01_tensors" in out.stderr


def test_missing_submissions_folder_is_a_clear_error(tmp_path):
    out = course("grade", "01", "--submitted", str(tmp_path / "nope"))
    assert out.returncode == 2 and "no submissions folder" in out.stderr


def test_check_outside_a_course_folder(tmp_path):
    out = course("check", "1", cwd=tmp_path)
    assert out.returncode == 2 and "no course_pkg/" in out.stderr


def test_check_json_on_the_instructor_tree():
    out = course("check", "tensors", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["lesson"] == "01_tensors" and result["score"] == result["max"] > 0


def test_grade_json_matches_the_contract(tmp_path):
    from tests.support import add_notebook, make_submission
    sub = add_notebook(make_submission(tmp_path), "00_basics")
    (tmp_path / "submitted" / "ada").mkdir(parents=True)
    sub.rename(tmp_path / "submitted" / "ada" / "00_basics")
    out = course("grade", "0", "--submitted", str(tmp_path / "submitted"), "--out", str(tmp_path / "out"),
                 "--json", "--jobs", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["lesson"] == "00_basics"
    ada = data["students"]["ada"]
    assert {"score", "max", "exercises"} <= set(ada)
    for exercise in ada["exercises"].values():
        assert {"points", "max", "devices", "message"} <= set(exercise)
        assert set(exercise["devices"].values()) <= {"pass", "fail", "error"}
    assert (tmp_path / "out" / "grades.csv").exists() and (tmp_path / "out" / "feedback" / "ada.html").exists()


def test_check_watch_checks_again_on_each_save_and_cleans_up_on_ctrl_c(tmp_path):
    """`course check 00 --watch`: a verdict, then a new one after each save (with the sandbox started
    while the student edits), and Ctrl+C ends it with nothing left behind: no runner, no work folder."""
    import glob
    import queue
    import signal
    import tempfile
    import threading
    from tests.support import add_notebook, make_submission
    sub = add_notebook(make_submission(tmp_path), "00_basics")
    folders = set(glob.glob(f"{tempfile.gettempdir()}/course-check-*"))
    watch = subprocess.Popen([sys.executable, "-m", "autograder", "check", "00", "--watch", "--path", str(sub)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watch.stdout], daemon=True).start()
    threading.Thread(target=lambda: [lines.put(line) for line in watch.stderr], daemon=True).start()

    def next_verdict():
        said = []
        while True:
            said.append(lines.get(timeout=120))
            if said[-1].startswith("[") and "watching" in said[-1]:
                return "".join(said)

    try:
        assert "00_basics: 3 / 3 points" in next_verdict()
        basics = sub / "course_pkg" / "basics.py"
        basics.write_text(basics.read_text() + "\n\ndef tensor_summary(t):\n    return {}\n")
        second = next_verdict()
        assert "00_basics: 2 / 3 points" in second and "tensor_summary" in second
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=60) == 0
    finally:
        watch.kill()
    assert set(glob.glob(f"{tempfile.gettempdir()}/course-check-*")) <= folders


def test_check_watch_needs_one_lesson():
    out = course("check", "all", "--watch")
    assert out.returncode == 2 and "--watch checks one lesson" in out.stderr


def test_check_10_leaves_out_the_accuracy_run_unless_full():
    """A quick `course check 10` skips 10.3's ten-epoch accuracy run and says how to run it; --full runs it."""
    quick, full = course("check", "10"), course("check", "10", "--full")
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert "not run by this quick check, for 10.3" in quick.stdout and "--full" in quick.stdout, quick.stdout
    assert "trained 10 epochs" in quick.stdout
    assert "not run by this quick check" not in full.stdout, full.stdout
