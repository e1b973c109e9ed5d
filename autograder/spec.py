"""How a lesson's checks are declared (one checks module per lesson, see autograder/checks/).

A check is a list of *cases*. Each case pairs a *request* (which probe to run in the sandbox, with
what inputs) with a *judge* (a trusted function from the probe's recorded outcome to a `Failure`, or
None). `make_cases(gen, device)` builds them from a seeded generator, so public checks see the same
inputs every time and hidden checks draw fresh ones at grading time.

    CHECKS = CheckList()

    @CHECKS.add("1.4", points=2, target="tensors.round_half_even", forbid=("round",))
    def round_half_even(gen, device):
        x = inputs.ties(gen, device)
        yield call("tensors.round_half_even", x, expect=torch.round(x))

    @CHECKS.hidden("1.4", points=1)          # "1.4h": same target and rules, fresh inputs at grading
    def round_half_even_hidden(gen, device):
        ...

Three builders cover most cases: `call` (a plain function: compare its return value),
`observation.observe` (autograd: fresh plain/leaf/non-leaf inputs, backward, gradients, versions)
and `answer` (a variable the student's notebook sets).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import torch

from autograder import compare
from autograder.results import Failure, NotStarted

Judge = Callable[[dict], "Failure | None"]
SANDBOXED = Path(__file__).parent / "sandboxed"


@dataclass
class Case:
    probe: str                  # "call", or "module.function" of autograder/sandboxed/
    params: dict                # its keyword arguments: tensors and plain data only
    judge: Judge                # trusted: the probe's outcome -> None (pass) or a Failure
    shown: str = ""             # the input, as a public check's feedback may show it
    timeout_s: float = 10.0
    seed: int = 0               # torch.manual_seed in the sandbox before the probe runs
    prepare: Callable[[], object] | None = None   # the judge's reference work (a Reference): run early
    # Seconds where the others take tenths (10.3's ten-epoch accuracy run): a quick `course check` leaves
    # it out and says so; `course check --full`, a notebook's check cell and grading always run it.
    slow: bool = False


class Reference:
    """Work a judge needs that does not depend on what the sandbox observes (torch's reference run of a
    training loop, say): computed once, by the engine while the sandbox runs the case (pass it as
    Case.prepare), or by the judge if it gets there first. A failure is not kept: the judge's own call
    raises it again, where it counts as a grader error."""

    def __init__(self, compute: Callable[[], object]):
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value = None

    def __call__(self):
        with self._lock:
            if not self._done:
                self._value = self._compute()
                self._done = True
            return self._value


@dataclass
class Check:
    id: str                     # "1.4"; the hidden twin of an exercise is "1.4h"
    title: str
    points: float
    make_cases: Callable[[torch.Generator, torch.device], Iterable[Case]]
    hidden: bool = False        # run by the grader only, on inputs drawn from its secret
    kind: str = "exercise"      # "exercise" (course_pkg code) or "answer" (a notebook's answer cell)
    exercise: str = ""          # the exercise it grades: "1.4" for both "1.4" and "1.4h"
    target: str | None = None   # "tensors.round_half_even": the function the exercise asks for
    forbid: tuple[str, ...] = ()  # torch APIs the exercise must not delegate to (names and aten ops)
    cuda: bool = True           # also run on CUDA when present


class CheckList(list):
    def add(self, id: str, points: float, *, target: str | None = None, hidden: bool = False,
            forbid: tuple[str, ...] = (), title: str | None = None, cuda: bool = True, kind: str = "exercise"):
        def register(make_cases):
            self.append(Check(id=id, title=title or make_cases.__name__.replace("_", " "), points=points,
                              make_cases=make_cases, hidden=hidden, kind=kind, exercise=id, target=target,
                              forbid=tuple(forbid), cuda=cuda))
            return make_cases
        return register

    def hidden(self, exercise: str, points: float):
        """The hidden twin of a public exercise check: same target, rules and title; its cases are all
        of the public check's, drawn afresh from the grader's secret, and then its own. So a hidden
        check is never narrower than its public twin."""
        public = self.by_id()[exercise]

        def register(extra_cases):
            def make_cases(gen, device):
                yield from public.make_cases(gen, device)
                yield from extra_cases(gen, device)
            self.append(Check(id=exercise + "h", title=public.title, points=points, make_cases=make_cases,
                              hidden=True, kind=public.kind, exercise=exercise, target=public.target,
                              forbid=public.forbid, cuda=public.cuda))
            return extra_cases
        return register

    def answer(self, id: str, points: float = 1, *, title: str | None = None, hidden: bool = False):
        """A notebook answer cell's check (run on the CPU only: the answer is a value, not code)."""
        return self.add(id, points, title=title, hidden=hidden, cuda=False, kind="answer")

    def by_id(self) -> dict[str, Check]:
        return {c.id: c for c in self}


# A probe is a public top-level function whose first parameter is the runner's context.
PROBE_DEF = re.compile(r"^def ([A-Za-z]\w*)\(\s*ctx\b", re.MULTILINE)


@lru_cache(maxsize=1)
def known_probes() -> frozenset[str]:
    """Probe names the sandbox offers, read from the sandboxed modules' source (never imported here).
    By a regular expression: parsing them (ast) took 0.11 s of every `course check` before its job
    could go out (tests/test_grader_faults.py holds the two to the same names)."""
    names = set()
    for path in SANDBOXED.glob("probes*.py"):
        prefix = "" if path.stem == "probes" else f"{path.stem}."
        names.update(prefix + name for name in PROBE_DEF.findall(path.read_text()))
    return frozenset(names)


def tensor_args_shown(args, kwargs) -> str:
    parts = [compare.show(a) for a in args] + [f"{k}={compare.show(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def call(target: str, *args, expect, atol: float = 0.0, rtol: float = 0.0, hints=(),
         check_args_unchanged: bool = True, shown: str | None = None, timeout_s: float = 10.0,
         **kwargs) -> Case:
    """A case that calls `target(*args, **kwargs)` and compares the result with `expect`.

    `expect` is torch's answer: a tensor, a tuple of tensors, or plain data. `hints` are
    (known-wrong-answer, message) pairs. Tensor arguments must come back unchanged (values and
    `_version`) unless `check_args_unchanged` is False.
    """
    func = target.rsplit(".", 1)[1]
    inputs = {f"arg{i}": a for i, a in enumerate(args) if isinstance(a, torch.Tensor)}
    inputs.update({k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)})
    originals = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]

    def judge(outcome: dict) -> Failure | None:
        problem = result_problem(expect, outcome["value"], atol=atol, rtol=rtol, inputs=inputs, hints=hints)
        if problem:
            return problem
        if check_args_unchanged:
            after = compare.unrecord(outcome["args_after"])
            if not isinstance(after, list):
                raise compare.Unreadable("the arguments came back malformed")
            for i, (before, now) in enumerate(zip(originals, after)):
                if before is not None and isinstance(now, torch.Tensor) and not compare.unchanged(before, now):
                    return Failure(f"{func} changed its argument {i} in place; it must leave its inputs alone")
        return None

    shown_text = shown if shown is not None else f"{func}({tensor_args_shown(args, kwargs)})"
    return Case("call", {"target": target, "args": list(args), "kwargs": kwargs}, judge, shown=shown_text,
                timeout_s=timeout_s)


def result_problem(expect, rec, *, atol=0.0, rtol=0.0, inputs=None, hints=()) -> Failure | None:
    """Compare a recorded return value with torch's answer (tensor, tuple/list of them, or plain)."""
    got = compare.unrecord(rec)
    if isinstance(expect, torch.Tensor):
        return compare.tensor_problem(expect, got, atol=atol, rtol=rtol, inputs=inputs, hints=hints)
    if isinstance(expect, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expect):
            return Failure(f"expected {len(expect)} values, got {compare.show(got)}", _plain_hint(got, hints))
        for i, (e, g) in enumerate(zip(expect, got)):
            item_hints = [(alt[i], msg) for alt, msg in hints
                          if isinstance(alt, (tuple, list)) and len(alt) == len(expect)]
            problem = _plain_problem(e, g, atol=atol, rtol=rtol, inputs=inputs, hints=item_hints)
            if problem:
                return problem.within(f"item {i}: ")
        return None
    return _plain_problem(expect, got, atol=atol, rtol=rtol, inputs=inputs, hints=hints)


def _plain_problem(expect, got, *, atol=0.0, rtol=0.0, inputs=None, hints=()) -> Failure | None:
    if isinstance(expect, torch.Tensor):
        return compare.tensor_problem(expect, got, atol=atol, rtol=rtol, inputs=inputs, hints=hints)
    if type(got) is not type(expect) or got != expect:
        return Failure(f"expected {compare.show(expect)}, got {compare.show(got)}", _plain_hint(got, hints))
    return None


def _plain_hint(got, hints) -> str:
    """The message of the known wrong answer (a plain value: a bool, a list of ints) that `got` is."""
    for alternative, message in hints:
        if not isinstance(alternative, torch.Tensor) and type(alternative) is type(got) and alternative == got:
            return message
    return ""


def answer(lesson: str, name: str, *, expect, atol: float = 0.0, rtol: float = 0.0, hints=(),
           shown: str | None = None) -> Case:
    """A case that runs the submitted notebook (sandboxed) and compares the variable `name` it set.

    For in-notebook answer cells: the student binds e.g. `answer_ties = torch.tensor([...])`.
    """
    def judge(outcome: dict) -> Failure | None:
        if outcome["value"] == {"__unsupported__": "builtins.ellipsis"}:
            return NotStarted(f"not answered yet: `{name} = ...` still holds the `...`; write your answer in its place")
        return result_problem(expect, outcome["value"], atol=atol, rtol=rtol, hints=hints)
    return Case("notebook_answer", {"notebook": f"{lesson}.ipynb", "name": name}, judge,
                shown=shown if shown is not None else f"the value of `{name}` in your notebook", timeout_s=240)
