"""Pipeline overhead per ticket: everything except the model, against a zero-latency loopback
OpenAI-compatible server (real SDK, real HTTP, real database, local classifier active).

Usage: triage_overhead.py [COUNT] [--no-local-model]

Measures triage_run_execute wall time and this process's CPU time per ticket, sequentially, after
a warm-up, and the load average at the end. Prints one JSON object. "On one core":
``taskset -c 1 .venv/bin/python bench/triage_overhead.py 60``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid

from django.conf import settings  # noqa: E402
from triage_common import percentile, setup_database, setup_fake_llm, setup_local_model, tickets_create


def main(count: int = 200, local_model: bool = True) -> None:
    setup_database()
    if local_model:
        setup_local_model()
    else:
        settings.CLASSIFIER_DIR = "/nonexistent-no-model"
    server = setup_fake_llm(delay=0.0)
    from triage.pipeline import triage_run_execute

    tag = uuid.uuid4().hex[:8]
    warmup = tickets_create(10, tag=f"warm-{tag}")
    for ticket_id in warmup:
        triage_run_execute(ticket_id=ticket_id)
    ids = tickets_create(count, tag=tag)
    timings, cpu = [], []
    for ticket_id in ids:
        started, cpu_started = time.perf_counter(), time.process_time()
        status = triage_run_execute(ticket_id=ticket_id)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        assert status in {"awaiting_review", "auto_replied"}, status
    server.stop()
    print(json.dumps({
        "tickets": count,
        "local_model": local_model,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "ms_per_ticket_mean": round(statistics.mean(timings), 2),
        "ms_p50": round(percentile(timings, 0.5), 2),
        "ms_p95": round(percentile(timings, 0.95), 2),
        "ms_max": round(max(timings), 2),
        # This process's CPU per ticket (PostgreSQL's and Redis's not included): what a busy
        # machine inflates least.
        "cpu_ms_p50": round(percentile(cpu, 0.5), 2),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "requests_to_model": len(server.requests),
    }, indent=2))


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    main(int(args[0]) if args else 200, local_model="--no-local-model" not in sys.argv)
