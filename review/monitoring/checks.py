"""The drift checks: what each compares and with which test (review/monitoring/statistics.py).
Pure functions of two ``Samples`` (reference, recent), so the benchmark runs them without a database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from review.monitoring.statistics import (
    DriftThresholds,
    TestOutcome,
    distribution_test,
    mix_test,
    rate_test,
    ratio_test,
)

# How a failed provider attempt is classified (review/monitoring/errors.py reads the same names).
ERROR_TYPES = ("timeout", "rate_limit", "connection", "validation")

# Latency and cost ratios against a zero reference: 1 ms and a millionth of a dollar.
LATENCY_FLOOR_MS = 1.0
COST_FLOOR_USD = 1e-6


@dataclass
class Samples:
    """What one window holds. Mixes are counts; distributions are values (possibly an even
    sub-sample); rates are hits out of totals."""

    categories: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    review_reasons: dict[str, int] = field(default_factory=dict)
    confidences: list[float] = field(default_factory=list)
    ticket_lengths: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    costs_per_ticket: list[float] = field(default_factory=list)
    judged: int = 0
    overridden: int = 0
    rejected: int = 0
    audits_graded: int = 0
    audits_incorrect: int = 0
    attempts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    finals: int = 0
    fallbacks: int = 0


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    run: Callable[[Samples, Samples, DriftThresholds], TestOutcome]


def _error_rate(kind: str) -> Callable[[Samples, Samples, DriftThresholds], TestOutcome]:
    def run(reference: Samples, recent: Samples, thresholds: DriftThresholds) -> TestOutcome:
        return rate_test(reference.errors.get(kind, 0), reference.attempts,
                         recent.errors.get(kind, 0), recent.attempts, thresholds)

    return run


CHECKS: tuple[Check, ...] = (
    Check("category_mix", "Category mix",
          lambda ref, now, th: mix_test(ref.categories, now.categories, th)),
    Check("confidence", "Confidence distribution",
          lambda ref, now, th: distribution_test(ref.confidences, now.confidences, th)),
    Check("language_mix", "Language mix",
          lambda ref, now, th: mix_test(ref.languages, now.languages, th)),
    Check("ticket_length", "Ticket length",
          lambda ref, now, th: distribution_test(ref.ticket_lengths, now.ticket_lengths, th)),
    Check("review_reason_mix", "Review-reason mix",
          lambda ref, now, th: mix_test(ref.review_reasons, now.review_reasons, th)),
    Check("override_rate", "Reviewer override rate",
          lambda ref, now, th: rate_test(ref.overridden, ref.judged, now.overridden, now.judged, th)),
    Check("reject_rate", "Reviewer reject rate",
          lambda ref, now, th: rate_test(ref.rejected, ref.judged, now.rejected, now.judged, th)),
    Check("audited_error", "Audited error",
          lambda ref, now, th: rate_test(ref.audits_incorrect, ref.audits_graded,
                                         now.audits_incorrect, now.audits_graded, th)),
    Check("latency_p95", "LLM latency p95",
          lambda ref, now, th: ratio_test(ref.latencies_ms, now.latencies_ms, th,
                                          quantile=0.95, floor=LATENCY_FLOOR_MS)),
    *(Check(f"error_rate_{kind}", f"Error rate: {kind.replace('_', ' ')}", _error_rate(kind)) for kind in ERROR_TYPES),
    Check("fallback_rate", "Fallback rate",
          lambda ref, now, th: rate_test(ref.fallbacks, ref.finals, now.fallbacks, now.finals, th)),
    Check("cost_per_ticket", "Cost per ticket",
          lambda ref, now, th: ratio_test(ref.costs_per_ticket, now.costs_per_ticket, th,
                                          quantile=None, floor=COST_FLOOR_USD)),
)

CHECKS_BY_NAME = {check.name: check for check in CHECKS}


def checks_evaluate(reference: Samples, recent: Samples, thresholds: DriftThresholds) -> dict[str, TestOutcome]:
    return {check.name: check.run(reference, recent, thresholds) for check in CHECKS}
