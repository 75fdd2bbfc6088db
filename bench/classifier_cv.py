"""Cross-validated estimate of the local classifier on BANKING77 train.csv.

For each of --folds stratified outer folds, the exact train_classifier procedure
(classifier_fit: inner 5-fold cross-validation, threshold at --target-error on the out-of-fold
predictions, final fit on the whole training part) runs on the other folds; the untouched outer
fold plays the unseen test set: accuracy, automation rate and the realised error among the
automated tickets are measured there.

    .venv/bin/python bench/classifier_cv.py [--csv PATH] [--folds 5] [--target-error 0.02]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from review.demo.tenant import dataset_dir  # noqa: E402
from triage.classifier import RECIPE, classifier_fit, read_csv_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=dataset_dir() / "train.csv")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--target-error", type=float, default=0.02)
    args = parser.parse_args()
    texts, labels = read_csv_rows(path=args.csv)
    x = np.array(texts, dtype=object)
    y = np.array(labels)
    print(f"recipe: {RECIPE}")
    print(
        f"{len(texts)} rows, {len(set(labels))} labels, {args.folds}-fold outer CV, "
        f"target error {args.target_error}"
    )
    rows = []
    splitter = StratifiedKFold(args.folds, shuffle=True, random_state=42)
    for fold, (train, test) in enumerate(splitter.split(x, y), start=1):
        started = time.perf_counter()
        fit = classifier_fit(
            texts=list(x[train]),
            labels=list(y[train]),
            target_error=args.target_error,
        )
        seconds = time.perf_counter() - started
        probabilities = fit.pipeline.predict_proba(list(x[test]))
        predicted = fit.pipeline.classes_[probabilities.argmax(axis=1)]
        correct = predicted == y[test]
        automated = probabilities.max(axis=1) >= fit.threshold
        row = {
            "accuracy": float(correct.mean()),
            "threshold": fit.threshold,
            "automation": float(automated.mean()),
            "realised_error": float((~correct[automated]).mean()) if automated.any() else 0.0,
            "train_seconds": seconds,
        }
        rows.append(row)
        print(
            f"fold {fold}: accuracy {row['accuracy']:.4f}  threshold {row['threshold']:.4f}  "
            f"automated {row['automation']:.4f}  realised error {row['realised_error']:.4f}  "
            f"(fit {seconds:.1f}s)",
            flush=True,
        )
    print(
        "mean:   "
        + "  ".join(
            f"{key} {statistics.mean(r[key] for r in rows):.4f} "
            f"(min {min(r[key] for r in rows):.4f}, "
            f"max {max(r[key] for r in rows):.4f})"
            for key in ("accuracy", "automation", "realised_error")
        )
    )


if __name__ == "__main__":
    main()
