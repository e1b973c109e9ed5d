"""The shape of the tree that the next maintainer relies on.

- one lesson ↔ one notebook ↔ one course_pkg module ↔ one checks module ↔ one table of wrong answers;
- no import cycle inside autograder/; no file there over ~350 lines without a reason at its top;
- nothing the sandbox is given holds trusted reference code: only the runner, the probes and the
  torch-only fixtures, and none of them imports the trusted side.
"""
import ast
from pathlib import Path

import networkx as nx
import pytest

from autograder import checks, lessons
from tests import banks

ROOT = Path(__file__).resolve().parents[1]
AUTOGRADER = ROOT / "autograder"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_no_import_cycle_in_the_grader():
    modules = {_module(p): p for p in AUTOGRADER.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, other) for other in _imports(path) if other in modules and other != name)
    assert list(nx.simple_cycles(graph)) == []


def test_no_long_file_without_a_reason():
    for path in AUTOGRADER.rglob("*.py"):
        lines = path.read_text().splitlines()
        if len(lines) > 350:
            assert "Long because" in "\n".join(lines[:30]), f"{path.relative_to(ROOT)} has {len(lines)} lines"


def test_the_sandbox_is_given_no_trusted_code():
    for path in (AUTOGRADER / "sandboxed").glob("*.py"):
        assert not any(i == "autograder" or i.startswith("autograder.") for i in _imports(path)), path.name


@pytest.mark.parametrize("lesson", [l for l in lessons.LESSONS if checks.available(l)])
def test_each_lesson_has_its_row(lesson):
    module = lessons.module_name(lesson)
    assert (ROOT / "lessons" / lesson / f"{lesson}.ipynb").is_file()
    assert (ROOT / "course_pkg" / f"{module}.py").is_file()
    assert (ROOT / "autograder" / "checks" / f"{module}.py").is_file()
    bank = next(b for b in banks.LESSONS if b.LESSON == lesson)
    assert bank.MODULE == module and len(bank.WRONG) >= 4
    declared = checks.load(lesson).CHECKS
    exercises = {c.exercise for c in declared if c.kind == "exercise"}
    assert {row[0] for row in bank.WRONG} <= exercises, "a wrong answer names an exercise the lesson lacks"
    for check in declared:
        assert check.kind in ("exercise", "answer") and check.exercise
        if check.hidden and check.kind == "exercise":
            assert check.exercise in {c.id for c in declared if not c.hidden}, f"{check.id} has no public twin"
