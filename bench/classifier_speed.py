"""Local classifier speed: batch throughput and single-ticket latency, on one core.

Trains (or loads with --model) a model on BANKING77 train.csv, then classifies every row in
batches of --batch and, separately, --single tickets one at a time (p50/p99 latency).

    OMP_NUM_THREADS=1 .venv/bin/python bench/classifier_speed.py [--model NAME]
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # one core, as the target says

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from review.demo.tenant import dataset_dir  # noqa: E402
from triage import classifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--model", help="A stored model name (default: train a fresh one in a temp dir)."
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=2000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    texts, labels = classifier.read_csv_rows(path=dataset_dir() / "train.csv")
    if args.model:
        model = classifier.load_classifier(name=args.model)
    else:
        settings.CLASSIFIER_DIR = Path(tempfile.mkdtemp(prefix="bench-models-"))
        started = time.perf_counter()
        report = classifier.classifier_train(texts=texts, labels=labels, name="bench")
        print(f"training (one core): {time.perf_counter() - started:.1f}s")
        model = classifier.load_classifier(name="bench", version=None)
        del report
    model.predict_many(texts[:100])  # warm up

    started = time.perf_counter()
    for batch in classifier.iter_batches(texts, args.batch):
        model.predict_labels(list(batch))
    elapsed = time.perf_counter() - started
    print(f"batch (predict_labels, batches of {args.batch}): {len(texts) / elapsed:,.0f} tickets/s")

    started = time.perf_counter()
    for batch in classifier.iter_batches(texts, args.batch):
        model.predict_many(list(batch))
    elapsed = time.perf_counter() - started
    print(
        f"batch (predict_many with per-class probabilities): {len(texts) / elapsed:,.0f} tickets/s"
    )

    latencies = []
    for text in texts[: args.single]:
        started = time.perf_counter()
        model.predict(text)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"single ticket (predict): p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, "
        f"max {latencies[-1]:.2f} ms over {len(latencies)} tickets"
    )


if __name__ == "__main__":
    main()
