"""The local model's quality and honesty on a category-balanced held-out split of BANKING77.

For each --seeds value: hold out --per-category rows of every category of train.csv (a balanced
mix, unlike the training data), write the rest to a CSV and train on it with the real command,
``manage.py train_classifier --csv REST --name NAME [--no-embeddings]`` (target error 0.02,
its own cross-validation, calibration and per-category thresholds), then classify the held-out
rows with ``manage.py classify`` and score its output file: accuracy, macro-F1, ECE (15 bins),
share automated, realised error among the automated with its 95 % Clopper-Pearson upper bound,
beside what training itself estimated (out of fold) for the automated share and error.

Models and the training-set embedding cache live in --models-dir (never the demo's models);
the first run embeds train.csv once (minutes on a busy machine), later runs reuse the vectors.

    .venv/bin/python bench/model_quality.py [--seeds 0 1 2] [--per-category 40]
        [--variants default tfidf] [--models-dir /tmp/model-quality] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from review.demo.tenant import dataset_dir  # noqa: E402
from triage import classifier  # noqa: E402
from triage.statistics import error_upper_bound, expected_calibration_error  # noqa: E402

VARIANTS = {"default": [], "tfidf": ["--no-embeddings"]}


def balanced_split(labels: list[str], *, per_category: int, seed: int) -> np.ndarray:
    """A boolean mask of held-out rows: ``per_category`` rows of every label, chosen at random."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        by_label[label].append(row)
    held_out = np.zeros(len(labels), dtype=bool)
    for label in sorted(by_label):
        rows = by_label[label]
        held_out[rng.choice(rows, size=min(per_category, len(rows) // 2), replace=False)] = True
    return held_out


def write_csv(path: Path, texts: list[str], labels: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(zip(texts, labels, strict=True))


def run_one(*, variant: str, seed: int, per_category: int, work: Path, texts: list[str], labels: list[str]) -> dict:
    held_out = balanced_split(labels, per_category=per_category, seed=seed)
    train_csv, test_csv, out_csv = work / f"train-{seed}.csv", work / f"test-{seed}.csv", work / f"out-{seed}.csv"
    write_csv(train_csv, [t for t, h in zip(texts, held_out, strict=True) if not h],
              [label for label, h in zip(labels, held_out, strict=True) if not h])
    truth = [label for label, h in zip(labels, held_out, strict=True) if h]
    write_csv(test_csv, [t for t, h in zip(texts, held_out, strict=True) if h], truth)
    name = f"quality-{variant}-{seed}"
    started = time.perf_counter()
    call_command("train_classifier", "--csv", str(train_csv), "--name", name, "--target-error", "0.02",
                 *VARIANTS[variant])
    train_seconds = time.perf_counter() - started
    call_command("classify", "--csv", str(test_csv), "--model", name, "--out", str(out_csv))
    with out_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    predicted = [row["label"] for row in rows]
    confidences = np.array([float(row["confidence"]) for row in rows])
    automated = np.array([row["automate"] == "true" for row in rows])
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    wrong_automated = int((~correct & automated).sum())
    metrics = classifier.load_classifier(name=name).metadata["metrics"]
    return {
        "variant": variant,
        "seed": seed,
        "train_rows": int((~held_out).sum()),
        "test_rows": len(rows),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "ece": expected_calibration_error(confidences=confidences, correct=correct),
        "automated_share": float(automated.mean()),
        "automated_error": wrong_automated / max(1, int(automated.sum())),
        "automated_error_upper": error_upper_bound(errors=wrong_automated, total=int(automated.sum())),
        "estimated_accuracy": metrics["heldout_accuracy"],
        "estimated_automated_share": metrics["expected_automation_rate"],
        "estimated_automated_error": metrics["heldout_automated_error"],
        "estimated_automated_error_upper": metrics["heldout_error_upper_bound_95"],
        "estimated_ece": metrics.get("heldout_ece"),
        "train_seconds": round(train_seconds, 1),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=dataset_dir() / "train.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--per-category", type=int, default=40)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["default", "tfidf"])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/model-quality"))
    parser.add_argument("--json", action="store_true", help="One JSON object per run, nothing else.")
    args = parser.parse_args()
    args.models_dir.mkdir(parents=True, exist_ok=True)
    settings.CLASSIFIER_DIR = args.models_dir
    texts, labels = classifier.read_csv_rows(path=args.csv)
    results = []
    for variant in args.variants:
        for seed in args.seeds:
            result = run_one(variant=variant, seed=seed, per_category=args.per_category,
                             work=args.models_dir, texts=texts, labels=labels)
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        return
    print("\n| model | seed | accuracy | macro-F1 | ECE | automated | realised error (95% upper) "
          "| estimated automated | estimated error (upper) | train s | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['seed']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['ece']:.3f} "
              f"| {r['automated_share']:.1%} | {r['automated_error']:.2%} ({r['automated_error_upper']:.2%}) "
              f"| {r['estimated_automated_share']:.1%} | {r['estimated_automated_error']:.2%} "
              f"({r['estimated_automated_error_upper']:.2%}) | {r['train_seconds']:.0f} | {r['load_average']:.1f} |")


if __name__ == "__main__":
    main()
