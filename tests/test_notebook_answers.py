"""The in-notebook answer cells (predictions) of every lesson: the instructor's notebook earns every answer
check, a notebook whose answer cell binds a wrong value loses exactly that check (with a message
that says why), and a notebook that never binds the variable gets a clear message, not a crash."""
import json
import shutil

import pytest

from tests.support import ROOT, grade, lost, make_submission, messages

ANSWER_CHECKS = {"00_basics": {"0.a"}, "01_tensors": {"1.a", "1.b", "1.c"}, "02_autograd": {"2.a", "2.b"},
                 "03_graph": {"3.a"}, "05_detach": {"5.a", "5.b", "5.c", "5.d"}, "06_modules": {"6.a"},
                 "07_optim": {"7.a"}, "08_training": {"8.a"}, "09_modes": {"9.a", "9.b"},
                 "10_capstone": {"10.a"}}


def notebook_path(lesson):
    return ROOT / "lessons" / lesson / f"{lesson}.ipynb"


def submission(tmp_path, lesson, replace=None):
    """The instructor's course_pkg plus the lesson notebook, with answer cells' sources replaced."""
    sub = make_submission(tmp_path)
    nb = json.loads(notebook_path(lesson).read_text())
    found = set()
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if replace and grade_id in replace:
            cell["source"] = replace[grade_id]
            found.add(grade_id)
    assert found == set(replace or ()), f"answer cells not found: {set(replace) - found}"
    (sub / f"{lesson}.ipynb").write_text(json.dumps(nb))
    return sub


def grade_answers(lesson, sub):
    return grade(lesson, sub, only=ANSWER_CHECKS[lesson])


@pytest.mark.parametrize("lesson", sorted(ANSWER_CHECKS))
def test_instructor_notebook_earns_every_answer_check(tmp_path, lesson):
    shutil.copyfile(notebook_path(lesson), make_submission(tmp_path) / f"{lesson}.ipynb")
    result = grade_answers(lesson, tmp_path / "student")
    assert {c.id for c in result.checks} == ANSWER_CHECKS[lesson]
    assert not lost(result), messages(result)
    assert result.score == result.max == len(ANSWER_CHECKS[lesson])


WRONG = [
    ("06_modules", "answer_state_keys", "answer_state_keys = ['temperature', 'scale', 'body.0.weight', "
     "'body.0.bias', 'heads.0.weight', 'heads.0.bias', 'extra.0.weight', 'extra.0.bias']\n", "6.a", "plain Python list"),
    ("06_modules", "answer_state_keys", "answer_state_keys = ['body.0.weight', 'body.0.bias', 'body.2.weight', "
     "'body.2.bias', 'body.2.running_mean', 'body.2.running_var', 'body.2.num_batches_tracked', 'extra.0.weight', "
     "'extra.0.bias', 'scale', 'temperature']\n", "6.a", "own parameters"),
    ("08_training", "answer_batch_sizes", "answer_batch_sizes = [16, 16, 16]\n", "8.a", "drop_last is False"),
    ("08_training", "answer_batch_sizes", "answer_batch_sizes = [16, 16, 16, 16]\n", "8.a", "not padded"),
    ("09_modes", "answer_eval_requires_grad", "answer_eval_requires_grad = False\n", "9.a", "torch.no_grad()"),
    ("09_modes", "answer_running_var", "answer_running_var = torch.tensor([1.0])\n", "9.b", "unbiased"),
    ("07_optim", "answer_momentum_buffer", "answer_momentum_buffer = torch.tensor([1.355])\n", "7.a", "first step"),
    ("10_capstone", "answer_conv2_input", "answer_conv2_input = 4\n", "10.a", "expected 2"),
    ("00_basics", "answer_default_device", 'answer_default_device = "cuda"\n', "0.a", "'cpu'"),
    ("00_basics", "answer_default_device", 'answer_default_device = torch.device("cpu")\n', "0.a", "expected"),
    ("01_tensors", "answer_ties", "answer_ties = torch.tensor([1., 2., 3., -2.])\n", "1.a", "even neighbour"),
    ("01_tensors", "answer_ties", "answer_ties = torch.tensor([1., 2., 3., -3.])\n", "1.a", "even neighbour"),
    ("01_tensors", "answer_median", "answer_median = torch.tensor(2.5)\n", "1.c", "average"),
    ("01_tensors", "answer_median", "answer_median = torch.tensor(3.)\n", "1.c", "lower"),
    ("01_tensors", "answer_fmod_vs_remainder", "answer_fmod_vs_remainder = torch.tensor([2., -1.])\n", "1.b",
     "other way round"),
    ("01_tensors", "answer_fmod_vs_remainder", "answer_fmod_vs_remainder = torch.tensor([-1., -1.])\n", "1.b",
     "expected"),
    # The notes' own wrong values, where they give one, and the usual slips.
    ("02_autograd", "answer_x1_grad", "answer_x1_grad = torch.tensor(2., dtype=torch.float64)\n", "2.a", "one entry per element"),
    ("02_autograd", "answer_x1_grad", "answer_x1_grad = torch.tensor([3., 3., 3.], dtype=torch.float64)\n", "2.a",
     "x2.grad"),
    ("02_autograd", "answer_x1_grad", "answer_x1_grad = torch.tensor([2., 4., 6.])\n", "2.a", "dtype"),
    ("02_autograd", "answer_accumulated", "answer_accumulated = torch.tensor(4., dtype=torch.float64)\n", "2.b",
     "*adds*"),
    ("03_graph", "answer_dynamic_grad", "answer_dynamic_grad = torch.tensor(1.)\n", "3.a", "path taken"),
    ("03_graph", "answer_dynamic_grad", "answer_dynamic_grad = torch.tensor(4.)\n", "3.a", "expected 8"),
    ("05_detach", "answer_both", "answer_both = torch.full((5,), 2.)\n", "5.a", "two paths"),
    ("05_detach", "answer_detached", "answer_detached = torch.full((5,), 5.)\n", "5.b", "outside the graph"),
    ("05_detach", "answer_detach_attribute", "answer_detach_attribute = torch.full((5,), 12.)\n", "5.c", "Python attribute"),
    ("05_detach", "answer_data", "answer_data = torch.full((5,), 14.)\n", "5.d", "saved x itself"),
    ("05_detach", "answer_data", "answer_data = torch.full((5,), 16)\n", "5.d", "dtype"),
]


@pytest.mark.parametrize("lesson,cell,source,check_id,keyword", WRONG, ids=[w[2].strip() for w in WRONG])
def test_wrong_answer_loses_exactly_its_check(tmp_path, lesson, cell, source, check_id, keyword):
    result = grade_answers(lesson, submission(tmp_path, lesson, {cell: source}))
    assert lost(result) == {check_id}, messages(result)
    failed = next(c for c in result.checks if c.id == check_id)
    assert failed.points == 0
    assert keyword in failed.message, failed.message


@pytest.mark.parametrize("lesson,cell,check_id", [("00_basics", "answer_default_device", "0.a"),
                                                  ("01_tensors", "answer_ties", "1.a")])
def test_missing_variable_gives_a_clear_message(tmp_path, lesson, cell, check_id):
    result = grade_answers(lesson, submission(tmp_path, lesson, {cell: "# I'll answer later\n"}))
    assert lost(result) == {check_id}, messages(result)
    failed = next(c for c in result.checks if c.id == check_id)
    assert f"never set `{cell}`" in failed.message, failed.message


def test_answer_cell_that_raises_is_reported(tmp_path):
    result = grade_answers("01_tensors", submission(tmp_path, "01_tensors",
                                                    {"answer_median": "answer_median = torch.median(undefined)\n"}))
    assert lost(result) == {"1.c"}, messages(result)
    failed = next(c for c in result.checks if c.id == "1.c")
    assert "never set `answer_median`" in failed.message and "NameError" in failed.message, failed.message


def test_a_notebook_is_needed_for_answer_checks(tmp_path):
    sub = make_submission(tmp_path)
    (sub / "01_tensors.ipynb").unlink()
    result = grade_answers("01_tensors", sub)
    assert result.score == 0 and all(c.points == 0 for c in result.checks), messages(result)




def _insert_before(nb_path, grade_id, source):
    nb = json.loads(nb_path.read_text())
    at = next(i for i, c in enumerate(nb["cells"])
              if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                            "execution_count": None})
    nb_path.write_text(json.dumps(nb))


@pytest.mark.parametrize("answer,earned", [('answer_default_device = "cpu"\n', True),
                                           ('answer_default_device = "c" + "pu"\n', False)])
def test_an_answer_written_down_is_read_without_running_the_cells_before_it(tmp_path, answer, earned):
    # A cell before the answer ends the process. An answer cell that only writes a value down binds it
    # whatever came before, so it is read as written; one that computes its value needs that run.
    sub = submission(tmp_path, "00_basics", {"answer_default_device": answer})
    _insert_before(sub / "00_basics.ipynb", "answer_default_device", "import os\nos._exit(0)\n")
    result = grade_answers("00_basics", sub)
    assert lost(result) == (set() if earned else {"0.a"}), messages(result)


def test_a_notebook_that_changes_torchs_defaults_is_run(tmp_path):
    # Under float64 as the default, torch.tensor([2., 4., 6.]) is float64: the answer must be read as
    # the notebook binds it, not as a fresh interpreter would evaluate the literal.
    sub = submission(tmp_path, "02_autograd",
                     {"answer_x1_grad": "answer_x1_grad = torch.tensor([2., 4., 6.])\n"})
    _insert_before(sub / "02_autograd.ipynb", "answer_x1_grad", "torch.set_default_dtype(torch.float64)\n")
    result = grade_answers("02_autograd", sub)
    assert "2.a" not in lost(result), messages(result)
