"""The safety net (beat, every 30 s): re-send rows whose dispatch got lost or whose retry is overdue,
and recover rows stuck in ``sending`` after a worker died mid-send."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from support.delivery.outbox import outbound_dispatch
from support.delivery.worker import outbound_finish_failed
from support.models import OutboundMessage

# A never-dispatched row is swept only after this, so the on_commit dispatch goes first.
SWEEP_MIN_AGE = timedelta(seconds=30)


def outbound_deliver_due(*, now: datetime | None = None) -> int:
    """Re-dispatch pending rows that are due, and recover rows stuck in ``sending``.

    Pending and due: never dispatched (broker was down) or the retry/dispatch is overdue.
    Stuck: a worker died mid-send (``sending`` for longer than DELIVERY_SENDING_TIMEOUT_SECONDS,
    which exceeds the Celery hard time limit, so the attempt is certainly over). Such a row may
    or may not have reached the customer; we retry (at-least-once) and say so in last_error.
    Returns how many rows were dispatched.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    for outbound in OutboundMessage.objects.filter(
        status=OutboundMessage.Status.SENDING, updated_at__lt=stuck_before
    ).select_related("ticket")[:200]:
        error = (
            f"attempt {outbound.attempts} interrupted (worker lost mid-send); "
            "the message may have been delivered"
        )
        if outbound.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            # Conditional, so two sweepers don't both finish it.
            if (
                OutboundMessage.objects.filter(
                    pk=outbound.pk,
                    status=OutboundMessage.Status.SENDING,
                    updated_at=outbound.updated_at,
                ).update(updated_at=now)
                == 1
            ):
                outbound_finish_failed(outbound, error=error, status=OutboundMessage.Status.FAILED)
            continue
        OutboundMessage.objects.filter(
            pk=outbound.pk, status=OutboundMessage.Status.SENDING, updated_at=outbound.updated_at
        ).update(
            status=OutboundMessage.Status.PENDING,
            last_error=error,
            next_attempt_at=now,
            updated_at=now,
        )

    due = OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, created_at__lt=now - SWEEP_MIN_AGE)
    )
    ids = list(due.order_by("created_at").values_list("pk", flat=True)[:500])
    return outbound_dispatch(outbound_ids=ids)
