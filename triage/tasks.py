"""Celery adapters for the AI worker. Tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from triage import pipeline
from triage.sla import sla_escalate_due


# acks_late + reject_on_worker_lost: a worker killed mid-LLM-call leaves the message unacked, so it
# is redelivered; the claim (UPDATE ... WHERE status='new') makes the twin a no-op. A database that
# is briefly unreachable before the claim is retried with backoff; after the claim, the stuck
# sweeper (requeue_stuck_triage_task) brings the ticket back. ignore_result: the outcome lives in
# the database, and with a result backend .delay() blocks ~20 s retrying a dead Redis before failing,
# which would stall intake instead of letting the ticket wait for the dispatch sweeper.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=8,
)
def triage_ticket_task(ticket_id: int) -> str:
    return pipeline.triage_run_execute(ticket_id=ticket_id)


@shared_task
def requeue_stuck_triage_task() -> int:
    return pipeline.triage_requeue_stuck()


@shared_task
def sla_escalate_task() -> int:
    return sla_escalate_due()
