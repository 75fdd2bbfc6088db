"""Warm workers: load the models a triage needs when a worker process starts, not on its first
ticket (the first tickets after a start used to wait 60-145 s for them).

``worker_warm`` loads, in order: the active local classifier (``triage.classifier``; an embedding
model loads the sentence encoder with it), the sentence encoder when KB retrieval is hybrid, and
the knowledge base retrieval state (BM25 index, chunk embeddings) through one ``kb_search``, then
checks the encoder (``encoder_check``: an ERROR and an Alert when it is configured but unusable). Each
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
from django.db import IntegrityError, connections
from django.utils import timezone

from support.models import Alert
from triage.classifier import active_model_name, load_classifier
from triage.embeddings import encoder_status, get_encoder
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
    step("encoder check", encoder_check)
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


def encoder_check() -> None:
    """A worker without the encoder it is configured to use (LOCAL_MODEL_EMBEDDINGS=auto or on)
    says so once, at start: an ERROR in the log and a manager's Alert (one per day), visible on
    /metrics (``switchboard_alerts_open{kind="encoder_unavailable"}``) and on the dashboard's
    banner. The tickets then triage without the embedding half, never silently."""
    status = encoder_status()
    if status.usable or status.state == "disabled":
        return
    logger.error("sentence encoder %s: %s", status.state, status.detail)
    day = timezone.now().date().isoformat()
    try:
        Alert.objects.get_or_create(
            dedupe_key=f"encoder_unavailable:{day}",
            defaults={
                "kind": Alert.Kind.ENCODER_UNAVAILABLE,
                "message": f"A triage worker started without its sentence encoder ({status.state}): "
                f"{status.detail}. The local model's embedding half and hybrid KB retrieval are off "
                "in that worker until it is fixed and the worker restarted.",
                "details": {"state": status.state, "detail": status.detail, "required": status.required},
            },
        )
    except IntegrityError:  # another worker wrote it first
        pass


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
