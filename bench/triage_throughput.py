"""Throughput with a model that answers in 500 ms, at increasing concurrency.

Each level runs N tickets through ``triage_run_execute`` from a thread pool of the given size
(what ``celery worker -P threads -c N`` does, without the broker hop), optionally in several
processes. Reports tickets/s and the CPU the processes used (cores busy = CPU seconds / wall
seconds), to show where the 2 cores saturate.

Usage: triage_throughput.py [--delay 0.5] [--levels 1,4,16,32,64] [--processes 1] [--no-local-model]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings  # noqa: E402
from triage_common import setup_database, setup_fake_llm, setup_local_model, tickets_create


def _run_level(args: tuple[int, int, float, bool, str]) -> tuple[int, float, float]:
    concurrency, count, delay, local_model, tag = args
    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's connection
    if not local_model:
        settings.CLASSIFIER_DIR = "/nonexistent-no-model"
    # else: main() trained it once; a forked child inherits settings.CLASSIFIER_DIR
    server = setup_fake_llm(delay=delay)
    from triage.pipeline import triage_run_execute

    ids = tickets_create(count, tag=tag)
    # warm the classifier and the HTTP client outside the measurement
    for ticket_id in tickets_create(2, tag=f"warm-{tag}"):
        triage_run_execute(ticket_id=ticket_id)
    cpu_before = time.process_time()
    started = time.perf_counter()

    def one(ticket_id: int) -> str:
        try:
            return triage_run_execute(ticket_id=ticket_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, ids))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server.stop()
    assert all(result in {"awaiting_review", "auto_replied"} for result in results), set(results)
    return count, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--levels", default="1,4,16,32,64")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--per-thread", type=int, default=4, help="tickets per thread at each level")
    parser.add_argument("--no-local-model", action="store_true")
    options = parser.parse_args()
    setup_database()
    if not options.no_local_model:
        setup_local_model()  # once, before any fork: training embeds ~3,000 texts
    rows = []
    for level in [int(value) for value in options.levels.split(",")]:
        count = max(8, level * options.per_thread)
        tag = uuid.uuid4().hex[:8]
        jobs = [(level, count, options.delay, not options.no_local_model, f"{tag}-{p}")
                for p in range(options.processes)]
        started = time.perf_counter()
        if options.processes == 1:
            results = [_run_level(jobs[0])]
        else:
            with multiprocessing.get_context("fork").Pool(options.processes) as pool:
                results = pool.map(_run_level, jobs)
        total = sum(r[0] for r in results)
        wall = max(r[1] for r in results)
        cpu = sum(r[2] for r in results)
        rows.append({
            "processes": options.processes, "threads_per_process": level, "tickets": total,
            "tickets_per_s": round(total / wall, 2), "cores_busy": round(cpu / wall, 2),
            "wall_s": round(wall, 2), "elapsed_incl_setup_s": round(time.perf_counter() - started, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"delay_s": options.delay, "local_model": not options.no_local_model,
                      "cpus": os.cpu_count(), "levels": rows}, indent=2))
    # The contract other tools read: the last line, for the highest concurrency level run.
    highest = max(rows, key=lambda row: row["threads_per_process"], default={"tickets_per_s": 0})
    print(f"tickets/s: {highest['tickets_per_s']}")


if __name__ == "__main__":
    main()
