"""Warm workers: load the models a triage needs when a worker process starts, not on its first
ticket (the first tickets after a start used to wait 60-145 s for them).

``worker_warm`` loads, in order: the active local classifier (``triage.classifier``; an embedding
model loads the sentence encoder with it), the sentence encoder when KB retrieval is hybrid, and
the knowledge base retrieval state (BM25 index, chunk embeddings) through one ``kb_search``. Each
step's failure is logged as an error and the next step runs: a worker that can't warm up still
starts, and triages exactly as a cold one would (loading on demand, failing the same way).

Connected in ``TriageConfig.ready`` to Celery's ``worker_process_init`` (sent in every prefork
child and by the solo pool) and ``worker_init`` (sent once in the main worker process; used for
the thread, gevent and eventlet pools, which run tasks in that process). bench/worker.md has the
numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.concurrency import get_implementation
from django.conf import settings
from django.db import connections

from triage.classifier import active_model_name, load_classifier
from triage.embeddings import get_encoder
from triage.kb.retrieval import hybrid_enabled, kb_search

logger = logging.getLogger(__name__)

# These pools send worker_process_init in the process that runs the tasks.
PROCESS_INIT_POOLS = frozenset({"celery.concurrency.prefork", "celery.concurrency.solo"})


@dataclass
class WarmReport:
    """What the last warm-up in this process did: seconds per step, and the steps that failed."""

    started_at: float = 0.0  # time.time()
    finished_at: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return self.finished_at - self.started_at


# The process's last warm-up, for tests and a debugging shell; None until one ran.
last_warm: WarmReport | None = None


def worker_warm() -> WarmReport:
    """Load the classifier, the encoder and the KB retrieval state into this process. Never
    raises: failures are logged as errors and recorded in the report."""
    global last_warm
    report = WarmReport(started_at=time.time())

    def step(name: str, load: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return load()
        except Exception as exc:  # noqa: BLE001 - a warm-up must never stop the worker
            report.failed[name] = f"{type(exc).__name__}: {exc}"
            logger.exception("worker warm-up: loading the %s failed", name)
            return None
        finally:
            report.seconds[name] = round(time.perf_counter() - began, 3)

    model_name = active_model_name()
    classifier = step("classifier", lambda: load_classifier(name=model_name)) if model_name else None
    needs_encoder = classifier is not None and classifier.embedding_head is not None
    if needs_encoder or hybrid_enabled():
        step("encoder", get_encoder)  # already loaded with an embedding model: costs nothing
    step("knowledge base", lambda: kb_search(query="warm up", limit=1))
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # this thread's; task threads open their own
            connection.close()
    report.finished_at = time.time()
    last_warm = report
    logger.info(
        "worker warm in %.1f s (%s)%s",
        report.total_seconds,
        ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items()),
        f"; failed: {', '.join(report.failed)}" if report.failed else "",
        extra={"classifier": model_name or "", "warm_seconds": report.seconds},
    )
    return report


def on_worker_process_init(**_kwargs: object) -> None:
    if settings.WORKER_WARM_START:
        worker_warm()


def on_worker_init(sender: Any = None, **_kwargs: object) -> None:
    """Main worker process: warm here only when the pool runs tasks in this process."""
    if not settings.WORKER_WARM_START or sender is None:
        return
    pool = get_implementation(getattr(sender, "pool_cls", "prefork"))
    if pool.__module__ not in PROCESS_INIT_POOLS:
        worker_warm()
