"""Checks for lesson 00 (course_pkg/basics.py)."""
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
        return None if got == torch.device(expected) else Failure(f"expected torch.device('{expected}'), got {got!r}")
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


@CHECKS.add("0.2", points=1, target="basics.tensor_summary")
def tensor_summary(gen, device):
    yield call("basics.tensor_summary", torch.randn(2, 3, generator=gen).to(device),
               expect=_summary(torch.empty(2, 3, device=device)))
    ints = torch.arange(4, device=device)
    yield call("basics.tensor_summary", ints, expect=_summary(ints))
    w = torch.zeros(5, 1, 2, dtype=torch.float64, device=device, requires_grad=True)
    yield call("basics.tensor_summary", w, expect=_summary(w))
    scalar = torch.tensor(3.0, device=device)
    yield call("basics.tensor_summary", scalar, expect=_summary(scalar))


@CHECKS.answer("0.a")
def answer_default_device(gen, device):
    # The string str() gives for the device of a tensor made without device=..., in this (trusted) process.
    yield answer("00_basics", "answer_default_device", expect=str(torch.zeros(1).device))
