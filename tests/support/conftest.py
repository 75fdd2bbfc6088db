"""Fixtures shared by the intake tests (tests/support)."""

from __future__ import annotations

import pytest

from support.intake.email_ingest import email_ingest
from support.models import OutboundMessage, Ticket
from tests.triage.conftest import trained_classifier, trained_classifier_dir  # noqa: F401  (the policy, end to end)


@pytest.fixture
def answered_ticket(db: None) -> Ticket:
    """Ada's ticket, answered by us: a genuine reply from Ada would reopen it."""
    raw = (b"From: Ada Lovelace <ada@example.com>\r\nTo: support@switchboard.localhost\r\n"
           b"Subject: My card\r\nMessage-ID: <first@mail.example.com>\r\n\r\nWhere is my card?\r\n")
    ticket = Ticket.objects.get(pk=email_ingest(raw=raw, route="file").ticket_id)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.REPLIED)
    OutboundMessage.objects.create(ticket=ticket, kind=OutboundMessage.Kind.EMAIL, status=OutboundMessage.Status.SENT,
                                   idempotency_key="review:test", to_address="ada@example.com",
                                   body_text="Your card is on its way.", email_message_id="<out-1@sb>")
    ticket.refresh_from_db()
    return ticket
