"""Training: cross-validate the recipe, calibrate and pick the per-category automation thresholds
on out-of-fold predictions (``triage.statistics``), fit on every row, store a version and
(optionally) activate it."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from triage.classifier.calibration import log_probabilities, scales_fit, scores_combine
from triage.classifier.embedding_cache import training_embeddings
from triage.classifier.errors import ClassifierError
from triage.classifier.model import margin_columns, normalise_text
from triage.classifier.recipe import CALIBRATION, EMBEDDING_RECIPE, RECIPE, build_embedding_head, build_pipeline
from triage.classifier.storage import check_name, classifier_activate, store_version
from triage.embeddings import INSTALL_HINT, MODEL_FILES, embeddings_available, encoder_status
from triage.statistics import (
    NO_THRESHOLD,
    PRIOR_ROWS,
    balanced_weights,
    expected_calibration_error,
    thresholds_select_per_category,
)

MIN_ROWS_PER_LABEL = 5


@dataclass(frozen=True)
class TrainReport:
    name: str
    version: str
    path: Path
    heldout_accuracy: float
    threshold: float
    expected_automation_rate: float
    heldout_automated_error: float
    heldout_error_upper_bound: float
    heldout_ece: float
    train_rows: int
    heldout_rows: int
    labels: list[str]
    seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class FitResult:
    pipeline: Any
    embedding_head: Any
    labels: list[str]
    dropped_labels: list[str]
    texts: list[str]
    row_labels: list[str]
    heldout_rows: int
    heldout_accuracy: float
    threshold: float  # for a label without its own threshold
    thresholds: dict[str, float]  # per predicted category
    scales: list[float]  # calibration: weights of the halves' scores (see calibration.py)
    automation_rate: float
    automated_error: float
    error_upper_bound: float
    ece: float


def training_set_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1f")
        digest.update(label.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def classifier_fit(
    *,
    texts: Sequence[str],
    labels: Sequence[str],
    target_error: float = 0.02,
    cv_folds: int = 5,
    seed: int = 0,
    embeddings: bool = False,
    progress: bool = False,
) -> FitResult:
    """Evaluate the recipe by stratified ``cv_folds``-fold cross-validation (every row is
    predicted once by a model that did not see it), fit the calibration and pick the
    per-category automation thresholds on those out-of-fold predictions, then fit the stored
    model on every row. Nothing is stored.

    Why cross-validation rather than one 20% split: a 2% error target needs thousands of
    held-out predictions for a tight bound; with 2,000 the threshold swung from 0.66 to "never
    automate" between splits of the same data (bench/kb.md).

    The out-of-fold evidence is weighted so that every category counts the same
    (``balanced_weights``): the training mix is not the mix a deployment sees, and a bound for
    the training mix did not hold on a balanced one (bench/model_quality.md).

    With ``embeddings`` the sentence encoder embeds every text once (it is frozen; vectors are
    cached under var/), and a logistic regression on the embeddings is trained beside the tf-idf
    model in every fold; ``progress`` shows bars for embedding and the folds (on stderr).
    """
    from sklearn.model_selection import StratifiedKFold

    texts = [normalise_text(text) for text in texts]
    labels = [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ClassifierError("texts and labels differ in length")
    counts = Counter(label for text, label in zip(texts, labels, strict=True) if text)
    # A class needs a few rows to appear in every fold.
    kept = {label for label, count in counts.items() if count >= MIN_ROWS_PER_LABEL}
    if len(kept) < 2:
        raise ClassifierError(
            f"Need at least 2 labels with {MIN_ROWS_PER_LABEL}+ examples each; got {dict(counts)}"
        )
    rows = [
        (text, label) for text, label in zip(texts, labels, strict=True) if label in kept and text
    ]
    x = np.array([text for text, _ in rows], dtype=object)
    y = np.array([label for _, label in rows])
    classes = np.array(sorted(kept))
    truth = np.searchsorted(classes, y)
    folds = max(2, min(cv_folds, min(Counter(y.tolist()).values())))
    vectors = training_embeddings(x.tolist(), progress=progress) if embeddings else None
    halves = 2 if vectors is not None else 1
    out_of_fold = [np.zeros((len(y), len(classes))) for _ in range(halves)]
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    with tqdm(total=folds + 1, desc="cross-validation", unit="fit", disable=not progress) as bar:
        for train, test in splits:
            for scores, fold_scores in zip(
                out_of_fold, _fit_scores(x=x, y=y, vectors=vectors, train=train, test=test, seed=seed),
                strict=True,
            ):
                scores[test] = fold_scores
            bar.update(1)
        weights = balanced_weights(y)
        scales = scales_fit(scores=out_of_fold, truth=truth, weights=weights)
        probabilities = scores_combine(out_of_fold, scales)
        predicted = probabilities.argmax(axis=1)
        confidences = probabilities.max(axis=1)
        correct = predicted == truth
        selection = thresholds_select_per_category(
            confidences=confidences, predicted=classes[predicted], wrong=~correct,
            target_error=target_error, weights=weights, seed=seed,
        )
        pipeline, head = _fit_halves(texts=x.tolist(), labels=y, vectors=vectors, seed=seed)
        bar.update(1)
    thresholds = {str(label): selection.thresholds.get(str(label), NO_THRESHOLD) for label in classes}
    return FitResult(
        pipeline=pipeline,
        embedding_head=head,
        labels=classes.tolist(),
        dropped_labels=sorted(set(counts) - kept),
        texts=x.tolist(),
        row_labels=y.tolist(),
        heldout_rows=len(y),
        heldout_accuracy=float(np.average(correct, weights=weights)),
        threshold=NO_THRESHOLD,
        thresholds=thresholds,
        scales=scales,
        automation_rate=selection.automation_rate,
        automated_error=selection.error_above,
        error_upper_bound=selection.upper_bound,
        ece=expected_calibration_error(confidences=confidences, correct=correct, weights=weights),
    )


def _fit_halves(
    *, texts: list[str], labels: np.ndarray, vectors: np.ndarray | None, seed: int
) -> tuple[Any, Any]:
    """(tf-idf pipeline, embedding head or None), fitted at the same time: liblinear and the
    head's BLAS products release the GIL, so on 2 cores the head costs little extra wall time."""
    pipeline = build_pipeline(seed=seed)
    if vectors is None:
        return pipeline.fit(texts, labels), None
    with ThreadPoolExecutor(max_workers=1) as pool:
        head = pool.submit(build_embedding_head(seed=seed).fit, vectors, labels)
        pipeline.fit(texts, labels)
        return pipeline, head.result()


def _fit_scores(
    *, x: np.ndarray, y: np.ndarray, vectors: np.ndarray | None, train: np.ndarray, test: np.ndarray, seed: int
) -> list[np.ndarray]:
    """The test rows' scores from models fitted on the train rows: SVM margins, and the
    embedding head's log-probabilities when there are vectors."""
    fold_model, fold_head = _fit_halves(
        texts=x[train].tolist(), labels=y[train], vectors=None if vectors is None else vectors[train], seed=seed
    )
    scores = [margin_columns(fold_model.decision_function(x[test].tolist()))]
    if vectors is not None:
        scores.append(log_probabilities(fold_head.predict_proba(vectors[test])))
    return scores


def classifier_train(
    *,
    texts: Sequence[str],
    labels: Sequence[str],
    name: str,
    target_error: float = 0.02,
    cv_folds: int = 5,
    seed: int = 0,
    activate: bool = True,
    source: str = "",
    embeddings: bool | None = None,
    progress: bool = False,
) -> TrainReport:
    """Fit (see classifier_fit), store a new version with its metadata and, by default,
    activate it. ``embeddings`` None means: use the sentence encoder when it is installed."""
    check_name(name)
    if embeddings is None:
        embeddings = embeddings_available()
    elif embeddings and not embeddings_available():
        raise ClassifierError(
            f"the sentence encoder is not available ({encoder_status().detail}): {INSTALL_HINT}, "
            "or train without embeddings"
        )
    started = time.perf_counter()
    fit = classifier_fit(
        texts=texts,
        labels=labels,
        target_error=target_error,
        cv_folds=cv_folds,
        seed=seed,
        embeddings=embeddings,
        progress=progress,
    )
    created = datetime.now(UTC).replace(microsecond=0)
    data_hash = training_set_hash(fit.texts, fit.row_labels)
    version_dir = f"{created:%Y%m%dT%H%M%SZ}-{data_hash[:8]}"
    model_version = f"{name}@{created:%Y-%m-%dT%H:%M:%SZ}-{data_hash[:8]}"
    seconds = time.perf_counter() - started
    metadata: dict[str, Any] = {
        "name": name,
        "version": model_version,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "training_set_sha256": data_hash,
        "source": source,
        "rows": len(fit.texts),
        "labels": fit.labels,
        "dropped_labels": fit.dropped_labels,
        "recipe": RECIPE + (f"; {EMBEDDING_RECIPE}" if embeddings else ""),
        "embeddings": {"encoder": "all-MiniLM-L6-v2", "weights_sha256": MODEL_FILES["model.safetensors"]}
        if embeddings
        else None,
        "evaluation": f"{cv_folds}-fold cross-validation, out-of-fold predictions, every "
        "category weighted the same (a balanced mix)",
        "calibration": {
            "method": CALIBRATION,
            "scales": fit.scales,
        },
        "threshold_rule": "per predicted category: the lowest t in 1.00..0.01 whose shrunk "
        f"({PRIOR_ROWS:g} pseudo-rows) balanced-weighted out-of-fold error among confidence >= t is "
        "<= a level a; a on 0..0.10 (step 0.0025), the level automating most whose cross-fitted "
        "Clopper-Pearson upper bound (95%, Bonferroni over the levels, Kish effective size) of "
        "the error among all automated is <= target_error (triage.statistics)",
        "seed": seed,
        "threshold": fit.threshold,
        "thresholds": fit.thresholds,
        "target_error": target_error,
        "metrics": {
            # Cross-validated: every row was held out once; weighted to a balanced category mix.
            "heldout_rows": fit.heldout_rows,
            "heldout_accuracy": fit.heldout_accuracy,
            "expected_automation_rate": fit.automation_rate,
            "heldout_automated_error": fit.automated_error,
            "heldout_error_upper_bound_95": fit.error_upper_bound,
            "heldout_ece": fit.ece,
        },
        "train_seconds": round(seconds, 2),
    }
    path = store_version(name=name, version_dir=version_dir, pipeline=fit.pipeline, metadata=metadata,
                  embedding_head=fit.embedding_head)
    if activate:
        classifier_activate(name=name, version=version_dir)
    return TrainReport(
        name=name,
        version=model_version,
        path=path,
        heldout_accuracy=fit.heldout_accuracy,
        threshold=fit.threshold,
        expected_automation_rate=fit.automation_rate,
        heldout_automated_error=fit.automated_error,
        heldout_error_upper_bound=fit.error_upper_bound,
        heldout_ece=fit.ece,
        train_rows=len(fit.texts),
        heldout_rows=fit.heldout_rows,
        labels=fit.labels,
        seconds=seconds,
        metadata=metadata,
    )
