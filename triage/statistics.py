"""Error bounds and automation-threshold selection: the one home of these rules.

Used by ``train_classifier`` (the local model's threshold, on out-of-fold predictions),
``calibrate_thresholds`` (per-category thresholds, on reviewed decisions) and the autonomy brake
(audited error of auto-sent replies).

Bounds are exact one-sided Clopper-Pearson bounds on a binomial error rate (``scipy.stats.beta``).
A threshold is chosen on a fixed grid (1.00, 0.99, ..., 0.01): the lowest grid point whose upper
bound of the error among predictions at or above it is within the target. Every grid point is a
test, and taking the lowest that passes would favour a lucky dip, so the bound is taken at the
Bonferroni-corrected level ``1 - (1 - confidence) / len(grid)``: it then holds for all grid points
at once, so also for the chosen one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE_LEVEL = 0.95
THRESHOLD_GRID = np.round(np.arange(1.0, 0.0, -0.01), 2)  # 1.00, 0.99, ..., 0.01
NO_THRESHOLD = 1.01  # above every confidence: nothing is automated


def error_upper_bounds(
    *, errors: np.ndarray, totals: np.ndarray, confidence: float = CONFIDENCE_LEVEL
) -> np.ndarray:
    """One-sided Clopper-Pearson upper bounds, vectorised; 1.0 without data or when all wrong."""
    from scipy.stats import beta  # imported here: scipy.stats costs seconds at worker start

    errors = np.asarray(errors, dtype=float)
    totals = np.asarray(totals, dtype=float)
    valid = (totals > 0) & (errors < totals)
    bounds = np.ones_like(totals, dtype=float)
    if valid.any():
        bounds[valid] = beta.ppf(confidence, errors[valid] + 1, totals[valid] - errors[valid])
    return bounds


def error_upper_bound(*, errors: int, total: int, confidence: float = CONFIDENCE_LEVEL) -> float:
    """One-sided Clopper-Pearson upper bound on the error rate; 1.0 without data."""
    return float(
        error_upper_bounds(errors=np.array([errors]), totals=np.array([total]), confidence=confidence)[0]
    )


def error_lower_bound(*, errors: int, total: int, confidence: float = CONFIDENCE_LEVEL) -> float:
    """One-sided Clopper-Pearson lower bound on the error rate; 0.0 without errors."""
    from scipy.stats import beta

    if total <= 0 or errors <= 0:
        return 0.0
    return float(beta.ppf(1 - confidence, errors, total - errors + 1))


def samples_needed(*, target_error: float, confidence: float = CONFIDENCE_LEVEL) -> int:
    """The fewest error-free decisions whose upper bound is within the target (149 for 2% at
    95%): with no errors the Clopper-Pearson upper bound is 1 - (1 - confidence)^(1/n)."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - target_error) - 1e-9)


@dataclass(frozen=True)
class ThresholdSelection:
    threshold: float | None  # None: no grid point qualifies, nothing may be automated
    total: int  # decisions considered
    errors: int
    above: int  # decisions with confidence >= threshold
    errors_above: int
    upper_bound: float  # of the error among those above, at the corrected level

    @property
    def automation_rate(self) -> float:
        return self.above / self.total if self.total else 0.0

    @property
    def error_above(self) -> float:
        return self.errors_above / self.above if self.above else 0.0


def threshold_select(
    *,
    confidences: np.ndarray,
    wrong: np.ndarray,
    target_error: float,
    confidence_level: float = CONFIDENCE_LEVEL,
    grid: np.ndarray = THRESHOLD_GRID,
) -> ThresholdSelection:
    """The lowest ``grid`` threshold whose corrected upper bound of the error among decisions with
    confidence >= t is at most ``target_error`` (see the module docstring)."""
    confidences = np.asarray(confidences, dtype=float)
    wrong = np.asarray(wrong).astype(bool)
    total = len(confidences)
    errors_total = int(wrong.sum())
    nothing = ThresholdSelection(None, total, errors_total, 0, 0, 1.0)
    if total == 0:
        return nothing
    level = 1 - (1 - confidence_level) / len(grid)
    order = np.argsort(-confidences, kind="stable")
    errors_so_far = np.r_[0, np.cumsum(wrong[order])]
    # How many decisions each threshold lets through: confidence >= t.
    ascending = confidences[order][::-1]
    counts = total - np.searchsorted(ascending, grid, side="left")
    errors_at = errors_so_far[counts]
    bounds = error_upper_bounds(errors=errors_at, totals=counts, confidence=level)
    passing = np.flatnonzero((counts > 0) & (bounds <= target_error))
    if passing.size == 0:
        return nothing
    best = passing[-1]  # the grid descends: the last passing point is the lowest threshold
    return ThresholdSelection(
        threshold=float(grid[best]),
        total=total,
        errors=errors_total,
        above=int(counts[best]),
        errors_above=int(errors_at[best]),
        upper_bound=float(bounds[best]),
    )
