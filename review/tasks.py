"""Celery adapters for the review side."""

from __future__ import annotations

from celery import shared_task

from review import rollups, services


@shared_task
def expire_claims_task() -> int:
    """Beat job (every minute): clear review claims whose lease nobody renewed."""
    return services.review_claims_expire()


@shared_task
def rollups_refresh_task() -> int:
    """Beat job (every ROLLUP_REFRESH_SECONDS): recompute the dashboard roll-ups of today and
    yesterday (and of the day whose reopen window just closed)."""
    return rollups.rollups_refresh()
