"""Writing outbox rows and handing them to a worker: customer replies, team notifications, retries.

Every row is created through ``outbox_create_or_get`` (unique ``idempotency_key``) inside the
caller's transaction, and dispatched only after that transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from email.utils import make_msgid

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from support.celery import task_enqueue
from support.delivery.alerts import delivery_alert_raise
from support.delivery.headers import message_id_domain, reply_subject, reply_threading, support_address
from support.models import Message, OutboundMessage, Team, Ticket
from support.services import ticket_event_record

logger = logging.getLogger(__name__)



# Once dispatched, the sweeper leaves a pending row alone this long: its task is in the queue.
DISPATCH_GRACE = timedelta(minutes=5)


def outbox_create_or_get(
    *, idempotency_key: str, create: Callable[[], OutboundMessage]
) -> tuple[OutboundMessage, bool]:
    """The one way an outbox row is written: ``create()`` runs unless a row with this key exists.
    Returns ``(row, created)``. The key is UNIQUE in the database, so two requests racing past
    the lookup still make one row; ``create()`` runs in a savepoint, so losing that race leaves
    the caller's transaction usable."""
    existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return create(), True
    except IntegrityError:
        return OutboundMessage.objects.get(idempotency_key=idempotency_key), False


def outbound_dispatch_after_commit(*, outbound_id: int) -> None:
    """Hand the row to a worker once the caller's transaction commits. ``robust``: the row is
    committed by then; a failed hand-off is the sweeper's job, not an error page."""
    transaction.on_commit(lambda: outbound_dispatch(outbound_ids=[outbound_id]), robust=True)


def outbound_reply_create(
    *,
    ticket: Ticket,
    body_text: str,
    created_by: User | None,
    auto_submitted: bool,
    idempotency_key: str,
) -> tuple[OutboundMessage, bool]:
    """Queue the reply to ``ticket``: e-mail to the customer, or a callback when the ticket has
    a ``callback_url``. Returns ``(outbound, created)``; ``created`` is False when a row with
    this ``idempotency_key`` already exists (a double click, a second tab, a retried task).

    Call INSIDE the caller's ``transaction.atomic()``: the row commits with the decision that
    caused it and delivery starts only after that commit.
    """
    kind = OutboundMessage.Kind.CALLBACK if ticket.callback_url else OutboundMessage.Kind.EMAIL
    subject = reply_subject(ticket=ticket)
    threading = reply_threading(ticket=ticket)
    email_message_id = (
        make_msgid(domain=message_id_domain()) if kind == OutboundMessage.Kind.EMAIL else ""
    )
    headers: dict[str, str] = {"Subject": subject}
    if auto_submitted:
        headers["Auto-Submitted"] = "auto-replied"
    author_name = "Switchboard"
    if created_by is not None:
        author_name = created_by.get_full_name() or created_by.get_username()

    def create() -> OutboundMessage:
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.OUTBOUND,
            author_email=support_address(),
            author_name=author_name[:200],
            author_user=created_by,
            body_text=body_text,
            body_for_model=body_text,
            headers=headers,
            message_id=email_message_id,
            in_reply_to=threading.in_reply_to,
            references=threading.references,
            is_automated=auto_submitted,
        )
        return OutboundMessage.objects.create(
            ticket=ticket,
            message=message,
            kind=kind,
            idempotency_key=idempotency_key,
            to_address=ticket.callback_url
            if kind == OutboundMessage.Kind.CALLBACK
            else ticket.customer.email,
            subject=subject,
            body_text=body_text,
            email_message_id=email_message_id,
            in_reply_to=threading.in_reply_to,
            references=threading.references,
            auto_submitted=auto_submitted,
            created_by=created_by,
        )

    outbound, created = outbox_create_or_get(idempotency_key=idempotency_key, create=create)
    if not created:
        return outbound, False
    ticket_event_record(
        ticket=ticket,
        verb="reply_queued",
        actor=created_by,
        actor_label="ai" if created_by is None and auto_submitted else "system",
        after={
            "outbound_id": outbound.pk,
            "kind": kind,
            "to": outbound.to_address,
            "auto_submitted": auto_submitted,
        },
    )
    outbound_dispatch_after_commit(outbound_id=outbound.pk)
    return outbound, True


def team_notify(
    *, team: Team, subject: str, body_text: str, idempotency_key: str, ticket: Ticket
) -> OutboundMessage:
    """Queue a notification e-mail to ``team.email`` (SLA escalations and the like) through the
    same outbox. Idempotent on ``idempotency_key``. A team without an address gets a ``failed``
    row and a ticket event, so the gap is visible rather than silent."""
    has_address = bool(team.email)

    def create() -> OutboundMessage:
        return OutboundMessage.objects.create(
            ticket=ticket,
            kind=OutboundMessage.Kind.NOTIFICATION,
            idempotency_key=idempotency_key,
            to_address=team.email,
            subject=f"{subject} [#{ticket.reference}]"
            if f"[#{ticket.reference}]" not in subject
            else subject,
            body_text=body_text,
            email_message_id=make_msgid(domain=message_id_domain()),
            auto_submitted=True,
            status=OutboundMessage.Status.PENDING
            if has_address
            else OutboundMessage.Status.FAILED,
            last_error="" if has_address else f"team {team.slug!r} has no e-mail address",
        )

    outbound, created = outbox_create_or_get(idempotency_key=idempotency_key, create=create)
    if not created:
        return outbound
    if not has_address:
        ticket_event_record(
            ticket=ticket,
            verb="notification_failed",
            after={"outbound_id": outbound.pk, "team": team.slug},
            note=outbound.last_error,
        )
        delivery_alert_raise(outbound=outbound, error=outbound.last_error)
        return outbound
    outbound_dispatch_after_commit(outbound_id=outbound.pk)
    return outbound


def outbound_retry(*, outbound: OutboundMessage, actor: User | None, automatic: bool = False) -> bool:
    """Re-arm a ``failed`` or ``bounced`` row for a fresh set of attempts (a "Retry delivery"
    button). Same row, same idempotency key and Message-ID. Returns False if it wasn't failed.

    ``automatic`` (the sweeper, once the channel works again): only a ``failed`` row still exactly
    as the caller read it (``updated_at``), so two sweepers re-arm it once; counted in
    ``auto_retries``, which ``DELIVERY_AUTO_RETRY_LIMIT`` bounds."""
    rows = OutboundMessage.objects.filter(pk=outbound.pk)
    if automatic:
        rows = rows.filter(status=OutboundMessage.Status.FAILED, updated_at=outbound.updated_at)
    else:
        rows = rows.filter(status__in=[OutboundMessage.Status.FAILED, OutboundMessage.Status.BOUNCED])
    updated = rows.update(
        status=OutboundMessage.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        updated_at=timezone.now(),
        auto_retries=F("auto_retries") + (1 if automatic else 0),
    )
    if updated != 1:
        return False
    ticket_event_record(
        ticket=outbound.ticket,
        verb="delivery_retried",
        actor=actor,
        after={"outbound_id": outbound.pk, **({"automatic": True} if automatic else {})},
        note="the channel delivered a later message, so this one is tried again" if automatic else "",
    )
    outbound_dispatch_after_commit(outbound_id=outbound.pk)
    return True


def outbound_dispatch(*, outbound_ids: list[int]) -> int:
    """Send delivery tasks. Safe to repeat (the task claims its row). If the broker is down the
    row stays ``pending`` without a dispatch mark and the sweeper sends it later."""
    sent = 0
    for outbound_id in outbound_ids:
        # Mark before sending: an eager (in-process) task may finish inside .delay() and set its
        # own next_attempt_at, which this must not overwrite.
        OutboundMessage.objects.filter(
            pk=outbound_id, status=OutboundMessage.Status.PENDING
        ).update(next_attempt_at=timezone.now() + DISPATCH_GRACE)
        try:
            task_enqueue("support.tasks.deliver_outbound_task", outbound_id)
        except Exception as exc:  # kombu raises several connection error types
            logger.warning("delivery dispatch deferred for outbound %s: %s", outbound_id, exc)
            OutboundMessage.objects.filter(
                pk=outbound_id, status=OutboundMessage.Status.PENDING
            ).update(next_attempt_at=timezone.now())
            continue
        sent += 1
    return sent
