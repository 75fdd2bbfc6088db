"""Time from a worker's start to its first triaged ticket, cold (WORKER_WARM_START=0: models load
on the first ticket) against warm (the default: models load when the worker process starts).

A real worker (`celery -A support worker -P threads -c 16`, as in production) on Redis and the
database below, the demo tenant and knowledge base, a real local model trained with embeddings on
ROWS_PER_LABEL rows per label, LLM_CHAIN=local (no LLM: what is measured is the loading). Two
scenarios per mode, REPEATS runs each, a fresh worker process every run:

- queued: one ticket is waiting in the queue when the worker starts (a worker added to a backlog);
- after ready: one ticket is sent when the worker logs "ready" (a worker that joined the rotation).

Run from the repository root (its own database; never the test or demo one):
  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sb_bench_warm REDIS_URL=redis://127.0.0.1:6379/8 \
  .venv/bin/python bench/worker_warm.py
Results go in bench/worker.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ["CELERY_QUEUE"] = f"bench-warm-{uuid.uuid4().hex[:8]}"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import triage_common as common  # noqa: E402
from django.conf import settings  # noqa: E402

from support.celery import app as celery_app  # noqa: E402
from support.celery import task_enqueue  # noqa: E402
from support.models import Ticket  # noqa: E402
from triage.classifier import active_classifier  # noqa: E402
from triage.tasks import triage_ticket_task  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
ROWS_PER_LABEL = 10
TIMEOUT = 600.0
PENDING = {Ticket.Status.NEW, Ticket.Status.TRIAGING}


def worker_start(*, warm: bool, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLASSIFIER_DIR": str(settings.CLASSIFIER_DIR),
        "LLM_CHAIN": "local",
        "OPENAI_API_KEY": "",
        "WORKER_WARM_START": "1" if warm else "0",
        "LOG_LEVEL": "INFO",  # the warm-up's one line
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "support", "worker", "-P", "threads", "-c", "16",
             "-Q", os.environ["CELERY_QUEUE"], "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
            cwd=common.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait(predicate, *, what: str) -> float:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


assert triage_ticket_task.name == "triage.tasks.triage_ticket_task"  # registered, for task_enqueue


def one_run(*, warm: bool, queued: bool) -> dict[str, float | str]:
    (ticket_id,) = common.tickets_create(1, tag=f"warm-{uuid.uuid4().hex[:6]}")
    log_path = Path(tempfile.mkstemp(prefix="sb-bench-worker-", suffix=".log")[1])
    if queued:
        task_enqueue("triage.tasks.triage_ticket_task", ticket_id)
    started = time.monotonic()
    worker = worker_start(warm=warm, log_path=log_path)
    try:
        ready = wait(lambda: " ready." in log_path.read_text(errors="replace"), what="worker ready")
        sent = ready
        if not queued:
            sent = time.monotonic()
            task_enqueue("triage.tasks.triage_ticket_task", ticket_id)
        done = wait(lambda: Ticket.objects.get(pk=ticket_id).status not in PENDING, what="triage")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    warm_line = next((line for line in log_path.read_text(errors="replace").splitlines()
                      if "worker warm in" in line), "")
    log_path.unlink()
    return {
        "start_to_ready": ready - started,
        "ticket_wait": done - sent,
        "start_to_triaged": done - started,
        "warm_line": warm_line.split("triage.warmup ")[-1],
    }


def main() -> None:
    common.setup_database()
    common.ROWS_PER_LABEL = ROWS_PER_LABEL
    began = time.monotonic()
    if os.environ.get("BENCH_CLASSIFIER_DIR"):  # a model a previous run trained
        settings.CLASSIFIER_DIR = Path(os.environ["BENCH_CLASSIFIER_DIR"])
    else:
        common.setup_local_model()
    print(f"model ready in {time.monotonic() - began:.1f} s (embeddings: "
          f"{'yes' if common_model_has_embeddings() else 'no'})")
    celery_app.conf.task_always_eager = False
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| mode | scenario | run | start → ready (s) | ticket wait (s) | start → triaged (s) |")
    print("|---|---|---|---|---|---|")
    for warm in (False, True):
        for queued in (True, False):
            for run in range(1, REPEATS + 1):
                result = one_run(warm=warm, queued=queued)
                print(f"| {'warm' if warm else 'cold'} | {'queued' if queued else 'after ready'} | {run} "
                      f"| {result['start_to_ready']:.1f} | {result['ticket_wait']:.1f} "
                      f"| {result['start_to_triaged']:.1f} |", flush=True)
                if result["warm_line"]:
                    print(f"|  | log: {result['warm_line']} |  |  |  |  |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def common_model_has_embeddings() -> bool:
    model = active_classifier()
    return model is not None and model.embedding_head is not None


if __name__ == "__main__":
    main()
