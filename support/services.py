"""Writes in the ticket domain. Each service owns its transaction and enqueues follow-up work
only after commit, so a worker never sees a ticket that isn't there yet."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from support.celery import task_enqueue
from support.models import Customer, Message, Ticket, TicketEvent

logger = logging.getLogger(__name__)


def ticket_event_record(
    *,
    ticket: Ticket,
    verb: str,
    actor: User | None = None,
    actor_label: str = "system",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
) -> TicketEvent:
    if actor is not None:
        actor_label = actor.get_username()
    return TicketEvent.objects.create(
        ticket=ticket,
        verb=verb,
        actor=actor,
        actor_label=actor_label,
        before=before or {},
        after=after or {},
        note=note,
    )


def customer_get_or_create(*, email: str, name: str = "") -> Customer:
    email = email.strip().lower()
    customer, created = Customer.objects.get_or_create(email=email, defaults={"name": name.strip()})
    if not created and name and not customer.name:
        customer.name = name.strip()
        customer.save(update_fields=["name"])
    return customer


def ticket_create(
    *,
    subject: str,
    body_text: str,
    customer_email: str,
    customer_name: str = "",
    channel: str,
    source: str,
    external_id: str = "",
    callback_url: str = "",
    metadata: dict[str, Any] | None = None,
    body_html: str = "",
    body_for_model: str = "",
    headers: dict[str, Any] | None = None,
    message_id: str = "",
    in_reply_to: str = "",
    references: str = "",
    actor_label: str = "intake",
) -> tuple[Ticket, bool]:
    """Create a ticket with its first message, or return the existing one for a retried delivery.

    Returns ``(ticket, created)``. Idempotent on ``(source, external_id)`` through a unique
    constraint, so two racing deliveries of the same ticket create one row.
    """
    if external_id:
        existing = Ticket.objects.filter(source=source, external_id=external_id).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            customer = customer_get_or_create(email=customer_email, name=customer_name)
            ticket = Ticket.objects.create(
                subject=subject.strip()[:500] or "(no subject)",
                channel=channel,
                source=source,
                external_id=external_id,
                callback_url=callback_url,
                metadata=metadata or {},
                customer=customer,
            )
            Message.objects.create(
                ticket=ticket,
                direction=Message.Direction.INBOUND,
                author_email=customer.email,
                author_name=customer_name or customer.name,
                body_text=body_text,
                body_html=body_html,
                body_for_model=body_for_model or body_text,
                headers=headers or {},
                message_id=message_id,
                in_reply_to=in_reply_to,
                references=references,
            )
            ticket_event_record(ticket=ticket, verb="created", actor_label=actor_label,
                                after={"channel": channel, "source": source})
            transaction.on_commit(lambda: triage_dispatch(ticket_ids=[ticket.pk]))
    except IntegrityError:
        # A concurrent delivery of the same (source, external_id) won the race: return its row.
        if external_id:
            existing = Ticket.objects.filter(source=source, external_id=external_id).first()
            if existing is not None:
                return existing, False
        raise
    return ticket, True


def triage_dispatch(*, ticket_ids: Iterable[int]) -> int:
    """Hand tickets to the triage worker. Safe to call any number of times for the same ticket:
    the task claims its ticket with a conditional update, so a twin does nothing.

    If the broker is unreachable the ticket stays ``new`` with no dispatch time and the periodic
    sweeper (``dispatch_pending``) sends it when the broker is back. Returns how many were sent.
    """
    sent = 0
    for ticket_id in ticket_ids:
        try:
            task_enqueue("triage.tasks.triage_ticket_task", ticket_id)
        except Exception as exc:  # kombu raises several connection error types
            logger.warning("triage dispatch deferred for ticket %s: %s", ticket_id, exc)
            continue
        Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.NEW).update(
            triage_dispatched_at=timezone.now()
        )
        sent += 1
    return sent


def dispatch_pending(*, older_than_seconds: int = 30) -> int:
    """The sweeper: send every ``new`` ticket whose dispatch never happened or got lost."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = Ticket.objects.filter(status=Ticket.Status.NEW, created_at__lt=cutoff).filter(
        triage_dispatched_at__isnull=True
    ) | Ticket.objects.filter(status=Ticket.Status.NEW, triage_dispatched_at__lt=cutoff)
    ids = list(pending.values_list("pk", flat=True)[:500])
    return triage_dispatch(ticket_ids=ids)
