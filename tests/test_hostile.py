"""Hostile submissions gain nothing and break nothing; the grader fails closed; no false negatives.

Plain nbgrader runs its tests inside the student's kernel, so a submission that patches
`torch.allclose` there scores full marks (8/8, measured on nbgrader 0.9.6). Here the
comparison happens in a process the student's code never ran in.
"""
import os
import pickle
import textwrap

import pytest
import torch

from autograder import engine, grade as batch, report, sandbox
from autograder.protocol import Channel, ProtocolError
from tests.banks.attacks import FORGE_FRAME
from tests.support import ROOT, SECRET, add_notebook, grade, lost, make_submission, messages, student_submission

LESSON = "01_tensors"
PACKAGE_CHECKS = {"1.1", "1.2", "1.3", "1.4", "1.4h", "1.5", "1.5h", "1.6", "1.6h", "1.7", "1.7h", "1.8",
                  "1.8h", "1.9", "1.9h", "1.10", "1.11"}

IDENTITY_EVERYWHERE = """
def trunc(x): return x
def frac(x): return x
def fix(x): return x
def round_half_even(x): return x
def py_remainder(a, b): return a
def matmul(a, b): return a
def vector_norm(x, ord=2, dim=None, keepdim=False): return x
def gather(input, dim, index): return input
def histc(input, bins=100, min=0, max=0): return input
def to_nhwc(x): return x
def to_nchw(x): return x
"""


def package_score(result):
    return sum(c.points for c in result.checks if c.id in PACKAGE_CHECKS)


def hostile(tmp_path, source, base_blank=True):
    """A blank submission whose tensors.py gets `source` appended."""
    sub = student_submission(tmp_path) if base_blank else make_submission(tmp_path)
    path = sub / "course_pkg" / "tensors.py"
    path.write_text(path.read_text() + "\n" + textwrap.dedent(source))
    return sub


def test_patched_comparisons_gain_nothing(tmp_path):
    sub = hostile(tmp_path, """
        import torch, torch.testing
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)
        torch.testing.assert_close = lambda *a, **k: None
        torch.Tensor.__eq__ = lambda self, other: True
    """ + IDENTITY_EVERYWHERE)
    result = grade(LESSON, sub)
    assert package_score(result) == 0, messages(result)


@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit(0)"])
def test_exiting_at_import_scores_zero(tmp_path, exit_call):
    result = grade(LESSON, hostile(tmp_path, exit_call + "\n", base_blank=False))
    assert package_score(result) == 0, messages(result)


def test_printing_passed_and_fake_results_scores_zero(tmp_path):
    sub = hostile(tmp_path, """
        import json, sys
        print("PASSED " * 10)
        print(json.dumps({"score": 18, "max": 18, "status": "ok", "1.4": "pass"}))
        sys.stderr.write("All tests passed\\n")
        def round_half_even(x):
            print(torch.round(x))     # prints the expected value instead of returning it
            return None
    """)
    result = grade(LESSON, sub)
    assert package_score(result) == 0


def test_rigged_return_values_fail(tmp_path):
    sub = hostile(tmp_path, """
        class Always:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        class Sneaky(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return True
        def round_half_even(x): return Always()
        def trunc(x): return torch.floor(x).as_subclass(Sneaky)
        def matmul(a, b): return [Always()]
    """)
    result = grade(LESSON, sub)
    assert package_score(result) == 0
    by_id = {c.id: c for c in result.checks}
    assert "not a plain tensor" in by_id["1.4"].message
    assert "subclass" in by_id["1.1"].message or "plain torch.Tensor" in by_id["1.1"].message


def test_hang_and_memory_bomb_cost_only_their_exercises(tmp_path):
    sub = hostile(tmp_path, """
        def histc(input, bins=100, min=0, max=0):
            while True:
                pass
        def gather(input, dim, index):
            hog = torch.ones(50 * 2**30 // 4)      # 50 GB
            return hog[:1]
    """, base_blank=False)
    result = grade(LESSON, sub, limits=sandbox.Limits(wall_s=120))
    assert lost(result) == {"1.6", "1.6h", "1.9", "1.9h"}, messages(result)
    by_id = {c.id: c for c in result.checks}
    assert "time limit" in by_id["1.6"].message
    assert by_id["1.9"].devices["cpu"] == "error"


@pytest.mark.skipif(sandbox.isolation().kind != "bubblewrap", reason="needs bubblewrap for filesystem isolation")
def test_reading_the_instructor_solution_by_path_fails(tmp_path):
    sub = hostile(tmp_path, f"""
        import importlib.util
        _spec = importlib.util.spec_from_file_location("solution", {str(ROOT / 'course_pkg' / 'tensors.py')!r})
        _solution = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_solution)
        round_half_even = _solution.round_half_even
        matmul = _solution.matmul
    """)
    result = grade(LESSON, sub)
    assert package_score(result) == 0
    assert "No such file" in messages(result) or "FileNotFound" in messages(result)


@pytest.mark.skipif(sandbox.isolation().kind != "bubblewrap", reason="needs bubblewrap: without it nothing caps the disk")
def test_a_full_disk_does_not_stop_an_answer_whose_notebook_must_run(tmp_path):
    """IPython writes its profile folder (in the sandbox's home) when its shell starts. Where an answer
    must run its notebook, the shell starts before any student code: an exercise that fills every
    writable folder first still leaves that answer checked. (An answer written down needs no shell.)"""
    import json
    sub = make_submission(tmp_path, {"tensors": """
        _trunc = trunc
        def trunc(x):
            import os
            for folder in (os.path.expanduser("~"), "/sandbox", "/tmp", "/dev/shm"):
                try:
                    for i in range(1000):
                        with open(os.path.join(folder, f"fill-{i}"), "wb") as f:
                            f.write(bytes(2**20))
                except OSError:
                    pass
            return _trunc(x)
    """})
    path = sub / f"{LESSON}.ipynb"
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "answer_ties")
    cell["source"] = "answer_ties = [torch.tensor([0., 2., 2., -2.])][0]   # computed: the notebook runs\n"
    path.write_text(json.dumps(nb))
    result = grade(LESSON, sub, only={"1.1", "1.a"})
    assert not lost(result), messages(result)


@pytest.mark.skipif(sandbox.isolation().kind != "bubblewrap", reason="needs bubblewrap for network isolation")
def test_no_network_in_the_sandbox(tmp_path):
    """A server listening on this machine's loopback is out of reach from inside the sandbox."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        sub = hostile(tmp_path, f"""
            import socket
            def round_half_even(x):
                socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen")
                return x
        """)
        result = grade(LESSON, sub)
    finally:
        server.close()
    message = next(c for c in result.checks if c.id == "1.4").message
    assert "1.4" in lost(result)
    assert "Connection refused" in message or "unreachable" in message, message


FORGED_RESULTS = """
    import io, os, sys, torch as _t
    # The runner's channel to the grader is its first argument. Announce a passing outcome for every
    # case before the grader asks (the real cases run afterwards and say what they say).
    _buffer = io.BytesIO()
    _t.save({"status": "ok", "value": {"__tensor__": _t.zeros(3)}, "ops": []}, _buffer)
    for i in range(200):
        os.write(int(sys.argv[1]), f"start c{i}\\nresult c{i} {len(_buffer.getvalue())}\\n".encode()
                 + _buffer.getvalue() + f"done c{i}\\n".encode())
    for folder in ("..", "/sandbox", "/sandbox/in"):     # where result files used to be
        try:
            open(os.path.join(folder, "c0.pt"), "wb").write(_buffer.getvalue())
        except OSError:
            pass
"""
GARBAGE_ON_CHANNEL = """
    import os, sys
    os.write(int(sys.argv[1]), b"result c0 99999999999\\n" + b"\\0" * 1000)
"""


@pytest.mark.parametrize("source", [FORGED_RESULTS, GARBAGE_ON_CHANNEL], ids=["forged", "garbage"])
def test_writing_to_the_grader_channel_gains_nothing(tmp_path, source):
    result = grade(LESSON, hostile(tmp_path, source, base_blank=True))
    assert package_score(result) == 0, messages(result)


def test_frames_before_a_forged_one_still_count():
    """A busy grader reads the runner's "ready" and the student's forged frames in one chunk: "ready"
    (sent before any student code ran) still counts, or a student could pass for a broken sandbox and
    stop the whole class's batch."""
    channel = Channel()
    with pytest.raises(ProtocolError) as raised:
        channel.feed(b"ready\nstart c0\nresult c0 1\nXdone c0\nresult c0 1\nX")
    assert raised.value.events == [("ready",), ("start", "c0"), ("result", "c0", b"X"), ("done", "c0")]


def test_a_forged_frame_read_in_one_chunk_with_ready_costs_only_its_exercise(tmp_path, monkeypatch):
    """The engine side of the test above: a reader that holds the runner's bytes back until two cases
    say done gets "ready", the forgery and the real result together, as a grader busy with another
    student can."""
    real_read, held = sandbox.Process.read, {}

    def slow_read(self, timeout_s):
        held[id(self)] = held.get(id(self), b"") + real_read(self, timeout_s)
        return held.pop(id(self)) if held[id(self)].count(b"done c") >= 2 or self.popen.poll() is not None else b""

    monkeypatch.setattr(sandbox.Process, "read", slow_read)
    result = grade(LESSON, make_submission(tmp_path, {"tensors": FORGE_FRAME.format(then="")}), only={"1.4"})
    assert lost(result) == {"1.4"}, messages(result)


def test_garbage_on_the_channel_is_reported(tmp_path):
    result = grade(LESSON, hostile(tmp_path, GARBAGE_ON_CHANNEL, base_blank=False))
    assert package_score(result) == 0
    assert "larger than 64 MB" in messages(result)


def test_shadowing_torch_and_numpy_changes_nothing(tmp_path):
    sub = make_submission(tmp_path)
    for name in ("torch.py", "numpy.py"):
        (sub / name).write_text("raise RuntimeError('shadowed!')\n")
        (sub / "course_pkg" / name).write_text("raise RuntimeError('shadowed!')\n")
    result = grade(LESSON, sub)
    assert not lost(result), messages(result)


def test_pickle_payload_in_the_submission_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    sub = student_submission(tmp_path)
    for name in ("results.pkl", "c0.pt", "job-0.pt", "course_pkg/results.pt"):
        (sub / name).write_bytes(pickle.dumps(Payload()))
    result = grade(LESSON, sub)
    assert package_score(result) == 0
    assert not marker.exists()


def test_delegating_to_torch_round_is_reported(tmp_path):
    result = grade(LESSON, make_submission(tmp_path, {"tensors": "def round_half_even(x):\n    return x.round()\n"}))
    assert lost(result) == {"1.4", "1.4h"}
    assert "not to use" in next(c for c in result.checks if c.id == "1.4").message


def test_correct_answer_with_warnings_keeps_its_points(tmp_path):
    """Plain nbgrader scores a test cell with stderr output 0; a torch warning must not cost points here."""
    sub = make_submission(tmp_path, {"tensors": """
        import sys, warnings
        _right = round_half_even
        def round_half_even(x):
            warnings.warn("this is only a warning", UserWarning)
            sys.stderr.write("some noise on stderr\\n")
            torch.tensor([1.0]).resize_(2)   # a real torch warning path is fine too
            return _right(x)
    """})
    result = grade(LESSON, sub)
    assert not lost(result), messages(result)


def test_malformed_results_fail_closed():
    """Whatever comes back that is not a well-formed, correct result scores 0 with a reason, and is
    never taken for the grader's own fault (a student must not be able to stop the batch)."""
    from types import SimpleNamespace
    from autograder import judging
    from autograder.spec import call
    case = call("tensors.trunc", torch.tensor([1.5]), expect=torch.tensor([1.0]))
    check = SimpleNamespace(forbid=())
    args = {"__seq__": [{"__tensor__": torch.tensor([1.5])}], "kind": "list"}
    malformed = [
        {"status": "ok"},                                                     # no value at all
        {"status": "ok", "value": {"__tensor__": "not a tensor"}, "args_after": args, "ops": []},
        {"status": "ok", "value": {"__unsupported__": "Rigged"}, "args_after": args, "ops": []},
        {"status": "ok", "value": {"bogus": 1}, "args_after": args, "ops": []},
        {"status": "ok", "value": [torch.tensor([1.0])], "args_after": args, "ops": []},  # raw list, not a record
        {"status": "ok", "value": None, "args_after": args, "ops": []},
        {"status": "ok", "value": {"__tensor__": torch.tensor([1.0])}, "args_after": 7, "ops": []},
        {"status": "ok", "value": {"__tensor__": torch.tensor([1.0])}, "args_after": {"__seq__": 7}, "ops": []},
        {"status": "weird"},
        {"status": "raised", "error": "boom"},
    ]
    for outcome in malformed:
        verdict = judging.judge(check, case, outcome)
        assert verdict.status in ("fail", "error") and verdict.failure.message, outcome
    good = {"status": "ok", "value": {"__tensor__": torch.tensor([1.0])}, "args_after": args, "ops": []}
    assert judging.judge(check, case, good).status == "pass"     # the same judge does pass a right answer


def test_hostile_students_leave_other_results_untouched(tmp_path):
    submitted = tmp_path / "submitted"
    good = add_notebook(make_submission(tmp_path, name="good"), LESSON)
    (submitted / "good").mkdir(parents=True)
    good.rename(submitted / "good" / LESSON)
    for name, source in {"exits": "import os\nos._exit(3)\n",
                         "vandal": "import os, glob\nfor f in glob.glob('/sandbox/**', recursive=True) + "
                                   "glob.glob('../**', recursive=True):\n"
                                   "    try: os.remove(f)\n    except OSError: pass\n"}.items():
        sub = add_notebook(hostile(tmp_path / name, source), LESSON)
        (submitted / name).mkdir()
        sub.rename(submitted / name / LESSON)
    (submitted / "missing").mkdir()
    results = batch.grade_class(LESSON, submitted, tmp_path / "out", jobs=2, progress=False, course_root=tmp_path)
    assert results["good"].score == results["good"].max
    assert package_score(results["exits"]) == package_score(results["vandal"]) == 0
    assert results["missing"].score == 0 and "no 01_tensors/ folder" in results["missing"].warnings[0]
    assert (tmp_path / "out" / "grades.csv").read_text().count("\n") == 7     # + (pass rate), (mean)
    assert set(p.name for p in (tmp_path / "out" / "feedback").iterdir()) == {
        "good.html", "exits.html", "vandal.html", "missing.html"}


def test_feedback_never_shows_hidden_inputs(tmp_path):
    result = grade(LESSON, make_submission(tmp_path, {"tensors": "def round_half_even(x):\n    return torch.floor(x + 0.5)\n"}))
    hidden = next(c for c in result.checks if c.id == "1.4h")
    assert hidden.points == 0
    assert "tensor(" not in hidden.message and "index" not in hidden.message
    assert "even neighbour" in hidden.message            # the hint survives, the inputs do not
    page = report.feedback_html("cy", result)
    assert "1.4h" in page and hidden.hint and hidden.hint in page


def test_grading_twice_gives_identical_results(tmp_path):
    sub = make_submission(tmp_path, {"tensors": "def round_half_even(x):\n    return torch.floor(x + 0.5)\n"})
    first = engine.grade_submission(LESSON, sub, hidden=True, secret=SECRET).as_json()
    second = engine.grade_submission(LESSON, sub, hidden=True, secret=SECRET).as_json()
    assert first == second


def test_submitted_files_are_not_modified(tmp_path):
    import hashlib
    sub = hostile(tmp_path, "open(__file__, 'a').write('# tampered\\n')\n", base_blank=False)

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(sub.rglob("*")) if p.is_file()}
    before = digest()
    grade(LESSON, sub)
    assert digest() == before
