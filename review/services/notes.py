"""Internal notes and ``@username`` mentions.

A note is for colleagues only: it is never a ``Message`` and never gets a customer outbox row.
A mention of a colleague who may see the ticket makes a ``Mention`` (their in-app list) and one
notification e-mail through the outbox (idempotent on ``mention:<id>``, delivered after commit,
retried like every outbound message)."""

from __future__ import annotations

import re
from email.utils import make_msgid

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from review.models import Mention, TicketNote
from review.services.errors import ReviewError
from support.delivery import outbox_create_or_get
from support.delivery.headers import message_id_domain
from support.delivery.outbox import outbound_dispatch_after_commit
from support.models import OutboundMessage, Ticket
from support.services import ticket_event_record

MENTION_RE = re.compile(r"(?<![\w.])@([\w.+-]+[\w])")
NOTE_MAX_CHARS = 5000


def mentioned_usernames(body: str) -> list[str]:
    """``@ana`` and ``@ana.lima`` in order of first appearance; an e-mail address is not one."""
    return list(dict.fromkeys(MENTION_RE.findall(body)))


def _colleagues(*, ticket: Ticket, usernames: list[str], author: User) -> list[User]:
    """The mentioned users who may review and see this ticket (not the author)."""
    if not usernames:
        return []
    candidates = User.objects.filter(username__in=usernames, is_active=True).exclude(pk=author.pk)
    return [
        user
        for user in candidates.filter(
            Q(groups__permissions__codename="review_ticket") | Q(is_superuser=True)
        ).distinct()
        if Ticket.objects.visible_to(agent=user).filter(pk=ticket.pk).exists()
    ]


def _mention_notify(*, mention: Mention, ticket: Ticket, author: User, body: str) -> None:
    if not mention.user.email:
        return
    url = reverse("review:ticket", kwargs={"ticket_id": ticket.pk})

    def create() -> OutboundMessage:
        return OutboundMessage.objects.create(
            ticket=ticket,
            kind=OutboundMessage.Kind.NOTIFICATION,
            idempotency_key=f"mention:{mention.pk}",
            to_address=mention.user.email,
            subject=f"{author.get_username()} mentioned you on {ticket.reference} [#{ticket.reference}]",
            body_text=f"{author.get_username()} wrote an internal note on {ticket.reference} "
            f"\"{ticket.subject}\":\n\n{body}\n\nOpen the ticket: {url}\n",
            email_message_id=make_msgid(domain=message_id_domain()),
            auto_submitted=True,
            status=OutboundMessage.Status.PENDING,
        )

    outbound, created = outbox_create_or_get(idempotency_key=f"mention:{mention.pk}", create=create)
    if created:
        outbound_dispatch_after_commit(outbound_id=outbound.pk)


def note_add(*, ticket_id: int, author: User, body: str) -> TicketNote:
    """Add an internal note to a ticket ``author`` may see; notify the colleagues it mentions.
    Raises ``Ticket.DoesNotExist`` for a ticket outside their teams."""
    body = body.strip()
    if not body:
        raise ReviewError("The note is empty.")
    if len(body) > NOTE_MAX_CHARS:
        raise ReviewError(f"A note is at most {NOTE_MAX_CHARS} characters.")
    with transaction.atomic():
        ticket = Ticket.objects.visible_to(agent=author).get(pk=ticket_id)
        note = TicketNote.objects.create(ticket=ticket, author=author, body=body)
        colleagues = _colleagues(ticket=ticket, usernames=mentioned_usernames(body), author=author)
        for user in colleagues:
            mention = Mention.objects.create(note=note, user=user)
            _mention_notify(mention=mention, ticket=ticket, author=author, body=body)
        ticket_event_record(
            ticket=ticket, verb="note_added", actor=author,
            after={"note": note.pk, "mentions": [user.get_username() for user in colleagues]},
        )
    return note


def mentions_mark_read(*, user: User) -> int:
    """Mark every unread mention of ``user`` read; returns how many."""
    return Mention.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
