"""How the local model is built: TF-IDF word and character n-grams -> LinearSVC, optionally beside
a logistic regression on sentence embeddings; their scores are combined and calibrated by
triage.classifier.calibration."""

from __future__ import annotations

from typing import Any

import numpy as np

SVM_C = 1.0
EMBEDDING_C = 1.0


RECIPE = f"tfidf word 1-2 + char_wb 2-5 -> LinearSVC(C={SVM_C})"


EMBEDDING_RECIPE = (
    "all-MiniLM-L6-v2 sentence embeddings (numpy, triage.embeddings) -> StandardScaler "
    f"-> LogisticRegression(C={EMBEDDING_C})"
)


CALIBRATION = (
    "softmax(a * SVM margins [+ b * embedding log-probabilities]), a and b fitted by "
    "balanced-weighted log-loss on out-of-fold scores"
)


def build_embedding_head(*, seed: int = 0) -> Any:
    """Standardised sentence embeddings -> multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=EMBEDDING_C, max_iter=2000, random_state=seed))


def build_pipeline(*, seed: int = 0) -> Any:
    """Word 1-2grams + char_wb 2-5grams -> LinearSVC (one-vs-rest margins)."""
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
    return make_pipeline(features, LinearSVC(C=SVM_C, random_state=seed))
