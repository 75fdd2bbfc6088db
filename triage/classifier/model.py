"""A trained local model at prediction time: calibrated probabilities per category, fast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from triage.embeddings import get_encoder


@dataclass(frozen=True)
class Prediction:
    label: str  # a Category.slug
    confidence: float  # calibrated probability of `label`
    probabilities: dict[str, float]  # every class slug -> probability (sums to ~1)
    threshold: float  # the model's automation threshold
    model_name: str
    model_version: str

    @property
    def automate(self) -> bool:
        return self.confidence >= self.threshold


class LocalClassifier:
    """A fitted pipeline plus what is needed to explain and trust its output."""

    def __init__(
        self,
        *,
        pipeline: Any,
        threshold: float,
        model_name: str,
        model_version: str,
        metadata: dict[str, Any] | None = None,
        embedding_head: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.embedding_head = embedding_head
        self.labels: list[str] = [str(label) for label in pipeline.classes_]
        self.threshold = float(threshold)
        self.model_name = model_name
        self.model_version = model_version
        self.metadata = metadata or {}
        self._fast = _FastCalibratedLinear.from_pipeline(pipeline)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (columns in ``self.labels`` order)."""
        cleaned = [normalise_text(text) for text in texts]
        if self._fast is not None:
            probabilities = self._fast.predict_proba(cleaned)
        else:
            probabilities = np.asarray(self.pipeline.predict_proba(cleaned))
        if self.embedding_head is None:
            return probabilities
        return average_with_embeddings(
            probabilities, classes=self.pipeline.classes_, head=self.embedding_head, texts=cleaned
        )

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: list[str]) -> list[Prediction]:
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        best = probabilities.argmax(axis=1)
        labels = self.labels
        predictions = []
        for row, index in zip(probabilities.tolist(), best.tolist(), strict=True):
            predictions.append(
                Prediction(
                    label=labels[index],
                    confidence=float(row[index]),
                    probabilities=dict(zip(labels, row, strict=True)),
                    threshold=self.threshold,
                    model_name=self.model_name,
                    model_version=self.model_version,
                )
            )
        return predictions

    def predict_labels(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(labels, confidences) without building per-class dicts: the fast path for batches."""
        if not texts:
            return [], np.zeros(0)
        probabilities = self.predict_proba(texts)
        best = probabilities.argmax(axis=1)
        return [self.labels[i] for i in best.tolist()], probabilities.max(axis=1)


class _FastCalibratedLinear:
    """The same probabilities as ``CalibratedClassifierCV(LinearSVC, "sigmoid").predict_proba``
    with one sparse x dense product for all calibration folds at once.

    scikit-learn calls one small sigmoid per class and fold (5 x 77 calls), which costs ~20 ms
    per ticket whatever the batch size; this keeps one ticket well under a millisecond after
    the TF-IDF transform. Built at load time from the stored pipeline, so artifacts do not
    change; ``from_pipeline`` returns None for any other pipeline shape (the slow path is used).
    """

    def __init__(
        self,
        *,
        features: Any,
        weights: np.ndarray,
        intercepts: np.ndarray,
        slopes: np.ndarray,
        offsets: np.ndarray,
        folds: int,
        binary: bool,
    ) -> None:
        self.features = features
        self.weights = weights  # (n_features, folds * k)
        self.intercepts = intercepts  # (folds * k,)
        self.slopes = slopes  # (folds * k,)
        self.offsets = offsets  # (folds * k,)
        self.folds = folds
        self.binary = binary

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> _FastCalibratedLinear | None:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        try:
            calibrated = pipeline[-1]
            features = pipeline[:-1]
        except (TypeError, IndexError):
            return None
        if not isinstance(calibrated, CalibratedClassifierCV) or calibrated.method != "sigmoid":
            return None
        classes = calibrated.classes_
        binary = len(classes) == 2
        weights, intercepts, slopes, offsets = [], [], [], []
        for fold in calibrated.calibrated_classifiers_:
            estimator = fold.estimator
            if not isinstance(estimator, LinearSVC) or not np.array_equal(
                estimator.classes_, classes
            ):
                return None
            weights.append(estimator.coef_)
            intercepts.append(np.atleast_1d(estimator.intercept_))
            slopes.append([calibrator.a_ for calibrator in fold.calibrators])
            offsets.append([calibrator.b_ for calibrator in fold.calibrators])
        return cls(
            features=features,
            weights=np.ascontiguousarray(np.vstack(weights).T, dtype=np.float64),
            intercepts=np.concatenate(intercepts),
            slopes=np.concatenate(slopes).astype(np.float64),
            offsets=np.concatenate(offsets).astype(np.float64),
            folds=len(calibrated.calibrated_classifiers_),
            binary=binary,
        )

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        from scipy.special import expit

        matrix = self.features.transform(texts)
        decisions = np.asarray(matrix @ self.weights) + self.intercepts
        calibrated = expit(-(self.slopes * decisions + self.offsets))
        rows = len(texts)
        if self.binary:
            positive = calibrated.reshape(rows, self.folds)
            per_fold = np.stack([1.0 - positive, positive], axis=2)
        else:
            per_fold = calibrated.reshape(rows, self.folds, -1)
            totals = per_fold.sum(axis=2, keepdims=True)
            uniform = np.full_like(per_fold, 1.0 / per_fold.shape[2])
            per_fold = np.divide(per_fold, totals, out=uniform, where=totals != 0)
        return per_fold.mean(axis=1)


def normalise_text(text: str) -> str:
    # Tickets arrive with signatures, newlines and odd spacing; n-grams should not care.
    return " ".join(str(text).split())


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    return get_encoder().encode(list(texts))


def average_with_embeddings(
    probabilities: np.ndarray, *, classes: np.ndarray, head: Any, texts: Sequence[str], vectors: Any = None
) -> np.ndarray:
    """The two models' probabilities averaged, in the tf-idf model's column order.

    Averaging two differently-built models beats either one (bench/embeddings.md: 0.925 accuracy
    against 0.900 and 0.915) and keeps both fast paths intact.
    """
    vectors = embed_texts(texts) if vectors is None else vectors
    head_probabilities = np.zeros_like(probabilities)
    columns = np.searchsorted(classes, head.classes_)
    head_probabilities[:, columns] = head.predict_proba(vectors)
    return 0.5 * (probabilities + head_probabilities)
