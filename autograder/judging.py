"""From one case's outcome (loaded safely from the sandbox) to its verdict, and from cases to a check.

The outcome is untrusted data: before any judge sees it, it must have the shape its probe records
(SCHEMAS). A malformed outcome is the student process's doing (it tampered with what came back) and
fails; a judge that raises on a well-formed outcome is the grader's own bug: `grader_error`.
"""
from __future__ import annotations

from pathlib import Path

from autograder import compare, forbidden
from autograder.results import CaseVerdict, CheckResult, Failure, NotStarted

_TEXT = (str, type(None))
_LIST = (list,)
_RECORD = (dict, list, str, int, float, bool, type(None))
# What each probe records (keys and top-level types); "call_error" alone is also a well-formed outcome.
SCHEMAS = {
    "call": {"value": _RECORD, "args_after": (dict,), "ops": _LIST},
    "call_with_devices": {"value": _RECORD},
    "notebook_answer": {"value": _RECORD},
    "observe": {"results": _LIST, "call_error": _TEXT, "versions_before": _LIST, "versions_after": _LIST,
                "is_input": _LIST, "args_after": (dict,), "requires_grad_after": _LIST,
                "grads_after_call": _LIST, "backward_error": _TEXT, "grads": _LIST,
                "backward_returned": (list, type(None)), "result_version_after_backward": (int, type(None))},
    "probes_inplace.reset_leaf": {"returned_is_w": (bool,), "w": _RECORD,
                                  "version_before": (int,), "version_after": (int,), "is_leaf": (bool,),
                                  "requires_grad": (bool,), "stale_backward_error": _TEXT,
                                  "fresh_backward_error": _TEXT, "grad_after": _RECORD},
    "probes_modules.module_run": {"call_error": _TEXT, "is_module": (bool,), "mro": _LIST,
                                  "built": (dict, type(None)), "state_dict": (dict, type(None)), "steps": _LIST,
                                  "step_error": _TEXT, "ops": _LIST},
    "probes_modules.freeze_run": {"returned": _RECORD, "requires_grad": (dict,), "values": (dict,), "changed": _LIST,
                                  "names": _LIST, "backward_error": _TEXT, "grads": (dict,)},
    "probes_modules.checkpoint_run": {"losses_before": _LIST, "losses_after": _LIST, "returned": _RECORD,
                                      "state": (dict, type(None)), "optimizer_state": _RECORD,
                                      "marker_exists": (bool,)},
    "probes_optim.sgd_run": {"call_error": _TEXT, "mro": _LIST, "params": _LIST, "versions": _LIST, "buffers": _LIST,
                             "returned": _LIST, "step_error": _TEXT, "delegated": _LIST, "unhooked": (bool,)},
    "probes_optim.sgd_errors": {"raised": _LIST},
    "probes_optim.ema_run": {"same_object": (bool,), "is_module": (bool,), "source_training": (bool, type(None)),
                             "states": _LIST, "updates": _LIST, "source_changed": (bool,), "step_error": _TEXT},
    "probes_training.loop_run": {"returned": _RECORD, "forwards": _LIST, "training_after": (bool, type(None)),
                                 "state": (dict, type(None)), "grad_enabled_after": (bool, type(None))},
    "probes_training.loader_run": {"is_loader": (bool,), "epochs": _LIST, "global_after": _RECORD},
    "probes_training.plot_run": {"is_figure": (bool,), "axes": _LIST},
    "probes_capstone.split_run": {"loaders": _LIST, "epochs": _LIST, "global_after": _RECORD},
    "probes_capstone.pipeline_run": {"yours": (dict,), "torch": (dict,)},
    "probes_capstone.parts_run": {"losses": _LIST, "states": _LIST, "ema": (dict, type(None)), "logits": _RECORD,
                                  "delegated": _LIST, "unhooked": (bool,), "step_error": _TEXT, "ops": _LIST},
    "probes_capstone.train_run": {"returned": _RECORD, "forwards": _LIST, "training_after": (bool, type(None)),
                                  "state": (dict, type(None)), "ema": (dict, type(None))},
    "probes_graph.backward_run": {"returned": _RECORD, "engine": _LIST, "custom": _LIST, "grads_after_call": _LIST,
                                  "fixtures_changed": (bool,)},
    "probes_detach.to_numpy": {"type": (str,), "input_requires_grad": _LIST, "input_version": _LIST,
                               "values": _RECORD, "returned": _RECORD},
}


def malformed(probe: str, outcome: dict) -> str | None:
    """Why an outcome does not have its probe's shape (None: it does)."""
    if isinstance(outcome.get("call_error"), str) and probe != "observe":
        return None
    for key, types in SCHEMAS.get(probe, {}).items():
        if key not in outcome:
            return f"its result has no {key!r}"
        if not isinstance(outcome[key], types):
            return f"its result's {key!r} is a {type(outcome[key]).__name__}"
    return None


def judge(check, case, outcome: dict) -> CaseVerdict:
    status = outcome.get("status")
    if status == "not_implemented":
        return CaseVerdict("not_started", Failure(f"not started yet: the stub still raises NotImplementedError "
                                                  f"({str(outcome.get('error', ''))[:300]})"), case.shown)
    if status == "tampered":
        return CaseVerdict("fail", Failure(f"the submission changed what the grader relies on ({str(outcome.get('error'))[:300]}): "
                                           "this case fails, whatever was observed"), case.shown)
    if status != "ok":
        return CaseVerdict("error", Failure(f"raised an error:\n{str(outcome.get('error', ''))[:3000]}"), case.shown)
    problem = malformed(case.probe, outcome)
    if problem:
        return CaseVerdict("fail", Failure(f"{problem}: what came back from the student process was tampered "
                                           "with or malformed"), case.shown)
    used = forbidden.in_trace(check.forbid, outcome.get("ops"))
    if used:
        return CaseVerdict("fail", Failure(f"delegates to {used}, which this exercise asks you not to use"),
                           case.shown)
    try:
        failure = case.judge(outcome)
    except compare.Unreadable as e:
        failure = Failure(str(e))
    except Exception as e:
        return CaseVerdict("grader_error", Failure(
            f"the grader could not judge this case ({type(e).__name__}: {str(e)[:300]}): this is a fault of the "
            "grader, not of your code; your instructor has been told"), case.shown)
    if failure is not None and not isinstance(failure, Failure):
        return grader_error(f"the grader's judge of this case returned a {type(failure).__name__}, not a Failure: "
                            "a fault of the grader, not of your code", case.shown)
    if isinstance(failure, NotStarted):
        return CaseVerdict("not_started", failure, case.shown)
    return CaseVerdict("fail" if failure else "pass", failure, case.shown)


def grader_error(message: str, shown: str = "") -> CaseVerdict:
    return CaseVerdict("grader_error", Failure(message), shown)


def aggregate(check, verdicts_by_device: dict[str, list[CaseVerdict]], submission: Path,
              tampering: str | None = None) -> CheckResult:
    """One check's result: per device the worst status of its cases; the first problem is the message.
    tampering: what in the package reaches into the grader (forbidden.tampering): no exercise passes."""
    result = CheckResult(check.id, check.title, 0.0, float(check.points), check.hidden, check.kind)
    static = forbidden.in_source(check.forbid, check.target, submission)
    if tampering and check.kind == "exercise":
        static = tampering
    first: Failure | None = None
    for device, verdicts in verdicts_by_device.items():
        if not verdicts:
            continue
        statuses = {v.status for v in verdicts}
        status = next((s for s in ("grader_error", "error", "fail", "not_started") if s in statuses), "pass")
        if status == "pass" and static:
            status = "fail"
        result.devices[device] = status
        bad = next((v for v in verdicts if v.status == status), None) if status != "pass" else None
        if bad and first is None:
            first = _feedback(check, device, bad)
    if static:
        first = Failure(static) if first is None else Failure(f"{static}. Also: {first.message}", first.hint)
    passed = bool(result.devices) and all(s == "pass" for s in result.devices.values())
    result.points = float(check.points) if passed else 0.0
    if first is not None:
        result.message, result.hint = str(first), first.hint
    return result


def _feedback(check, device, verdict: CaseVerdict) -> Failure:
    failure = verdict.failure or Failure("")
    if check.hidden and verdict.status != "grader_error":
        # Hidden inputs never reach feedback: say what kind of problem, and the hint if one matched.
        if verdict.status == "error":
            return Failure(f"[{device}] a hidden case raised an error or did not finish")
        if verdict.status == "not_started":
            return Failure(f"[{device}] not started yet")
        return Failure(f"[{device}] wrong result on a hidden case", failure.hint)
    where = f" for {verdict.shown}" if verdict.shown and not check.hidden else ""
    return failure.within(f"[{device}]{where}: ")
