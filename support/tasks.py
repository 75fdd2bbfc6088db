"""Celery adapters for the ticket domain: take ids, call a service."""

from celery import shared_task

from support import services


@shared_task
def dispatch_pending_task() -> int:
    return services.dispatch_pending()
