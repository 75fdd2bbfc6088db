"""Triage test fixtures: a small real local classifier, trained once per session.

``trained_classifier`` points ``settings.CLASSIFIER_DIR`` at a session-wide temporary directory
holding a small model trained on real BANKING77 rows (TRAINED_LABELS, 40 rows each) and active,
and returns it. Training takes about a second; every test that asks for it reuses it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from review.demo.tenant import category_slug, dataset_dir

TRAINED_LABELS = (
    "card_arrival",
    "lost_or_stolen_card",
    "card_payment_not_recognised",
    "exchange_rate",
    "top_up_failed",
    "terminate_account",
    "change_pin",
    "atm_support",
    "transfer_timing",
    "request_refund",
)
ROWS_PER_LABEL = 40
MODEL_NAME = "tiny"


def small_training_rows(
    labels: tuple[str, ...] = TRAINED_LABELS, per_label: int = ROWS_PER_LABEL
) -> tuple[list[str], list[str]]:
    """The first ``per_label`` rows of each label in train.csv (deterministic)."""
    texts: list[str] = []
    found: list[str] = []
    counts: dict[str, int] = {}
    with (dataset_dir() / "train.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = category_slug(row["category"])
            if label in labels and counts.get(label, 0) < per_label:
                counts[label] = counts.get(label, 0) + 1
                texts.append(row["text"])
                found.append(label)
    return texts, found


@pytest.fixture(scope="session")
def trained_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from django.conf import settings

    from triage import classifier

    directory = tmp_path_factory.mktemp("classifier")
    previous = settings.CLASSIFIER_DIR
    settings.CLASSIFIER_DIR = directory
    try:
        texts, labels = small_training_rows()
        # A lenient target error: 80 held-out rows cannot prove a 2% bound.
        classifier.classifier_train(
            texts=texts,
            labels=labels,
            name=MODEL_NAME,
            target_error=0.1,
            source="tests",
            cv_folds=3,
            # The tf-idf model alone: fast, and exactly what the pipeline tests expect of a
            # model. The embedding half has its own tests in test_classifier.py.
            embeddings=False,
        )
    finally:
        settings.CLASSIFIER_DIR = previous
    yield directory


@pytest.fixture
def trained_classifier(trained_classifier_dir: Path, settings: Any) -> Any:
    """The active LocalClassifier of a small real model (labels: TRAINED_LABELS)."""
    from triage import classifier

    settings.CLASSIFIER_DIR = trained_classifier_dir
    model = classifier.active_classifier()
    assert model is not None
    return model
