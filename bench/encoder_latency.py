"""Single-text latency of the sentence encoder (what one ticket costs the classifier or a KB search).

    .venv/bin/python bench/encoder_latency.py [--texts 300] [--concurrency 8] [--blas-threads 1]
                                              [--one-core] [--csv PATH]

Embeds --texts distinct BANKING77 queries (default ../shared/datasets/banking77/train.csv, or the
golden texts of the parity test when absent) one at a time, each once (the single-text cache
never hits), after 20 warm-up calls; prints p50/p90/p99 and the mean, in milliseconds, plus the
same for a 600-character e-mail; then the same queries from --concurrency threads at once (a
Celery worker's thread pool), with throughput. --blas-threads sets ENCODER_BLAS_THREADS (0: the
BLAS default, one thread per core). --one-core pins the process to one CPU (sched_setaffinity).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
if "--blas-threads" in sys.argv:
    os.environ["ENCODER_BLAS_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from triage.embeddings import MiniLMEncoder, get_encoder  # noqa: E402

GOLDEN = ROOT / "tests" / "fixtures" / "encoder_golden.json"


def _texts(path: Path, count: int) -> list[str]:
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            rows = [row["text"] for row in csv.DictReader(handle)]
    else:
        rows = [t for t in json.loads(GOLDEN.read_text("utf-8"))["texts"] if t.strip()]
    unique = list(dict.fromkeys(rows))
    return [unique[i % len(unique)] + ("" if i < len(unique) else f" ({i})") for i in range(count)]


def _timings(encoder: MiniLMEncoder, texts: list[str]) -> list[float]:
    for text in texts[:20]:
        encoder.encode([text + " warm-up"])
    out = []
    for text in texts:
        start = time.perf_counter()
        encoder.encode([text])
        out.append((time.perf_counter() - start) * 1000)
    return out


def _concurrent(encoder: MiniLMEncoder, texts: list[str], threads: int) -> tuple[list[float], float]:
    timings: list[float] = []
    lock = threading.Lock()

    def work(part: list[str]) -> None:
        for text in part:
            start = time.perf_counter()
            encoder.encode([text])
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                timings.append(elapsed)

    workers = [threading.Thread(target=work, args=([f"{t} [{k}]" for t in texts[k::threads]],)) for k in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return timings, time.perf_counter() - start


def _summary(label: str, timings: list[float]) -> str:
    p50, p90, p99 = np.percentile(timings, [50, 90, 99])
    return f"{label}: n={len(timings)} p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(timings):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--one-core", action="store_true")
    parser.add_argument("--csv", type=Path, default=ROOT.parent / "shared" / "datasets" / "banking77" / "train.csv")
    args = parser.parse_args()
    if args.one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, cpus {sorted(os.sched_getaffinity(0))}, "
          f"load average {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    encoder = get_encoder()  # as the worker does: ENCODER_BLAS_THREADS applies
    print(f"load: {time.perf_counter() - start:.2f} s, ENCODER_BLAS_THREADS={args.blas_threads}")
    texts = _texts(args.csv, args.texts)
    print(_summary("query", _timings(encoder, texts)))
    email = json.loads(GOLDEN.read_text("utf-8"))["texts"][22]
    print(_summary("e-mail (174 tokens, cut at 128)", _timings(encoder, [f"{i} {email}" for i in range(60)])))
    timings, wall = _concurrent(encoder, texts, args.concurrency)
    print(_summary(f"query, {args.concurrency} threads at once", timings) + f"; {len(timings) / wall:.0f} texts/s")


if __name__ == "__main__":
    main()
