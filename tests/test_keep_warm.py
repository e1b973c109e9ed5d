"""A sandbox started ahead of need (engine.keep_warm, what a notebook kernel does after each check
cell): it has seen no submission before its job, serves exactly one check, and is never reused;
one that died or was started for other limits or another process is not used."""
import os

import pytest

from autograder import engine, notebook, sandbox
from tests.support import SECRET, lost, make_submission

FLOOR_ROUNDING = """
def round_half_even(x):
    return torch.floor(x + 0.5)
"""


@pytest.fixture(autouse=True)
def no_spare_left():
    engine.drop_spare()
    yield
    engine.drop_spare()


def grade(lesson, submission, **kw):
    """Grade without tests.support.grade's own keep_warm: these tests watch the spare themselves."""
    result = engine.grade_submission(lesson, submission, secret=SECRET, **kw)
    assert not result.grader_errors
    return result


def spare_runner():
    assert engine._spare is not None and engine._spare[0] == os.getpid()
    return engine._spare[1]


def test_a_spare_serves_one_check_and_is_gone_after_it(tmp_path):
    engine.keep_warm()
    spare = spare_runner()
    assert spare.alive()
    assert not (spare.work / "in" / "submission").exists(), "a spare must not hold a submission before its job"

    wrong = make_submission(tmp_path, {"tensors": FLOOR_ROUNDING}, name="wrong")
    assert lost(grade("01_tensors", wrong, only={"1.4", "1.5"})) == {"1.4"}
    assert engine._spare is None, "the spare was not used"
    assert not spare.alive() and not spare.work.exists(), "the sandbox that ran student code must be gone"

    # The next submission gets a fresh sandbox: nothing of the first one's code or files.
    right = make_submission(tmp_path, name="right")
    assert lost(grade("01_tensors", right, only={"1.4", "1.5"})) == set()


def test_a_spare_that_died_is_not_used(tmp_path):
    engine.keep_warm()
    spare = spare_runner()
    spare.process.kill("killed by the test")
    spare.process.popen.wait()
    assert lost(grade("01_tensors", make_submission(tmp_path), only={"1.4"})) == set()
    assert not spare.work.exists()


def test_a_spare_for_other_limits_is_not_used(tmp_path):
    engine.keep_warm(limits=sandbox.Limits(memory_mb=1024))
    spare = spare_runner()
    assert lost(grade("01_tensors", make_submission(tmp_path), only={"1.4"})) == set()
    assert not spare.work.exists() and not spare.alive()


def test_a_forked_child_does_not_take_its_parents_spare(tmp_path):
    engine.keep_warm()
    spare = spare_runner()
    engine._spare = (os.getpid() + 1, *engine._spare[1:])      # as a forked child sees it
    assert engine._take_spare(sandbox.Limits(), None) is None
    assert spare.alive(), "the child must leave its parent's spare alone"
    spare.discard()


def test_a_kernel_keeps_one_sandbox_warm_and_a_script_does_not(monkeypatch):
    monkeypatch.setattr(notebook, "_ipython", lambda: None)
    notebook._keep_warm()
    assert engine._spare is None
    monkeypatch.setattr(notebook, "_ipython", lambda: object())
    monkeypatch.setenv("COURSE_KEEP_WARM", "0")
    notebook._keep_warm()
    assert engine._spare is None
    monkeypatch.delenv("COURSE_KEEP_WARM")
    notebook._keep_warm()
    first = spare_runner()
    notebook._keep_warm()
    assert spare_runner() is first, "one spare at a time"


# Imported by the probes with the student's module, before any case runs; the exit code makes the
# runner's death message carry this line back.
REPORT_PRELOAD = """
import os as _os, sys as _sys
print("imported before the job:",
      [m for m in ("torch._dynamo", "sympy", "matplotlib.pyplot") if type(_sys.modules.get(m)).__name__ == "module"],
      "torch._dynamo is", type(_sys.modules.get("torch._dynamo")).__name__, flush=True)
_os._exit(3)
"""


@pytest.mark.parametrize("lesson,module,exercise,preloaded", [("06_modules", "modules", "6.1", "[]"),
                                                              ("02_autograd", "autograd", "2.1", "['sympy']"),
                                                              ("08_training", "training", "8.1", "['matplotlib.pyplot']"),
                                                              ("01_tensors", "tensors", "1.1", "[]"),
                                                              ("09_modes", "modes", "9.1", "[]")])
@pytest.mark.parametrize("warm", [True, False], ids=["spare", "fresh"])
def test_a_lesson_gets_what_its_students_code_imports_ahead_of_need(tmp_path, lesson, module, exercise, preloaded,
                                                                    warm):
    """autograd.grad or backward given a gradient imports SymPy (~0.25 s), a figure matplotlib.pyplot
    (~0.45 s): for a lesson whose students' code does, the sandbox has it before its job arrives,
    whether started ahead of need for that lesson or with the job; the other lessons do not pay for
    it. torch.optim's first use would import torch._dynamo (~1.2 s): no lesson pays for that, not even
    06's, whose students step optimizers, as every sandbox has sandboxed/lazy_dynamo.py's stand-in."""
    if warm:
        engine.keep_warm(lesson=lesson)
    result = grade(lesson, make_submission(tmp_path, {module: REPORT_PRELOAD}), only={exercise})
    said = [c.message for c in result.checks if "imported before the job" in c.message]
    assert said and all(f"before the job: {preloaded} torch._dynamo is StandIn" in m for m in said), \
        [c.message for c in result.checks]


REPORT_FONTS = """
import os as _os
with open(_os.path.expanduser("~/.cache/matplotlib/fontlist-v0.json")) as _f:
    print("font lists here:", _f.read(), flush=True)
_os._exit(3)
"""


def test_a_sandbox_that_imports_pyplot_gets_the_users_font_list_and_survives_a_corrupt_one(tmp_path, monkeypatch):
    """Importing pyplot in the sandbox's empty HOME would build matplotlib's font list (~0.1 s): a
    sandbox that preloads pyplot gets a copy of the user's lists, and only such a sandbox. A corrupt
    list costs nothing: matplotlib builds its own there, and the plot check passes."""
    import matplotlib.font_manager
    cache = tmp_path / "mplconfig"
    cache.mkdir()
    (cache / f"fontlist-v{matplotlib.font_manager.FontManager.__version__}.json").write_text("{ not json")
    (cache / "fontlist-v0.json").write_text("marker-7f3a")
    monkeypatch.setenv("MPLCONFIGDIR", str(cache))
    plain = engine._fresh_runner(sandbox.Limits(), ["cpu"], ())
    try:
        assert not (plain.work / "in" / "matplotlib").exists()
    finally:
        plain.discard()
    result = grade("08_training", make_submission(tmp_path, {"training": REPORT_FONTS}), only={"8.1"})
    assert "font lists here: marker-7f3a" in result.checks[0].message, result.checks[0].message
    result = grade("08_training", make_submission(tmp_path, name="right"), only={"8.5"})
    assert not lost(result), [c.message for c in result.checks]
