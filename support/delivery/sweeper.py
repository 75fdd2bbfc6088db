"""The safety net (beat, every 30 s): re-send rows whose dispatch got lost or whose retry is due,
recover rows stuck in ``sending`` after a worker died mid-send, and, once a channel delivers
again, bring its waiting retries forward and re-arm the replies it failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from support.delivery.outbox import outbound_dispatch, outbound_retry
from support.delivery.schedule import delivery_channel, delivery_max_attempts
from support.delivery.worker import outbound_finish_failed
from support.models import OutboundMessage, Ticket
from support.reasons import REASON_DELIVERY_FAILED

# A never-dispatched row is swept only after this, so the on_commit dispatch goes first.
SWEEP_MIN_AGE = timedelta(seconds=30)
# A reply that failed longer ago than this is left to a human: sending it unannounced a day
# later would surprise more than help.
AUTO_RETRY_MAX_AGE = timedelta(days=1)
# Bounds on one sweep's work, so a backlog is worked off over a few sweeps, not in one.
RECOVERY_BATCH = 200


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
        if outbound.attempts >= delivery_max_attempts():
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

    outbound_recover_channels(now=now)
    due = OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, created_at__lt=now - SWEEP_MIN_AGE)
    )
    ids = list(due.order_by("created_at").values_list("pk", flat=True)[:500])
    return outbound_dispatch(outbound_ids=ids)


def channel_last_success(*, since: datetime) -> dict[str, datetime]:
    """When each channel last delivered something, for deliveries after ``since``."""
    last: dict[str, datetime] = {}
    sent = OutboundMessage.objects.filter(status=OutboundMessage.Status.SENT, sent_at__gt=since)
    email_last = sent.exclude(kind=OutboundMessage.Kind.CALLBACK).aggregate(last=Max("sent_at"))["last"]
    if email_last is not None:
        last["email"] = email_last
    for to_address, sent_at in (
        sent.filter(kind=OutboundMessage.Kind.CALLBACK)
        .values("to_address")
        .annotate(last=Max("sent_at"))
        .values_list("to_address", "last")
    ):
        channel = delivery_channel(OutboundMessage(kind=OutboundMessage.Kind.CALLBACK, to_address=to_address))
        if sent_at is not None and (channel not in last or sent_at > last[channel]):
            last[channel] = sent_at
    return last


def outbound_recover_channels(*, now: datetime) -> tuple[int, int]:
    """A channel that delivered a message after a row failed on it is healthy again:

    - ``pending`` rows waiting out a long backoff on it are made due now (an outage that ended
      shouldn't cost each reply up to one capped gap of waiting);
    - ``failed`` rows that ran out of attempts on it (not refused targets or bounces) are re-armed
      through ``outbound_retry(automatic=True)``, at most ``DELIVERY_AUTO_RETRY_LIMIT`` times each,
      within ``AUTO_RETRY_MAX_AGE``, and only while the reply is still owed: the ticket is not
      closed, still carries ``delivery_failed``, and got no later reply.

    Idempotent: both act only on rows whose last change predates the success, and the re-arm is
    a conditional update. Returns ``(brought_forward, rearmed)``."""
    waiting = list(
        OutboundMessage.objects.filter(
            status=OutboundMessage.Status.PENDING, attempts__gt=0, next_attempt_at__gt=now
        ).order_by("updated_at")[:RECOVERY_BATCH]
    )
    failed: list[OutboundMessage] = []
    if settings.DELIVERY_AUTO_RETRY_LIMIT > 0:
        failed = list(
            OutboundMessage.objects.filter(
                status=OutboundMessage.Status.FAILED,
                attempts__gte=delivery_max_attempts(),
                auto_retries__lt=settings.DELIVERY_AUTO_RETRY_LIMIT,
                updated_at__gte=now - AUTO_RETRY_MAX_AGE,
            )
            .select_related("ticket")
            .order_by("updated_at")[:RECOVERY_BATCH]
        )
    if not waiting and not failed:
        return 0, 0
    last_success = channel_last_success(since=min(row.updated_at for row in [*waiting, *failed]))

    def healthy_since(row: OutboundMessage) -> bool:
        success = last_success.get(delivery_channel(row))
        return success is not None and success > row.updated_at

    brought_forward = 0
    for row in waiting:
        if healthy_since(row):
            brought_forward += OutboundMessage.objects.filter(
                pk=row.pk, status=OutboundMessage.Status.PENDING, updated_at=row.updated_at
            ).update(next_attempt_at=now)
    rearmed = 0
    for row in failed:
        if healthy_since(row) and reply_still_owed(row) and outbound_retry(outbound=row, actor=None, automatic=True):
            rearmed += 1
    return brought_forward, rearmed


def reply_still_owed(outbound: OutboundMessage) -> bool:
    """Nobody has dealt with the failure another way: a team notification is always still owed;
    a reply only while its ticket is open, flagged ``delivery_failed`` and has no later reply."""
    if outbound.kind == OutboundMessage.Kind.NOTIFICATION:
        return True
    ticket = outbound.ticket
    if ticket.status == Ticket.Status.CLOSED or REASON_DELIVERY_FAILED not in ticket.review_reasons:
        return False
    return not (
        OutboundMessage.objects.filter(ticket_id=ticket.pk, created_at__gt=outbound.created_at)
        .exclude(kind=OutboundMessage.Kind.NOTIFICATION)
        .exists()
    )
