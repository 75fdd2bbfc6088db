"""What the high-stakes probability limit costs and buys, measured on BANKING77 out-of-fold.

Usage: .venv/bin/python bench/high_stakes_limit.py [--folds 5] [--csv PATH] [--no-embeddings]

Every row of train.csv is predicted once by the classifier recipe of triage/classifier.py trained
on the other folds. For a grid of HIGH_STAKES_PROBABILITY_LIMIT values it prints:
- leak: the share of rows whose TRUE label is high-stakes yet whose probability mass on the 14
  high-stakes categories is at or below the limit (these would pass the probability rule), with a
  95% Clopper-Pearson upper bound;
- automatable: the share of rows whose true label is not high-stakes that pass the rule AND the
  model's own confidence threshold (what could be sent automatically once categories are calibrated).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from review.demo import tenant as demo  # noqa: E402
from triage.classifier import build_pipeline, read_csv_rows  # noqa: E402
from triage.classifier.model import average_with_embeddings as _average_with_embeddings  # noqa: E402
from triage.classifier.model import embed_texts as _embed  # noqa: E402
from triage.classifier.recipe import build_embedding_head  # noqa: E402
from triage.statistics import NO_THRESHOLD, error_upper_bound, threshold_select  # noqa: E402

LIMITS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--csv", default=str(demo.dataset_dir() / "train.csv"))
    parser.add_argument("--no-embeddings", action="store_true", help="the tf-idf model alone")
    args = parser.parse_args()
    texts, labels = read_csv_rows(path=Path(args.csv), text_column="text", label_column="category")
    x = np.array(texts, dtype=object)
    y = np.array([demo.category_slug(label) for label in labels])
    classes = np.array(sorted(set(y.tolist())))
    vectors = None if args.no_embeddings else _embed(x.tolist())
    oof = np.zeros((len(y), len(classes)))
    for train, test in StratifiedKFold(args.folds, shuffle=True, random_state=0).split(x, y):
        model = build_pipeline()
        model.fit(x[train].tolist(), y[train])
        probabilities = model.predict_proba(x[test].tolist())
        if vectors is not None:
            head = build_embedding_head().fit(vectors[train], y[train])
            probabilities = _average_with_embeddings(
                probabilities, classes=model.classes_, head=head, texts=[], vectors=vectors[test]
            )
        oof[np.ix_(test, np.searchsorted(classes, model.classes_))] = probabilities
    high_stakes = {demo.category_slug(label) for label in demo.HIGH_STAKES}
    hs_columns = np.isin(classes, sorted(high_stakes))
    p_hs = oof[:, hs_columns].sum(axis=1)
    true_hs = np.isin(y, sorted(high_stakes))
    confidence = oof.max(axis=1)
    correct = classes[oof.argmax(axis=1)] == y
    selection = threshold_select(confidences=confidence, wrong=~correct, target_error=0.02)
    threshold = selection.threshold if selection.threshold is not None else NO_THRESHOLD
    print(f"rows {len(y)}, true high-stakes {int(true_hs.sum())}, accuracy {correct.mean():.4f}, "
          f"confidence threshold {threshold:.2f}")
    print("| limit | leak (true high-stakes passing) | 95% upper bound | automatable (not high-stakes) |")
    print("|---|---|---|---|")
    for limit in LIMITS:
        passing = p_hs <= limit
        leaks = int((passing & true_hs).sum())
        upper = error_upper_bound(errors=leaks, total=int(true_hs.sum()))
        automatable = float((passing & ~true_hs & (confidence >= threshold)).sum() / (~true_hs).sum())
        print(f"| {limit} | {leaks} / {int(true_hs.sum())} | {upper:.4f} | {automatable:.3f} |")


if __name__ == "__main__":
    main()
