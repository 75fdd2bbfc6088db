"""How the local model is built: TF-IDF word and character n-grams -> LinearSVC with sigmoid
calibration, optionally averaged with a logistic regression on sentence embeddings."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

SVM_C = 1.0


CALIBRATION_FOLDS = 5


TRAIN_THREADS = max(1, min(4, os.cpu_count() or 1))


RECIPE = (
    f"tfidf word 1-2 + char_wb 2-5 -> LinearSVC(C={SVM_C}) "
    f"+ sigmoid calibration ({CALIBRATION_FOLDS}-fold ensemble)"
)


EMBEDDING_RECIPE = (
    "all-MiniLM-L6-v2 sentence embeddings (numpy, triage.embeddings) -> StandardScaler "
    "-> LogisticRegression(C=1); probabilities averaged 50/50 with the tf-idf model"
)


def build_embedding_head(*, seed: int = 0) -> Any:
    """Standardised sentence embeddings -> multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def build_pipeline(*, calibration_folds: int = CALIBRATION_FOLDS, seed: int = 0) -> Any:
    """Word 1-2grams + char_wb 2-5grams, LinearSVC, sigmoid calibration (Platt, one-vs-rest)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, dtype=np.float32),
        TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(2, 5),
            sublinear_tf=True,
            min_df=2,
            lowercase=True,
            dtype=np.float32,
        ),
    )
    svm = LinearSVC(C=SVM_C, random_state=seed)
    calibrated = CalibratedClassifierCV(
        svm, method="sigmoid", cv=calibration_folds, n_jobs=TRAIN_THREADS
    )
    return make_pipeline(features, calibrated)
