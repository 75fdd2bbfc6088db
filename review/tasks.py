"""Celery adapters for the review side."""

from __future__ import annotations

from celery import shared_task

from review import rollups, services
from review.monitoring import notify
from review.monitoring.services import drift_checks_run
from support.ssrf import CallbackTargetRefused


@shared_task
def expire_claims_task() -> int:
    """Beat job (every minute): clear review claims whose lease nobody renewed."""
    return services.review_claims_expire()


@shared_task
def rollups_refresh_task() -> int:
    """Beat job (every ROLLUP_REFRESH_SECONDS): recompute the dashboard roll-ups of today and
    yesterday (and of the day whose reopen window just closed)."""
    return rollups.rollups_refresh()


@shared_task
def drift_check_task() -> int:
    """Beat job (hourly): run the drift checks now; returns how many breached."""
    return len(drift_checks_run().breached)


# An SMTP or HTTP outage is what these retries are for; a webhook target the SSRF check refuses
# will not change on retry, so that fails at once (the alert itself is already on the dashboard).
_NOTIFY_RETRIES: dict[str, object] = {
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (CallbackTargetRefused,),
    "retry_backoff": 30,
    "retry_backoff_max": 1800,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**_NOTIFY_RETRIES)
def drift_alert_email_task(alert_id: int) -> int:
    return notify.drift_alert_email_send(alert_id=alert_id)


@shared_task(**_NOTIFY_RETRIES)
def drift_alert_webhook_task(alert_id: int) -> int:
    return notify.drift_alert_webhook_post(alert_id=alert_id)
