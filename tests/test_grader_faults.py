"""The grader's own faults are never a student's zero.

A sandbox that cannot start Python, a check that cannot be judged, a check that names a probe the
sandbox lacks, an instructor solution that loses points: each stops `course grade` with a non-zero
exit and a message that names the cause, and writes no grades. A runner that dies between two cases
costs nothing: the cases still to run go to a fresh runner.
"""
import shutil
import sys
import threading
import time

import pytest
import torch

from autograder import checks, cli, engine, forbidden, grade as batch
from autograder.results import Failure, GraderFault
from autograder.spec import Case, Reference
from tests.support import SECRET, add_notebook, lost, make_submission, messages

LESSON = "00_basics"


def a_class(tmp_path, students=("ada", "ben")):
    submitted = tmp_path / "submitted"
    for name in students:
        sub = add_notebook(make_submission(tmp_path / "made", name=name), LESSON)
        (submitted / name).mkdir(parents=True)
        shutil.move(str(sub), submitted / name / LESSON)
    return submitted


@pytest.fixture
def broken_python(monkeypatch):
    """The sandbox is told to run a Python that does not exist (as a venv it cannot see once was)."""
    engine.drop_spare()      # a sandbox started before the breakage would hide it
    monkeypatch.setattr(sys, "executable", "/nonexistent/venv/bin/python")


def test_a_sandbox_that_cannot_start_python_is_a_grader_fault(tmp_path, broken_python):
    with pytest.raises(GraderFault) as caught:
        engine.grade_submission(LESSON, make_submission(tmp_path), hidden=True, secret=SECRET)
    said = str(caught.value)
    assert "could not start Python" in said and "not a student's fault" in said, said
    assert "Likely fix" in said


def test_course_grade_stops_and_writes_nothing_when_the_sandbox_is_broken(tmp_path, broken_python, monkeypatch,
                                                                           capsys):
    submitted = a_class(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["grade", LESSON, "--submitted", str(submitted), "--out", str(tmp_path / "grades"), "--json"])
    assert code == cli.GRADER_FAULT_EXIT
    assert "could not start Python" in capsys.readouterr().err
    assert not (tmp_path / "grades").exists()


def test_course_check_says_the_grader_cannot_run(tmp_path, broken_python, capsys):
    code = cli.main(["check", LESSON, "--path", str(make_submission(tmp_path))])
    assert code == cli.GRADER_FAULT_EXIT
    assert "the grader cannot run" in capsys.readouterr().err


def _replace_cases(monkeypatch, check_id, make_cases):
    check = checks.load(LESSON).CHECKS.by_id()[check_id]
    monkeypatch.setattr(check, "make_cases", make_cases)


def test_a_judge_that_raises_is_a_grader_error_not_a_fail(tmp_path, monkeypatch):
    def broken(gen, device):
        def judge(outcome):
            raise KeyError("no such field")          # a bug of the check, on a well-formed outcome
        yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(2)], "kwargs": {}}, judge)
    _replace_cases(monkeypatch, "0.2", broken)
    result = engine.grade_submission(LESSON, make_submission(tmp_path), hidden=True, secret=SECRET)
    bad = result.checks[[c.id for c in result.checks].index("0.2")]
    assert bad.devices == {d: "grader_error" for d in bad.devices} and bad.points == 0
    assert "fault of the grader" in bad.message
    assert [c.id for c in result.grader_errors] == ["0.2"]
    assert lost(result) == {"0.2"}, messages(result)       # the other checks are judged as usual


def test_a_reference_that_fails_is_a_grader_error_of_its_case_only(tmp_path, monkeypatch):
    """A reference computed while the sandbox runs (Case.prepare) and failing there fails again in its
    judge, where it is reported as the grader's fault; the check's other case is judged as usual."""
    def failing():
        raise ValueError("the reference run diverged")

    def with_references(gen, device):
        for compute in (failing, lambda: {"shape": (2,)}):
            reference = Reference(compute)
            yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(2)], "kwargs": {}},
                       lambda o, reference=reference: None if reference() else Failure("unreachable"),
                       prepare=reference)
    _replace_cases(monkeypatch, "0.2", with_references)
    result = engine.grade_submission(LESSON, make_submission(tmp_path), hidden=True, secret=SECRET)
    bad = next(c for c in result.checks if c.id == "0.2")
    assert bad.devices == {d: "grader_error" for d in bad.devices}, messages(result)
    assert "ValueError: the reference run diverged" in bad.message and "fault of the grader" in bad.message
    assert lost(result) == {"0.2"}, messages(result)


def test_references_are_computed_while_the_sandbox_runs(tmp_path, monkeypatch):
    """The judges' reference work (a training run, in lesson 10) overlaps the student's code instead of
    following it: here the student's function takes 1.5 s and the reference was done long before the
    judge asked for it, in the grader's reference thread, once."""
    computed = []

    def compute():
        computed.append((time.monotonic(), threading.current_thread().name))
        return True

    def judged_later(gen, device):
        reference = Reference(compute)

        def judge(outcome):
            assert reference() and reference()
            computed.append((time.monotonic(), "judge"))
        yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(2)], "kwargs": {}}, judge,
                   prepare=reference)
    _replace_cases(monkeypatch, "0.2", judged_later)
    monkeypatch.setattr(engine, "available_devices", lambda: ["cpu"])
    sub = make_submission(tmp_path, {"basics": """
        import time
        _right = tensor_summary
        def tensor_summary(t):
            time.sleep(1.5)
            return _right(t)
    """})
    engine.grade_submission(LESSON, sub, hidden=True, secret=SECRET, only={"0.2"})
    (made, thread), (judged, _) = computed
    assert thread == "course-references" and judged - made > 1.0, computed


def test_each_case_is_judged_as_its_result_arrives_while_the_sandbox_runs_the_next(tmp_path, monkeypatch):
    """A judge with work of its own (lesson 10 replays a student's dropout masks in torch's pipeline)
    runs beside the student's next case instead of after the last: here the second case takes 1.5 s
    and the first was judged, in the grader's judging thread, long before the second's result came."""
    judged = []

    def two_cases(gen, device):
        for shape in ((2,), (2, 3)):
            def judge(outcome, shape=shape):
                judged.append((shape, time.monotonic(), threading.current_thread().name))
            yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(shape)], "kwargs": {}}, judge)
    _replace_cases(monkeypatch, "0.2", two_cases)
    monkeypatch.setattr(engine, "available_devices", lambda: ["cpu"])
    sub = make_submission(tmp_path, {"basics": """
        import time
        _right = tensor_summary
        def tensor_summary(t):
            if t.dim() == 2:
                time.sleep(1.5)
            return _right(t)
    """})
    engine.grade_submission(LESSON, sub, hidden=True, secret=SECRET, only={"0.2"})
    (first, at_first, thread), (second, at_second, _) = judged
    assert (first, second) == ((2,), (2, 3)) and thread == "course-judging" and at_second - at_first > 1.0, judged


def test_the_trusted_side_computes_on_one_torch_thread_and_gives_a_kernel_back_its_own(tmp_path, monkeypatch):
    """While its sandbox runs, the trusted side's torch keeps to one thread (OpenMP threads waiting
    for a busy core cost lesson 08's plan 0.5 s); a notebook kernel's count is its own again after."""
    seen = []
    right = checks.load(LESSON).CHECKS.by_id()["0.2"].make_cases

    def recording(gen, device):
        seen.append(torch.get_num_threads())
        yield from right(gen, device)
    _replace_cases(monkeypatch, "0.2", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = engine.grade_submission(LESSON, make_submission(tmp_path), secret=SECRET, only={"0.2"})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1] and result.checks[0].points == result.checks[0].max


def test_an_unknown_probe_is_found_before_any_student_code_runs(tmp_path, monkeypatch):
    def misspelt(gen, device):
        yield Case("obsreve", {}, lambda o: None)
    _replace_cases(monkeypatch, "0.2", misspelt)
    result = engine.grade_submission(LESSON, make_submission(tmp_path), hidden=True, secret=SECRET)
    bad = next(c for c in result.checks if c.id == "0.2")
    assert "grader_error" in bad.devices.values() and "unknown probe ['obsreve']" in bad.message


def test_the_probe_names_the_judge_knows_are_the_sandbox_s_functions_that_take_its_context():
    """known_probes reads names by a regular expression (fast); the syntax tree says the same."""
    import ast
    from autograder.spec import SANDBOXED, known_probes
    parsed = set()
    for path in SANDBOXED.glob("probes*.py"):
        prefix = "" if path.stem == "probes" else f"{path.stem}."
        parsed.update(prefix + node.name for node in ast.parse(path.read_text()).body
                      if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.args.args
                      and node.args.args[0].arg == "ctx")
    assert known_probes() == parsed and "call" in parsed and "probes_optim.sgd_run" in parsed


def test_course_grade_exits_non_zero_on_a_grader_error(tmp_path, monkeypatch, capsys):
    def broken(gen, device):
        yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(2)], "kwargs": {}},
                   lambda o: o["no such field"])
    _replace_cases(monkeypatch, "0.2", broken)
    submitted = a_class(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["grade", LESSON, "--submitted", str(submitted), "--out", str(tmp_path / "grades")])
    assert code == cli.GRADER_FAULT_EXIT
    assert "0.2" in capsys.readouterr().err
    assert not (tmp_path / "grades").exists()


def test_the_instructors_solution_is_a_canary(tmp_path, monkeypatch):
    """A check whose reference is wrong fails everybody; the canary stops that before it becomes grades."""
    def wrong_reference(gen, device):
        def judge(outcome):
            return Failure("expected shape (3,)")    # whatever came back: a check that cannot be passed
        yield Case("call", {"target": "basics.tensor_summary", "args": [torch.ones(2)], "kwargs": {}}, judge)
    _replace_cases(monkeypatch, "0.2", wrong_reference)
    submitted = a_class(tmp_path)
    with pytest.raises(GraderFault) as caught:
        batch.grade_class(LESSON, submitted, tmp_path / "grades", progress=False, course_root=tmp_path)
    said = str(caught.value)
    assert "instructor's own solution lost points on 0.2" in said and "cpu: fail" in said, said
    assert not (tmp_path / "grades").exists()


def test_a_runner_that_dies_between_cases_loses_only_that_case(tmp_path, monkeypatch):
    """The runner dies right after a case's result and "done" went out (here the submission writes
    them itself, then exits): the remaining cases (the notebook answer among them) run in a fresh
    runner instead of being lost, and the case just before the death runs again, since its result
    could have been forged; dying after it twice fails it. (The source rule would refuse this package
    for its sys._getframe before it ran: switched off here, as this holds the engine behind it.)"""
    monkeypatch.setattr(forbidden, "tampering", lambda submission, modules: None)
    sub = make_submission(tmp_path, {"basics": """
        import io, os, sys
        _right = tensor_summary
        def tensor_summary(t):
            if t.dim() == 0:
                frame, key = sys._getframe(), None
                while frame is not None and key is None:
                    key, frame = frame.f_locals.get("key"), frame.f_back
                runner = sys._getframe()
                while "CHANNEL" not in runner.f_globals:
                    runner = runner.f_back
                buffer = io.BytesIO()
                torch.save({"status": "ok", "value": None, "args_after": {"__seq__": []}, "ops": []}, buffer)
                data = buffer.getvalue()
                os.write(runner.f_globals["CHANNEL"], f"result {key} {len(data)}\\n".encode() + data
                         + f"done {key}\\n".encode())
                os._exit(0)
            return _right(t)
    """})
    result = engine.grade_submission(LESSON, add_notebook(sub, LESSON), hidden=True, secret=SECRET)
    assert lost(result) == {"0.2"}, messages(result)
    assert "exited right after this case, twice" in next(c.message for c in result.checks if c.id == "0.2")


def test_a_judge_that_returns_anything_but_a_failure_is_a_grader_error():
    """Results are typed: a judge returning a bare string is the grader's bug, not the student's zero."""
    from types import SimpleNamespace
    from autograder import judging
    from autograder.spec import call
    case = call("tensors.trunc", torch.tensor([1.5]), expect=torch.tensor([1.0]))
    case.judge = lambda outcome: "wrong, as a plain string"
    outcome = {"status": "ok", "value": {"__tensor__": torch.tensor([1.0])},
               "args_after": {"__seq__": [{"__tensor__": torch.tensor([1.5])}], "kind": "list"}, "ops": []}
    verdict = judging.judge(SimpleNamespace(forbid=()), case, outcome)
    assert verdict.status == "grader_error" and "not a Failure" in verdict.failure.message
