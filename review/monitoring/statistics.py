"""The tests behind the drift checks, on plain samples (no database): the checks, the dashboard's
population stability index and bench/drift_false_alarms.py all use these, so each rule has one home.

Every test comes from ``scipy.stats``; a breach needs BOTH a p-value under ``alpha`` (the change
is not sampling noise) and an effect over a threshold (the change is big enough to matter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

# A category absent from one side would make PSI infinite; give it this share instead.
PSI_FLOOR = 0.0001


@dataclass(frozen=True)
class DriftThresholds:
    alpha: float = 0.001
    min_samples: int = 100
    psi: float = 0.1
    ks: float = 0.1
    rate_min_change: float = 0.01
    ratio: float = 1.5
    mix_ratio: float = 2.0

    @classmethod
    def from_settings(cls) -> DriftThresholds:
        from django.conf import settings

        return cls(
            alpha=settings.DRIFT_ALPHA,
            min_samples=settings.DRIFT_MIN_SAMPLES,
            psi=settings.DRIFT_PSI_THRESHOLD,
            ks=settings.DRIFT_KS_THRESHOLD,
            rate_min_change=settings.DRIFT_RATE_MIN_CHANGE,
            ratio=settings.DRIFT_RATIO_THRESHOLD,
            mix_ratio=settings.DRIFT_MIX_RATIO,
        )


@dataclass
class TestOutcome:
    """One test on one pair of samples. ``statistic`` is None when a side had fewer than
    ``min_samples`` observations: too little data is never a breach."""

    test: str
    threshold: float
    statistic: float | None = None
    p_value: float | None = None
    breached: bool = False
    reference_count: int = 0
    recent_count: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def enough_data(self) -> bool:
        return self.statistic is not None


@dataclass
class Mover:
    key: str
    reference_share: float
    recent_share: float
    contribution: float

    @property
    def change(self) -> float:
        return self.recent_share - self.reference_share


def population_stability_index(reference: Mapping[str, int], recent: Mapping[str, int]) -> tuple[float | None, list[Mover]]:
    """PSI = Σ (recent − reference) · ln(recent / reference) over shares, each share floored at
    ``PSI_FLOOR`` so a key new on one side counts heavily but finitely. Movers are sorted by
    contribution, largest first. ``(None, [])`` when either side is empty."""
    reference_total = sum(reference.values())
    recent_total = sum(recent.values())
    if not reference_total or not recent_total:
        return None, []
    movers = []
    for key in sorted(set(reference) | set(recent)):
        expected = max(reference.get(key, 0) / reference_total, PSI_FLOOR)
        actual = max(recent.get(key, 0) / recent_total, PSI_FLOOR)
        movers.append(
            Mover(
                key=key,
                reference_share=reference.get(key, 0) / reference_total,
                recent_share=recent.get(key, 0) / recent_total,
                contribution=(actual - expected) * math.log(actual / expected),
            )
        )
    movers.sort(key=lambda mover: (-mover.contribution, mover.key))
    return sum(mover.contribution for mover in movers), movers


def _finite(value: float) -> float:
    # scipy answers NaN when a test is undefined (every value identical): no evidence of a change.
    return 1.0 if math.isnan(value) else float(value)


def _too_few(outcome: TestOutcome, thresholds: DriftThresholds) -> bool:
    return min(outcome.reference_count, outcome.recent_count) < thresholds.min_samples


def _two_proportion_z(reference_hits: int, reference_total: int, recent_hits: int, recent_total: int) -> float:
    """Pooled two-proportion z of recent − reference (0 when both rates are 0 or 1)."""
    pooled = (reference_hits + recent_hits) / (reference_total + recent_total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / reference_total + 1 / recent_total))
    return (recent_hits / recent_total - reference_hits / reference_total) / spread if spread else 0.0


def _exact_p(reference_hits: int, reference_total: int, recent_hits: int, recent_total: int, *,
             alternative: str) -> float:
    """Fisher's exact test on the 2×2 table (``scipy.stats.fisher_exact``). The normal
    approximation behind z is far too optimistic for rare events (5 timeouts in 200 against 15 in
    3,000: z ≈ 3.5, normal p ≈ 0.0003, exact p ≈ 0.006), so every rate breach is confirmed exactly."""
    table = [[recent_hits, recent_total - recent_hits], [reference_hits, reference_total - reference_hits]]
    return _finite(stats.fisher_exact(table, alternative=alternative).pvalue)


def mix_test(reference: Mapping[str, int], recent: Mapping[str, int], thresholds: DriftThresholds, *, top: int = 5) -> TestOutcome:
    """A categorical mix: PSI (effect) and Pearson's chi-square on the 2×k table of counts
    (``scipy.stats.chi2_contingency``). Breached when PSI > ``thresholds.psi`` with the chi-square
    p < alpha, OR when one key's share moved by a factor of ``thresholds.mix_ratio`` (up or down)
    with its own Fisher exact test significant at alpha / k (Bonferroni over the k keys). The
    second rule exists because one of 77 intents tripling barely moves PSI (≈ 0.03) or the
    76-degree-of-freedom chi-square, yet is exactly the shift a manager wants to hear about."""
    outcome = TestOutcome(
        test="PSI + chi-square", threshold=thresholds.psi,
        reference_count=sum(reference.values()), recent_count=sum(recent.values()),
    )
    if _too_few(outcome, thresholds):
        return outcome
    psi, movers = population_stability_index(reference, recent)
    keys = sorted(set(reference) | set(recent))
    if len(keys) < 2:
        p_value = 1.0
    else:
        table = np.array([[reference.get(key, 0) for key in keys], [recent.get(key, 0) for key in keys]])
        p_value = _finite(stats.chi2_contingency(table).pvalue)
    per_key_alpha = thresholds.alpha / len(keys)
    shifted = []
    for mover in movers:
        ratio = max(mover.recent_share, PSI_FLOOR) / max(mover.reference_share, PSI_FLOOR)
        if thresholds.mix_ratio > ratio > 1 / thresholds.mix_ratio:
            continue
        key_p = _exact_p(reference.get(mover.key, 0), outcome.reference_count,
                         recent.get(mover.key, 0), outcome.recent_count, alternative="two-sided")
        if key_p < per_key_alpha:
            shifted.append({"key": mover.key, "ratio": round(ratio, 3), "p_value": float(f"{key_p:.3g}")})
    outcome.statistic = float(psi or 0.0)
    outcome.p_value = p_value
    outcome.breached = (outcome.statistic > thresholds.psi and p_value < thresholds.alpha) or bool(shifted)
    outcome.evidence = {
        "movers": [
            {"key": mover.key, "reference_share": round(mover.reference_share, 4),
             "recent_share": round(mover.recent_share, 4), "contribution": round(mover.contribution, 4)}
            for mover in movers[:top]
        ],
        "shifted": shifted[:top],
    }
    return outcome


def _summary(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {
        "mean": round(float(array.mean()), 4),
        "p10": round(float(np.percentile(array, 10)), 4),
        "median": round(float(np.median(array)), 4),
        "p90": round(float(np.percentile(array, 90)), 4),
    }


def distribution_test(reference: Sequence[float], recent: Sequence[float], thresholds: DriftThresholds) -> TestOutcome:
    """A continuous distribution: the two-sample Kolmogorov–Smirnov statistic D (the largest gap
    between the two empirical CDFs, ``scipy.stats.ks_2samp``). Breached when D > ``thresholds.ks``
    and p < alpha."""
    outcome = TestOutcome(
        test="Kolmogorov-Smirnov", threshold=thresholds.ks,
        reference_count=len(reference), recent_count=len(recent),
    )
    if _too_few(outcome, thresholds):
        return outcome
    result = stats.ks_2samp(reference, recent)
    outcome.statistic = float(result.statistic)
    outcome.p_value = _finite(result.pvalue)
    outcome.breached = outcome.statistic > thresholds.ks and outcome.p_value < thresholds.alpha
    outcome.evidence = {"reference": _summary(reference), "recent": _summary(recent)}
    return outcome


def rate_test(
    reference_hits: int, reference_total: int, recent_hits: int, recent_total: int, thresholds: DriftThresholds
) -> TestOutcome:
    """A rate that is bad when it rises (errors, overrides): the pooled two-proportion z-test,
    one-sided. The statistic is z, its threshold the z for alpha (``scipy.stats.norm``); a breach
    also needs Fisher's exact one-sided p < alpha (the reported p-value) and the rate to rise by at
    least ``thresholds.rate_min_change``."""
    outcome = TestOutcome(
        test="two-proportion z (one-sided)", threshold=float(stats.norm.isf(thresholds.alpha)),
        reference_count=reference_total, recent_count=recent_total,
    )
    if _too_few(outcome, thresholds):
        return outcome
    reference_rate = reference_hits / reference_total
    recent_rate = recent_hits / recent_total
    z = _two_proportion_z(reference_hits, reference_total, recent_hits, recent_total)
    outcome.statistic = z
    outcome.p_value = _exact_p(reference_hits, reference_total, recent_hits, recent_total, alternative="greater")
    outcome.breached = (
        z > outcome.threshold
        and outcome.p_value < thresholds.alpha
        and recent_rate - reference_rate >= thresholds.rate_min_change
    )
    outcome.evidence = {
        "reference_rate": round(reference_rate, 4), "recent_rate": round(recent_rate, 4),
        "reference_hits": reference_hits, "recent_hits": recent_hits,
    }
    return outcome


def ratio_test(
    reference: Sequence[float], recent: Sequence[float], thresholds: DriftThresholds, *, quantile: float | None, floor: float
) -> TestOutcome:
    """A cost that is bad when it rises (latency p95, cost per ticket): the ratio recent/reference
    of the quantile (or of the mean when ``quantile`` is None), with the one-sided Mann–Whitney U
    test (``scipy.stats.mannwhitneyu``: recent values tend to be larger). Breached when the ratio >
    ``thresholds.ratio`` and p < alpha. ``floor`` keeps a zero reference (a free local model) finite."""
    name = "mean" if quantile is None else f"p{round(quantile * 100)}"
    outcome = TestOutcome(
        test=f"{name} ratio + Mann-Whitney U", threshold=thresholds.ratio,
        reference_count=len(reference), recent_count=len(recent),
    )
    if _too_few(outcome, thresholds):
        return outcome

    def measure(values: Sequence[float]) -> float:
        array = np.asarray(values, dtype=float)
        return float(array.mean() if quantile is None else np.percentile(array, quantile * 100))

    reference_value, recent_value = measure(reference), measure(recent)
    outcome.statistic = max(recent_value, floor) / max(reference_value, floor)
    outcome.p_value = _finite(stats.mannwhitneyu(recent, reference, alternative="greater").pvalue)
    outcome.breached = outcome.statistic > thresholds.ratio and outcome.p_value < thresholds.alpha
    outcome.evidence = {f"reference_{name}": round(reference_value, 6), f"recent_{name}": round(recent_value, 6)}
    return outcome
