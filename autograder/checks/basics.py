"""Checks for lesson 00 (course_pkg/basics.py)."""
import dataclasses

import torch

from autograder import compare
from autograder.results import Failure
from autograder.spec import Case, CheckList, answer, call

CHECKS = CheckList()


def _device_judge(expected: str):
    def judge(outcome):
        got = compare.unrecord(outcome["value"])
        if not isinstance(got, torch.device):
            return Failure(f"expected torch.device('{expected}'), got {compare.show(got)}",
                           "return a torch.device, not a string")
        # torch.device("cuda:0") names the same (first, here only) device as torch.device("cuda")
        same = got.type == expected and got.index in (None, 0)
        return None if same else Failure(f"expected torch.device('{expected}'), got {got!r}")
    return judge


@CHECKS.add("0.1", points=1, target="basics.pick_device", cuda=False)
def pick_device(gen, device):
    for cuda, mps, expected in ((False, False, "cpu"), (True, False, "cuda"), (False, True, "mps"),
                                (True, True, "cuda")):
        yield Case("call_with_devices", {"target": "basics.pick_device", "cuda": cuda, "mps": mps},
                   _device_judge(expected), shown=f"pick_device() with cuda available={cuda}, mps available={mps}")


def _summary(t):
    return {"shape": tuple(t.shape), "dtype": str(t.dtype), "device": str(t.device),
            "requires_grad": t.requires_grad, "numel": t.numel()}


def _summary_case(t):
    """call()'s comparison, after the value of each key has the docstring's type: a dict compares a 0-d
    tensor equal to the int it holds, and the facts are meant to be printed, stored, compared as plain data."""
    expect = _summary(t)
    case = call("basics.tensor_summary", t, expect=expect)

    def judge(outcome):
        got = compare.unrecord(outcome["value"])
        for key, want in expect.items():
            value = got.get(key) if isinstance(got, dict) else None
            if value is None:
                continue
            plain = type(value) is type(want) and (key != "shape" or all(type(n) is int for n in value))
            if not plain:
                what = "a tuple of ints" if key == "shape" else f"a plain {type(want).__name__}"
                return Failure(f'"{key}": expected {what} ({want!r}), got {compare.show(value)} '
                               f"({type(value).__name__})", "a tensor is not a number: t.numel() is already an int"
                               if isinstance(value, torch.Tensor) and key == "numel" else "")
        return case.judge(outcome)
    return dataclasses.replace(case, judge=judge)


@CHECKS.add("0.2", points=1, target="basics.tensor_summary")
def tensor_summary(gen, device):
    yield _summary_case(torch.randn(2, 3, generator=gen).to(device))
    yield _summary_case(torch.arange(4, device=device))
    yield _summary_case(torch.zeros(5, 1, 2, dtype=torch.float64, device=device, requires_grad=True))
    yield _summary_case(torch.tensor(3.0, device=device))


@CHECKS.answer("0.a")
def answer_default_device(gen, device):
    # The string str() gives for the device of a tensor made without device=..., in this (trusted) process.
    yield answer("00_basics", "answer_default_device", expect=str(torch.zeros(1).device))
