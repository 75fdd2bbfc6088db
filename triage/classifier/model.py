"""A trained local model at prediction time: calibrated probabilities per category, fast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from triage.classifier.calibration import EPSILON, log_probabilities, scores_combine
from triage.embeddings import get_encoder


@dataclass(frozen=True)
class Prediction:
    label: str  # a Category.slug
    confidence: float  # calibrated probability of `label`
    probabilities: dict[str, float]  # every class slug -> probability (sums to ~1)
    threshold: float  # the automation threshold of `label` (each category has its own)
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
        thresholds: dict[str, float] | None = None,
        scales: list[float] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.embedding_head = embedding_head
        self.labels: list[str] = [str(label) for label in pipeline.classes_]
        # ``threshold`` applies to a label without its own (models trained before per-category
        # thresholds have only this one).
        self.threshold = float(threshold)
        self.thresholds = {str(label): float(value) for label, value in (thresholds or {}).items()}
        # The calibration (triage.classifier.calibration); None for a model stored before it,
        # whose pipeline gives sigmoid-calibrated probabilities itself.
        self.scales = [float(scale) for scale in scales] if scales else None
        self.model_name = model_name
        self.model_version = model_version
        self.metadata = metadata or {}

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (columns in ``self.labels`` order)."""
        cleaned = [normalise_text(text) for text in texts]
        if self.scales is None:
            probabilities = np.asarray(self.pipeline.predict_proba(cleaned))
            if self.embedding_head is None:
                return probabilities
            return average_with_embeddings(
                probabilities, classes=self.pipeline.classes_, head=self.embedding_head, texts=cleaned
            )
        scores = [margin_columns(self.pipeline.decision_function(cleaned))]
        if self.embedding_head is not None:
            head = np.full((len(cleaned), len(self.labels)), np.log(EPSILON))
            columns = np.searchsorted(self.pipeline.classes_, self.embedding_head.classes_)
            head[:, columns] = log_probabilities(self.embedding_head.predict_proba(embed_texts(cleaned)))
            scores.append(head)
        return scores_combine(scores, self.scales)

    def threshold_for(self, label: str) -> float:
        return self.thresholds.get(label, self.threshold)

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
                    threshold=self.threshold_for(labels[index]),
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


def normalise_text(text: str) -> str:
    # Tickets arrive with signatures, newlines and odd spacing; n-grams should not care.
    return " ".join(str(text).split())


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    return get_encoder().encode(list(texts))


def margin_columns(margins: Any) -> np.ndarray:
    """A LinearSVC's margins with one column per class (a binary one gives one column)."""
    margins = np.asarray(margins, dtype=np.float64)
    if margins.ndim == 1:
        return np.stack([-margins, margins], axis=1)
    return margins


def average_with_embeddings(
    probabilities: np.ndarray, *, classes: np.ndarray, head: Any, texts: Sequence[str], vectors: Any = None
) -> np.ndarray:
    """The two models' probabilities averaged, in the tf-idf model's column order: how models
    stored before the fitted calibration (triage.classifier.calibration) combine their halves."""
    vectors = embed_texts(texts) if vectors is None else vectors
    head_probabilities = np.zeros_like(probabilities)
    columns = np.searchsorted(classes, head.classes_)
    head_probabilities[:, columns] = head.predict_proba(vectors)
    return 0.5 * (probabilities + head_probabilities)
