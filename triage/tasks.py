"""Celery adapters for the AI worker. Tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from triage import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def triage_ticket_task(ticket_id: int) -> str:
    return services.triage_run_execute(ticket_id=ticket_id)


@shared_task
def requeue_stuck_triage_task() -> int:
    return services.triage_requeue_stuck()


@shared_task
def sla_escalate_task() -> int:
    from triage.sla import sla_escalate_due

    return sla_escalate_due()
