"""The promotion gate: a candidate's latest runs on the gate sets (``EVAL_GATE_SETS``) must pass.

A set the repository ships is built on first use; a run is made for the candidate (and for
production, the reference of the accuracy comparison) when it has none on the set's current
version. Each failure is named ``<set>: <gate>`` (gates: ``triage.evaluation.metrics.GATES``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings

from triage.configuration.models import TriageConfiguration
from triage.configuration.services import GateResult
from triage.evaluation.building import evalset_build_committed
from triage.evaluation.models import EvalCase, EvalRun, EvalSet
from triage.evaluation.running import eval_run_execute, latest_run, run_judge

Progress = Callable[[Iterable[EvalCase], int], Iterable[EvalCase]]


def gate_set(name: str) -> EvalSet | None:
    found = EvalSet.objects.filter(name=name).first()
    if found is None:
        built = evalset_build_committed(name)
        found = built.evalset if built is not None else None
    return found


def _current_run(configuration: TriageConfiguration, evalset: EvalSet, progress: Progress | None) -> EvalRun:
    run = latest_run(configuration=configuration, evalset=evalset)
    if run is None:
        run = eval_run_execute(configuration=configuration, evalset=evalset,
                               **({"progress": progress} if progress else {}))
    return run


def gate_evaluate(
    candidate: TriageConfiguration, production: TriageConfiguration | None, *, progress: Progress | None = None
) -> GateResult:
    failures: list[str] = []
    evidence: dict[str, object] = {"sets": {}}
    for name in settings.EVAL_GATE_SETS:
        evalset = gate_set(name)
        if evalset is None:
            failures.append(f"{name}: missing_evalset")
            continue
        if production is not None:
            _current_run(production, evalset, progress)  # the reference for the accuracy gate
        run = run_judge(_current_run(candidate, evalset, progress))  # judged against production now
        failures += [f"{name}: {failure}" for failure in run.failures]
        evidence["sets"][name] = {"run": run.pk, "evalset_hash": evalset.content_hash,  # type: ignore[index]
                                  "metrics": run.metrics, "failures": run.failures}
    return GateResult(passed=not failures, failures=failures, evidence=evidence)
