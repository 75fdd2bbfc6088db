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


# Per-category thresholds --------------------------------------------------------------------
#
# One threshold for every category lets the easy, frequent categories pay for the hard, rare
# ones: measured on a category-balanced held-out BANKING77 set, a single threshold whose
# out-of-fold bound said 2 % automated at 4.2 % (bench/model_quality.md). So each predicted
# category gets its own threshold, the evidence is weighted so that every category counts the same
# (a balanced mix, not the training mix), and the bound is taken over the whole automated share:
# a per-category 2 % bound would need ~600 error-free rows per category at the corrected level.
#
# The thresholds come from a one-parameter family: for an error level ``a`` each category's
# threshold is the lowest grid point where its (shrunk) error among predictions at or above it is
# at most ``a``. Levels are tried on LEVEL_GRID; each is a test, so the bound is taken at the
# Bonferroni level over that grid. Thresholds fitted on the rows that then measure them would
# flatter themselves (a threshold placed just above a category's last error), so the bound is
# cross-fitted: thresholds fitted on one half of the rows are measured on the other half, and
# the other way round.

LEVEL_GRID = np.round(np.arange(0.0, 0.1001, 0.0025), 4)  # per-category error levels tried
PRIOR_ROWS = 400.0  # pseudo-rows pulling a category's error towards the pooled one (shrinkage)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-row weights (mean 1) that give every category the same total weight: evidence for a
    balanced mix of categories, whatever the mix the rows came in."""
    labels = np.asarray(labels)
    _, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[index]
    return weights * (len(labels) / weights.sum()) if len(labels) else weights


def expected_calibration_error(
    *, confidences: np.ndarray, correct: np.ndarray, bins: int = 15, weights: np.ndarray | None = None
) -> float:
    """ECE with ``bins`` equal-width confidence bins: the (weighted) mean |accuracy - confidence|
    over bins, each bin counted by its share of the rows."""
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=float)
    weights = np.ones_like(confidences) if weights is None else np.asarray(weights, dtype=float)
    if not len(confidences) or weights.sum() <= 0:
        return 0.0
    which = np.clip(np.ceil(confidences * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for bin_index in range(bins):
        mask = which == bin_index
        mass = weights[mask].sum()
        if mass > 0:
            gap = np.average(correct[mask], weights=weights[mask]) - np.average(
                confidences[mask], weights=weights[mask]
            )
            total += mass * abs(gap)
    return float(total / weights.sum())


@dataclass(frozen=True)
class CategoryThresholds:
    thresholds: dict[str, float]  # predicted category -> threshold (NO_THRESHOLD: never automated)
    level: float | None  # the chosen per-category error level; None: nothing may be automated
    automation_rate: float  # weighted share automated, cross-fitted
    error_above: float  # weighted error among automated, cross-fitted
    upper_bound: float  # of that error, at the corrected level (effective sample size)
    effective_above: float  # Kish effective number of automated rows behind the bound


def _shrunk_errors(
    *,
    confidences: np.ndarray,
    predicted: np.ndarray,
    wrong: np.ndarray,
    weights: np.ndarray,
    categories: np.ndarray,
    grid: np.ndarray,
    prior_rows: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(mass, shrunk), each (len(grid), len(categories)): the weight of each category's rows with
    confidence >= t, and their weighted error shrunk towards the pooled error at t."""
    above = confidences[None, :] >= grid[:, None]  # (grid, rows)
    pooled_mass = above @ weights
    pooled_errors = above @ (weights * wrong)
    pooled_rate = np.divide(pooled_errors, pooled_mass, out=np.ones_like(pooled_mass), where=pooled_mass > 0)
    # One column per category: its rows' weights (and weighted errors), zero elsewhere.
    membership = predicted[:, None] == categories[None, :]  # (rows, categories)
    mass = above @ (membership * weights[:, None])
    errors = above @ (membership * (weights * wrong)[:, None])
    shrunk = (errors + prior_rows * pooled_rate[:, None]) / (mass + prior_rows)
    return mass, shrunk


def _thresholds_at(
    *, mass: np.ndarray, shrunk: np.ndarray, level: float, categories: np.ndarray, grid: np.ndarray
) -> dict[str, float]:
    """Each category's lowest grid threshold whose shrunk error is at most ``level``."""
    passing = (mass > 0) & (shrunk <= level)  # (grid, categories); the grid descends
    lowest = len(grid) - 1 - np.argmax(passing[::-1], axis=0)
    return {
        str(category): float(grid[lowest[k]]) if passing[:, k].any() else NO_THRESHOLD
        for k, category in enumerate(categories)
    }


def thresholds_select_per_category(
    *,
    confidences: np.ndarray,
    predicted: np.ndarray,
    wrong: np.ndarray,
    target_error: float,
    weights: np.ndarray | None = None,
    confidence_level: float = CONFIDENCE_LEVEL,
    grid: np.ndarray = THRESHOLD_GRID,
    levels: np.ndarray = LEVEL_GRID,
    prior_rows: float = PRIOR_ROWS,
    seed: int = 0,
) -> CategoryThresholds:
    """Per-category thresholds whose cross-fitted upper bound (Bonferroni over ``levels``) of the
    weighted error among everything automated is at most ``target_error``; among the levels that
    pass, the one automating the most. ``weights`` (e.g. ``balanced_weights(true_labels)``) set the
    category mix the bound is for; None means the rows' own mix. See the comment above."""
    confidences = np.asarray(confidences, dtype=float)
    predicted = np.asarray(predicted).astype(str)
    wrong = np.asarray(wrong).astype(bool)
    weights = np.ones_like(confidences) if weights is None else np.asarray(weights, dtype=float)
    categories = np.unique(predicted)
    nothing = CategoryThresholds({str(c): NO_THRESHOLD for c in categories}, None, 0.0, 0.0, 1.0, 0.0)
    if not len(confidences):
        return nothing
    # Two halves, each holding half of every predicted category's rows.
    half = np.zeros(len(confidences), dtype=bool)
    permutation = np.random.default_rng(seed).permutation(len(confidences))
    for category in categories:
        rows = permutation[predicted[permutation] == category]
        half[rows[::2]] = True
    corrected = 1 - (1 - confidence_level) / len(levels)
    evidence = {
        which: _shrunk_errors(
            confidences=confidences[rows], predicted=predicted[rows], wrong=wrong[rows],
            weights=weights[rows], categories=categories, grid=grid, prior_rows=prior_rows,
        )
        for which, rows in ((True, half), (False, ~half))
    }
    best: CategoryThresholds | None = None
    for level in levels:
        automated = np.zeros(len(confidences), dtype=bool)
        for fit_rows in (half, ~half):
            mass, shrunk = evidence[fit_rows is half]
            fitted = _thresholds_at(
                mass=mass, shrunk=shrunk, level=float(level), categories=categories, grid=grid
            )
            measured = ~fit_rows
            cut = np.array([fitted[c] for c in predicted[measured]])
            automated[measured] = confidences[measured] >= cut
        mass = weights[automated].sum()
        if mass <= 0:
            continue
        error = float((weights * wrong)[automated].sum() / mass)
        effective = float(mass**2 / (weights[automated] ** 2).sum())
        bound = float(
            error_upper_bounds(
                errors=np.array([error * effective]), totals=np.array([effective]), confidence=corrected
            )[0]
        )
        rate = float(mass / weights.sum())
        if bound <= target_error and (best is None or rate > best.automation_rate):
            best = CategoryThresholds({}, float(level), rate, error, bound, effective)
    if best is None or best.level is None:
        return nothing
    mass, shrunk = _shrunk_errors(
        confidences=confidences, predicted=predicted, wrong=wrong, weights=weights,
        categories=categories, grid=grid, prior_rows=prior_rows,
    )
    final = _thresholds_at(mass=mass, shrunk=shrunk, level=best.level, categories=categories, grid=grid)
    return CategoryThresholds(final, best.level, best.automation_rate, best.error_above,
                              best.upper_bound, best.effective_above)
