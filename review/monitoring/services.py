"""Run the drift checks, store their results, raise one ``drift`` alert per cause and day."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from review.models import DriftCheckResult
from review.monitoring.checks import CHECKS_BY_NAME, checks_evaluate
from review.monitoring.samples import samples_read
from review.monitoring.statistics import DriftThresholds
from support.celery import task_enqueue
from support.models import Alert

logger = logging.getLogger(__name__)

ALERT_EMAIL_TASK = "review.tasks.drift_alert_email_task"
ALERT_WEBHOOK_TASK = "review.tasks.drift_alert_webhook_task"


@dataclass(frozen=True)
class DriftWindows:
    reference_start: datetime
    reference_end: datetime
    recent_start: datetime
    recent_end: datetime


def drift_windows_for(*, now: datetime, recent_hours: int | None = None) -> DriftWindows:
    """The last ``recent_hours`` (default ``DRIFT_RECENT_HOURS``) against the
    ``DRIFT_REFERENCE_DAYS`` just before them."""
    recent_start = now - timedelta(hours=recent_hours or settings.DRIFT_RECENT_HOURS)
    return DriftWindows(
        reference_start=recent_start - timedelta(days=settings.DRIFT_REFERENCE_DAYS),
        reference_end=recent_start,
        recent_start=recent_start,
        recent_end=now,
    )


@dataclass
class DriftRun:
    run_at: datetime
    results: list[DriftCheckResult]
    alerts_raised: list[Alert]

    @property
    def breached(self) -> list[DriftCheckResult]:
        return [result for result in self.results if result.breached]


def drift_checks_run(*, now: datetime | None = None, recent_hours: int | None = None) -> DriftRun:
    """Evaluate every check (review/monitoring/checks.py), store one ``DriftCheckResult`` each and,
    for each breach, raise its alert. A new alert (not one already raised today for the same
    cause) is e-mailed to the managers and POSTed to ``ALERT_WEBHOOK_URL`` after commit."""
    run_at = now or timezone.now()
    windows = drift_windows_for(now=run_at, recent_hours=recent_hours)
    thresholds = DriftThresholds.from_settings()
    reference = samples_read(start=windows.reference_start, end=windows.reference_end)
    recent = samples_read(start=windows.recent_start, end=windows.recent_end)
    outcomes = checks_evaluate(reference, recent, thresholds)
    with transaction.atomic():
        results = DriftCheckResult.objects.bulk_create(
            DriftCheckResult(
                run_at=run_at,
                check_name=name,
                test=outcome.test,
                statistic=outcome.statistic,
                threshold=outcome.threshold,
                p_value=outcome.p_value,
                breached=outcome.breached,
                reference_start=windows.reference_start,
                reference_end=windows.reference_end,
                recent_start=windows.recent_start,
                recent_end=windows.recent_end,
                reference_count=outcome.reference_count,
                recent_count=outcome.recent_count,
                evidence=outcome.evidence,
            )
            for name, outcome in outcomes.items()
        )
        raised = [alert for result in results if result.breached if (alert := drift_alert_raise(result=result))]
    return DriftRun(run_at=run_at, results=results, alerts_raised=raised)


def drift_alert_message(result: DriftCheckResult) -> str:
    label = CHECKS_BY_NAME[result.check_name].label
    p_value = "—" if result.p_value is None else f"{result.p_value:.2g}"
    return (
        f"{label} drifted: {result.test} statistic {result.statistic:.3g} over its threshold "
        f"{result.threshold:.3g} (p = {p_value}); {result.recent_count} in the last "
        f"{(result.recent_end - result.recent_start).total_seconds() / 3600:.0f} h against "
        f"{result.reference_count} in the "
        f"{settings.DRIFT_REFERENCE_DAYS} days before."
    )


def drift_alert_raise(*, result: DriftCheckResult) -> Alert | None:
    """One alert per check and UTC day (``dedupe_key`` is UNIQUE, so an hourly run that finds
    the same breach again, or two runs racing, add nothing). Returns the alert when this call
    created it, None when it already existed. Call inside the run's transaction."""
    day = result.run_at.date().isoformat()
    alert, created = Alert.objects.get_or_create(
        dedupe_key=f"drift:{result.check_name}:{day}",
        defaults={
            "kind": Alert.Kind.DRIFT,
            "message": drift_alert_message(result),
            "details": {
                "check": result.check_name,
                "test": result.test,
                "statistic": result.statistic,
                "threshold": result.threshold,
                "p_value": result.p_value,
                "reference": {"start": result.reference_start.isoformat(), "end": result.reference_end.isoformat(),
                              "count": result.reference_count},
                "recent": {"start": result.recent_start.isoformat(), "end": result.recent_end.isoformat(),
                           "count": result.recent_count},
                "evidence": result.evidence,
                "result_id": result.pk,
            },
        },
    )
    if not created:
        return None
    logger.warning("drift alert %s: %s", alert.dedupe_key, alert.message)
    transaction.on_commit(lambda: _notify(alert.pk))
    return alert


def _notify(alert_id: int) -> None:
    task_enqueue(ALERT_EMAIL_TASK, alert_id)
    if settings.ALERT_WEBHOOK_URL:
        task_enqueue(ALERT_WEBHOOK_TASK, alert_id)
