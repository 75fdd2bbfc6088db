"""An evaluation run: a configuration's whole pipeline on every case of a set (redaction, provider
chain, validation, grounding and injection checks, policy) through the same functions as a live
run (``triage.pipeline.context.context_prepare``, ``decide.chain_ask``, ``checks.output_check``,
``decide.verdict_for``), on an unsaved ticket: nothing is sent, no ticket changes, no decision is
logged. Results are stored per case."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from support.models import Category, Customer, Ticket
from support.reasons import REASON_AI_UNAVAILABLE
from triage.configuration.models import TriageConfiguration
from triage.configuration.runtime import triage_setup
from triage.evaluation.metrics import CaseOutcome, gate_failures, mcnemar_worse, run_metrics
from triage.evaluation.models import EvalCase, EvalResult, EvalRun, EvalSet
from triage.pii import pii_redact_stored
from triage.pipeline.checks import output_check
from triage.pipeline.context import PreparedRun, context_prepare
from triage.pipeline.decide import chain_ask, verdict_for
from triage.providers.chain import Attempt

EVAL_CUSTOMER_EMAIL = "evaluation-case@switchboard.invalid"
_DIGITS = re.compile(r"\D")


def _leaks(values: list[str], texts: list[str]) -> bool:
    """Does any personal value appear in what left (or would leave) the building? Digits are
    compared without separators too, so "4929 1234..." is found as "49291234..."."""
    haystack = "\n".join(texts)
    digits = _DIGITS.sub("", haystack)
    for value in values:
        if value and value in haystack:
            return True
        value_digits = _DIGITS.sub("", value)
        if len(value_digits) >= 6 and value_digits in digits:
            return True
    return False


def _outgoing(prepared: PreparedRun, attempts: list[Attempt]) -> list[str]:
    """What the run sent off this machine, and what the decision log would have stored."""
    texts = [pii_redact_stored(attempt.content, prepared.context.mapping) for attempt in attempts]
    texts += [attempt.request_record for attempt in attempts]
    if any(provider.external for provider in prepared.context.setup.providers):
        texts.append(prepared.request.user_prompt_redacted)
    return texts


def case_evaluate(case: EvalCase, configuration: TriageConfiguration) -> tuple[CaseOutcome, dict[str, Any]]:
    """One case through the configuration's pipeline; returns its outcome and result columns."""
    started = time.monotonic()
    setup = triage_setup(configuration)
    ticket = Ticket(customer=Customer(email=EVAL_CUSTOMER_EMAIL), subject=case.subject[:300])  # never saved
    prepared = context_prepare(
        ticket=ticket, started=timezone.now(), subject=case.subject, body=case.text,
        thread_texts=[case.subject, case.text], setup=setup,
    )
    attempts: list[Attempt] = []
    # No cache: a run measures the chain as it answers now, cost included.
    result = chain_ask(prepared, on_attempt=attempts.append, use_cache=False)
    winner = result.winner
    columns: dict[str, Any] = {"review_reasons": [REASON_AI_UNAVAILABLE]}
    predicted, confidence, automated = "", None, False
    if winner is not None and winner.output is not None:
        attempts.append(winner)
        output = winner.output
        checked = output_check(prepared.context, output)
        category = Category.objects.select_related("default_team").get(slug=output.category)
        verdict = verdict_for(prepared.context, winner=winner, output=output, checked=checked, category=category,
                              team=category.default_team, healthy=True)
        predicted, confidence, automated = output.category, output.confidence, verdict.auto_send
        columns = {"provider": winner.provider, "model": winner.model[:120], "review_reasons": list(verdict.reasons),
                   "risk_flags": checked.risk_flags}
    cost = sum((Decimal(str(attempt.cost_usd)) for attempt in attempts), Decimal(0))
    outcome = CaseOutcome(
        case_id=case.pk, kind=case.kind, expected_category=case.expected_category,
        expected_high_stakes=case.expected_high_stakes, predicted_category=predicted, confidence=confidence,
        automated=automated, pii_leak=_leaks(list(case.pii_values), _outgoing(prepared, attempts)),
        cost_usd=float(cost), latency_ms=int((time.monotonic() - started) * 1000),
    )
    columns |= {"predicted_category": predicted, "confidence": confidence, "correct": outcome.correct,
                "automated": automated, "pii_leak": outcome.pii_leak, "cost_usd": cost,
                "latency_ms": outcome.latency_ms}
    return outcome, columns


def latest_run(*, configuration: TriageConfiguration, evalset: EvalSet) -> EvalRun | None:
    """The configuration's latest finished run on this version of the set."""
    return (EvalRun.objects.filter(configuration=configuration, evalset=evalset, evalset_hash=evalset.content_hash,
                                   finished_at__isnull=False).first())


def run_correctness(run: EvalRun) -> dict[int, bool]:
    return dict(run.results.values_list("case_id", "correct"))


def production_comparison(run: EvalRun) -> dict[str, Any] | None:
    """McNemar against production's latest run on the same set (None: no production, or it is
    this configuration, or it has no run there)."""
    production = TriageConfiguration.objects.production()
    if production is None or production.pk == run.configuration_id:
        return None
    reference = latest_run(configuration=production, evalset=run.evalset)
    if reference is None:
        return None
    worse, p_value, b, c = mcnemar_worse(candidate=run_correctness(run), production=run_correctness(reference))
    return {"production": production.name, "production_run": reference.pk,
            "production_accuracy": reference.metrics.get("accuracy"), "worse": worse, "mcnemar_p": round(p_value, 6),
            "only_production_right": b, "only_candidate_right": c}


def run_judge(run: EvalRun) -> EvalRun:
    """(Re)compute the run's gates, production's latest run on the set being the reference."""
    comparison = production_comparison(run)
    run.failures = gate_failures(
        run.metrics,
        target_error=run.configuration.target_error,
        comparison=comparison,
        safety_suite=run.evalset.source == EvalSet.Source.SUITE,
    )
    run.passed = not run.failures
    run.metrics = {**run.metrics, "comparison": comparison}
    run.save(update_fields=["failures", "passed", "metrics"])
    return run


def eval_run_execute(
    *,
    configuration: TriageConfiguration,
    evalset: EvalSet,
    progress: Callable[[Iterable[EvalCase], int], Iterable[EvalCase]] = lambda cases, total: cases,
) -> EvalRun:
    """Run every case, store one result each, then the run's metrics and gates. ``progress``
    wraps the case iterator (the command's tqdm bar)."""
    run = EvalRun.objects.create(configuration=configuration, evalset=evalset, evalset_hash=evalset.content_hash)
    cases = list(evalset.cases.order_by("position"))
    outcomes = []
    for case in progress(cases, len(cases)):
        outcome, columns = case_evaluate(case, configuration)
        outcomes.append(outcome)
        EvalResult.objects.create(run=run, case=case, **columns)
    with transaction.atomic():
        run.metrics = {"config": configuration.name, "evalset": evalset.name, **run_metrics(outcomes)}
        run.finished_at = timezone.now()
        run.save(update_fields=["metrics", "finished_at"])
        run_judge(run)
    return run


def run_summary(run: EvalRun) -> dict[str, Any]:
    """The ``eval_run --json`` object."""
    metrics = {key: value for key, value in run.metrics.items() if key != "comparison"}
    return {**metrics, "config": run.configuration.name, "evalset": run.evalset.name, "run": run.pk,
            "target_error": run.configuration.target_error, "comparison": run.metrics.get("comparison"),
            "passed": run.passed, "failures": list(run.failures)}
