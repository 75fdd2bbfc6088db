"""How the local model's halves become calibrated probabilities: a softmax of a weighted sum of
their scores (the linear SVM's margins, the embedding head's log-probabilities), the weights
fitted by log-loss on out-of-fold predictions.

The weights do two jobs at once: they are the ensemble's mix (which half to trust how much) and
its temperature (how sharp the probabilities are). Fitting them on out-of-fold scores (every row
scored by models that did not see it) is what makes the confidence calibrated; with two
parameters on ~10,000 rows they cannot overfit. This replaced a 50/50 average of two separately
calibrated halves, which was under-confident (ECE 0.055 on a balanced held-out set) and needed
five calibration fits of the SVM per training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPSILON = 1e-12


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities, EPSILON, 1.0))


def scores_combine(scores: Sequence[np.ndarray], scales: Sequence[float]) -> np.ndarray:
    """softmax(sum_k scales[k] * scores[k]), row-wise."""
    logits = sum(float(scale) * np.asarray(score, dtype=np.float64) for score, scale in zip(scores, scales, strict=True))
    logits = np.asarray(logits)
    logits -= logits.max(axis=1, keepdims=True)
    exponentials = np.exp(logits)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def scales_fit(
    *, scores: Sequence[np.ndarray], truth: np.ndarray, weights: np.ndarray | None = None
) -> list[float]:
    """The non-negative scales minimising the (weighted) log-loss of ``truth`` (column indices)."""
    from scipy.optimize import minimize

    weights = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype=float)
    rows = np.arange(len(truth))

    def loss(scales: np.ndarray) -> float:
        probabilities = scores_combine(scores, scales.tolist())
        return float(-np.average(np.log(np.clip(probabilities[rows, truth], EPSILON, 1.0)), weights=weights))

    start = np.ones(len(scores))
    result = minimize(loss, start, method="L-BFGS-B", bounds=[(0.0, 100.0)] * len(scores))
    return [float(value) for value in result.x]
