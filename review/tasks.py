"""Celery adapters for the review side."""

from __future__ import annotations

from celery import shared_task

from review import services


@shared_task
def expire_claims_task() -> int:
    """Beat job (every minute): clear review claims whose lease nobody renewed."""
    return services.review_claims_expire()
