"""One delivery attempt (the body of ``support.tasks.deliver_outbound_task``): claim the row,
send it once, and record ``sent``, a retry, or a final failure a human sees."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from support.delivery.alerts import delivery_alert_raise
from support.delivery.callback import callback_post
from support.delivery.email import email_send
from support.delivery.errors import DeliveryRetry, PermanentFailure
from support.delivery.outbox import DISPATCH_GRACE
from support.delivery.schedule import (
    TASK_HELD_MAX_SECONDS,
    delivery_max_attempts,
    jittered,
    retry_delay_seconds,
)
from support.models import OutboundMessage, Ticket
from support.reasons import REASON_DELIVERY_FAILED
from support.services import ticket_event_record

logger = logging.getLogger(__name__)



def outbound_deliver(*, outbound_id: int) -> str:
    """Make one delivery attempt for an outbox row. Returns the outcome: ``sent``, ``failed``,
    ``bounced``, or ``skipped`` when the row isn't ``pending`` (already sent, or another worker
    has it). Raises ``DeliveryRetry`` after recording a temporary failure."""
    now = timezone.now()
    # The claim: only one task moves a row from pending to sending. A duplicate task, a Celery
    # redelivery or a sweeper re-dispatch sees 0 rows updated and stops here.
    claimed = OutboundMessage.objects.filter(
        pk=outbound_id, status=OutboundMessage.Status.PENDING
    ).update(
        status=OutboundMessage.Status.SENDING,
        attempts=F("attempts") + 1,
        updated_at=now,
        next_attempt_at=None,
    )
    if claimed != 1:
        return "skipped"
    outbound = OutboundMessage.objects.select_related("ticket", "ticket__customer").get(
        pk=outbound_id
    )
    try:
        if outbound.kind == OutboundMessage.Kind.CALLBACK:
            callback_post(outbound)
        else:
            email_send(outbound)
    except PermanentFailure as exc:
        outbound_finish_failed(outbound, error=str(exc), status=exc.status)
        return exc.status
    except Exception as exc:  # any transport error is worth another attempt
        error = f"attempt {outbound.attempts}: {type(exc).__name__}: {exc}"[:2000]
        logger.warning("delivery of outbound %s failed: %s", outbound_id, error)
        if outbound.attempts >= delivery_max_attempts():
            outbound_finish_failed(outbound, error=error, status=OutboundMessage.Status.FAILED)
            return OutboundMessage.Status.FAILED
        delay = jittered(retry_delay_seconds(attempts=outbound.attempts))
        # A short retry is held by the task (countdown); next_attempt_at is then only the
        # sweeper's safety net, a grace later. A long one waits for the sweeper, due at its time.
        held_by_task = delay <= TASK_HELD_MAX_SECONDS
        due_in = timedelta(seconds=delay) + (DISPATCH_GRACE if held_by_task else timedelta(0))
        OutboundMessage.objects.filter(
            pk=outbound_id, status=OutboundMessage.Status.SENDING
        ).update(
            status=OutboundMessage.Status.PENDING,
            last_error=error,
            next_attempt_at=timezone.now() + due_in,
            updated_at=timezone.now(),
        )
        ticket_event_record(
            ticket=outbound.ticket,
            verb="delivery_attempt_failed",
            after={"outbound_id": outbound.pk, "attempt": outbound.attempts},
            note=error,
        )
        raise DeliveryRetry(error, countdown=delay if held_by_task else None) from exc
    outbound_finish_sent(outbound)
    return OutboundMessage.Status.SENT


def outbound_finish_sent(outbound: OutboundMessage) -> None:
    now = timezone.now()
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=outbound.pk).update(
            status=OutboundMessage.Status.SENT,
            sent_at=now,
            last_error="",
            next_attempt_at=None,
            updated_at=now,
        )
        if outbound.kind == OutboundMessage.Kind.NOTIFICATION:
            ticket_event_record(
                ticket=outbound.ticket,
                verb="notification_sent",
                after={"outbound_id": outbound.pk, "to": outbound.to_address},
            )
            return
        ticket = Ticket.objects.select_for_update().get(pk=outbound.ticket_id)
        before = {"status": ticket.status}
        fields: list[str] = []
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            fields.append("first_responded_at")
        if outbound.auto_submitted:
            # The triage pipeline sets auto_replied itself; only move forward from the
            # pre-review states, never back from a human's reply or a closed ticket.
            if ticket.status in {
                Ticket.Status.NEW,
                Ticket.Status.TRIAGING,
                Ticket.Status.AWAITING_REVIEW,
            }:
                ticket.status = Ticket.Status.AUTO_REPLIED
                fields.append("status")
        elif ticket.status != Ticket.Status.CLOSED and ticket.status != Ticket.Status.REPLIED:
            ticket.status = Ticket.Status.REPLIED
            fields.append("status")
        if REASON_DELIVERY_FAILED in ticket.review_reasons:
            ticket.review_reasons = [
                r for r in ticket.review_reasons if r != REASON_DELIVERY_FAILED
            ]
            fields.append("review_reasons")
        if fields:
            ticket.save(update_fields=[*fields, "updated_at"])
        ticket_event_record(
            ticket=ticket,
            verb="reply_sent",
            before=before,
            after={
                "status": ticket.status,
                "outbound_id": outbound.pk,
                "kind": outbound.kind,
                "to": outbound.to_address,
                "attempts": outbound.attempts,
            },
        )


def outbound_finish_failed(outbound: OutboundMessage, *, error: str, status: str) -> None:
    """The final state a human must see: the row, an event, the ticket back in the queue, and
    (for ``failed``, not a customer's bounced address) a manager alert for the channel."""
    now = timezone.now()
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=outbound.pk).update(
            status=status, last_error=error[:2000], next_attempt_at=None, updated_at=now
        )
        if status == OutboundMessage.Status.FAILED:
            delivery_alert_raise(outbound=outbound, error=error)
        if outbound.kind == OutboundMessage.Kind.NOTIFICATION:
            ticket_event_record(
                ticket=outbound.ticket,
                verb="notification_failed",
                after={"outbound_id": outbound.pk, "to": outbound.to_address},
                note=error,
            )
            return
        ticket = Ticket.objects.select_for_update().get(pk=outbound.ticket_id)
        before = {"status": ticket.status, "review_reasons": list(ticket.review_reasons)}
        if ticket.status != Ticket.Status.CLOSED:
            # The customer has no answer: put the ticket back in front of a human.
            ticket.status = Ticket.Status.AWAITING_REVIEW
            if REASON_DELIVERY_FAILED not in ticket.review_reasons:
                ticket.review_reasons = [*ticket.review_reasons, REASON_DELIVERY_FAILED]
            ticket.save(update_fields=["status", "review_reasons", "updated_at"])
        ticket_event_record(
            ticket=ticket,
            verb="delivery_failed"
            if status == OutboundMessage.Status.FAILED
            else "delivery_bounced",
            before=before,
            after={
                "status": ticket.status,
                "review_reasons": ticket.review_reasons,
                "outbound_id": outbound.pk,
                "kind": outbound.kind,
                "to": outbound.to_address,
                "attempts": outbound.attempts,
            },
            note=error,
        )
