"""email_ingest on the .eml corpus: tickets, threading, robots, bounces, attachments, quarantine."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from support.intake.email_ingest import email_ingest, quarantine_reprocess
from support.models import Attachment, InboundEmail, Message, OutboundMessage, Ticket, TicketEvent

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email"
OUR_ID = "<out-1@switchboard.localhost>"


def corpus(name: str, ticket: Ticket | None = None) -> bytes:
    raw = (CORPUS / name).read_bytes()
    if ticket is not None:
        raw = raw.replace(b"[#SB-0]", f"[#{ticket.reference}]".encode())
    return raw


def ingest(raw: bytes, source_ref: str = "test"):
    return email_ingest(raw=raw, route="file", source_ref=source_ref)


def make_email(*, sender: str = "ada@example.com", subject: str = "Hello", msg_id: str | None = "<m@example.com>",
               body: str = "Some question.", headers: dict[str, str] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@switchboard.localhost"
    message["Subject"] = subject
    if msg_id:
        message["Message-ID"] = msg_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def answered_ticket(db: None) -> Ticket:
    """Ada's ticket, already answered by us with an e-mail whose Message-ID is OUR_ID."""
    result = ingest(corpus("multipart_alternative.eml"))
    ticket = Ticket.objects.get(pk=result.ticket_id)
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.REPLIED)
    OutboundMessage.objects.create(ticket=ticket, kind=OutboundMessage.Kind.EMAIL, status=OutboundMessage.Status.SENT,
                                   idempotency_key="review:test", to_address="ada@example.com",
                                   body_text="Your card is on its way.", email_message_id=OUR_ID)
    ticket.refresh_from_db()
    return ticket


@pytest.mark.django_db
def test_a_new_message_creates_a_ticket_and_dispatches_triage_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = ingest(corpus("multipart_alternative.eml"))
    assert result.outcome == "created" and result.describe() == f"created ticket={result.ticket_id}"
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert (ticket.source, ticket.external_id, ticket.channel) == ("email", "<alt-1@mail.example.com>", "email")
    assert ticket.subject == "My card has not arrived"
    message = ticket.messages.get()
    assert message.body_for_model.endswith("Thanks,\nAda") and "wrote:" in message.body_text
    inbound = InboundEmail.objects.get()
    assert (inbound.status, inbound.ticket_id) == ("processed", ticket.pk)
    assert bytes(inbound.raw) == corpus("multipart_alternative.eml")
    assert len(callbacks) == 1  # the triage dispatch, waiting for the commit


@pytest.mark.django_db
def test_the_same_message_twice_is_one_ticket():
    first = ingest(corpus("shift_jis.eml"))
    second = ingest(corpus("shift_jis.eml"))
    assert (first.outcome, second.outcome) == ("created", "ignored")
    assert "duplicate" in second.reason
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_message_without_message_id_is_still_deduplicated():
    raw = make_email(msg_id=None)
    assert [ingest(raw).outcome, ingest(raw).outcome] == ["created", "ignored"]
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_html_only_mail_is_stored_sanitized():
    result = ingest(corpus("html_only_script.eml"))
    message = Message.objects.get(ticket_id=result.ticket_id)
    assert "<script" not in message.body_html and "onerror" not in message.body_html
    assert "Please refund my last payment." in message.body_text


@pytest.mark.django_db
def test_allowed_attachments_are_stored_and_others_dropped_with_a_note(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    result = ingest(corpus("attachments.eml"))
    stored, dropped = Attachment.objects.order_by("id")
    assert (stored.filename, stored.content_type, stored.dropped_reason) == ("statement.pdf", "application/pdf", "")
    assert stored.file.read().startswith(b"%PDF") and stored.size == 71
    assert dropped.filename == "invoice.exe" and not dropped.file
    assert "not allowed" in dropped.dropped_reason
    note = TicketEvent.objects.get(ticket_id=result.ticket_id, verb="attachments_dropped").note
    assert "invoice.exe" in note


@pytest.mark.django_db
def test_a_huge_attachment_is_dropped_but_the_ticket_and_raw_bytes_are_kept(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    message = EmailMessage()
    message["From"] = "Big Sender <big@example.com>"
    message["Subject"] = "Scan of my passport"
    message["Message-ID"] = "<huge-1@example.com>"
    message.set_content("Scan attached.")
    huge = b"\x89PNG" + b"\x00" * (settings.EMAIL_MAX_ATTACHMENT_BYTES + 1024)
    message.add_attachment(huge, maintype="image", subtype="png", filename="passport.png")
    raw = message.as_bytes()

    result = ingest(raw)

    assert result.outcome == "created"
    attachment = Attachment.objects.get()
    assert attachment.size == len(huge) and not attachment.file
    assert attachment.dropped_reason.startswith("too large")
    assert "passport.png" in TicketEvent.objects.get(verb="attachments_dropped").note
    assert len(bytes(InboundEmail.objects.get().raw)) == len(raw)


@pytest.mark.django_db
def test_the_attachment_count_is_capped(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.EMAIL_MAX_ATTACHMENTS = 1
    message = EmailMessage()
    message["From"] = "ada@example.com"
    message["Message-ID"] = "<many@example.com>"
    message.set_content("Two files.")
    for index in range(2):
        message.add_attachment(b"a,b\n", maintype="text", subtype="csv", filename=f"f{index}.csv")
    ingest(message.as_bytes())
    assert list(Attachment.objects.order_by("id").values_list("dropped_reason", flat=True)) == [
        "", "over the limit of 1 attachments"]


@pytest.mark.django_db
def test_a_reply_threads_by_in_reply_to_and_reopens_for_review(answered_ticket):
    result = ingest(corpus("reply_in_reply_to.eml"))

    assert result.describe() == f"threaded ticket={answered_ticket.pk}"
    answered_ticket.refresh_from_db()
    assert answered_ticket.messages.count() == 2
    assert answered_ticket.status == Ticket.Status.AWAITING_REVIEW
    assert "customer_replied" in answered_ticket.review_reasons
    event = TicketEvent.objects.get(ticket=answered_ticket, verb="reopened")
    assert (event.before, event.after) == ({"status": "replied"}, {"status": "awaiting_review"})
    reply = answered_ticket.messages.order_by("id").last()
    assert reply.body_for_model == "It still has not arrived, sorry."
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_threads_by_the_subject_token(answered_ticket):
    Ticket.objects.filter(pk=answered_ticket.pk).update(status=Ticket.Status.CLOSED)
    result = ingest(corpus("reply_subject_token.eml", answered_ticket))
    assert (result.outcome, result.ticket_id) == ("threaded", answered_ticket.pk)
    assert Ticket.objects.get(pk=answered_ticket.pk).status == Ticket.Status.AWAITING_REVIEW


@pytest.mark.django_db
def test_a_reply_while_the_ticket_waits_for_review_is_appended_without_a_status_change(answered_ticket):
    Ticket.objects.filter(pk=answered_ticket.pk).update(status=Ticket.Status.AWAITING_REVIEW)
    result = ingest(corpus("reply_in_reply_to.eml"))
    assert result.outcome == "threaded"
    assert TicketEvent.objects.filter(ticket=answered_ticket, verb="customer_replied").exists()
    assert not TicketEvent.objects.filter(ticket=answered_ticket, verb="reopened").exists()


@pytest.mark.django_db
def test_forged_references_from_another_customer_open_a_new_ticket(answered_ticket):
    # Mallory quotes our Message-ID and Ada's ticket number in the subject
    result = ingest(corpus("forged_references.eml", answered_ticket))

    assert result.outcome == "created" and result.ticket_id != answered_ticket.pk
    forged = Ticket.objects.get(pk=result.ticket_id)
    assert forged.customer.email == "mallory@evil.example.net"
    assert answered_ticket.reference in forged.metadata["thread_rejected"]
    assert TicketEvent.objects.filter(ticket=forged, verb="thread_rejected").exists()
    assert answered_ticket.messages.count() == 1
    assert Ticket.objects.get(pk=answered_ticket.pk).status == Ticket.Status.REPLIED


@pytest.mark.django_db
def test_an_auto_reply_is_recorded_on_its_ticket_but_never_reopens_or_answers_it(answered_ticket):
    result = ingest(corpus("auto_reply.eml", answered_ticket))

    assert result.outcome == "ignored" and "auto-submitted: auto-replied" in result.reason
    answered_ticket.refresh_from_db()
    assert answered_ticket.status == Ticket.Status.REPLIED
    automated = answered_ticket.messages.get(is_automated=True)
    assert automated.body_text == "I am out of the office until Monday."
    assert Ticket.objects.count() == 1
    assert OutboundMessage.objects.count() == 1  # nothing new to send
    assert InboundEmail.objects.get(message_id="<auto-1@mail.example.com>").status == "ignored"


@pytest.mark.django_db
def test_a_bounce_marks_our_outbound_message_bounced(answered_ticket):
    result = ingest(corpus("dsn_bounce.eml"))

    assert result.outcome == "ignored" and "bounce" in result.reason
    outbound = OutboundMessage.objects.get(email_message_id=OUR_ID)
    assert outbound.status == OutboundMessage.Status.BOUNCED
    assert TicketEvent.objects.filter(ticket=answered_ticket, verb="bounced").exists()
    assert Ticket.objects.count() == 1 and answered_ticket.messages.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["precedence_bulk.eml", "own_address.eml", "dsn_bounce.eml", "auto_reply.eml"])
def test_robot_mail_never_creates_a_ticket(name):
    result = ingest(corpus(name))
    assert result.outcome == "ignored"
    assert Ticket.objects.count() == 0
    assert InboundEmail.objects.get().status == InboundEmail.Status.IGNORED


@pytest.mark.django_db
def test_malformed_mime_is_quarantined_with_its_raw_bytes_and_reason():
    result = ingest(corpus("malformed_mime.eml"), source_ref="broken.eml")
    assert result.outcome == "quarantined" and "malformed MIME" in result.reason
    row = InboundEmail.objects.get()
    assert row.status == InboundEmail.Status.QUARANTINED and "StartBoundaryNotFoundDefect" in row.reason
    assert bytes(row.raw) == corpus("malformed_mime.eml")
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_shows_the_quarantine_reason(client, make_user):
    ingest(corpus("malformed_mime.eml"))
    client.force_login(make_user("root", "admin"))
    page = client.get("/admin/support/inboundemail/?status=quarantined")
    assert page.status_code == 200
    assert "malformed MIME" in page.content.decode()


@pytest.mark.django_db
def test_a_sender_flood_is_quarantined_and_reprocessable_later(settings):
    settings.EMAIL_SENDER_QUOTA_PER_HOUR = 2
    results = [ingest(make_email(msg_id=f"<flood-{n}@example.com>", subject=f"n{n}")) for n in range(3)]
    assert [result.outcome for result in results] == ["created", "created", "quarantined"]
    assert "quota" in results[2].reason

    settings.EMAIL_SENDER_QUOTA_PER_HOUR = 10  # e.g. an hour later, or the admin raised it
    [(row, again)] = quarantine_reprocess()
    assert again.outcome == "created"
    row.refresh_from_db()
    assert row.status == InboundEmail.Status.PROCESSED and row.reprocessed_at is not None
    assert InboundEmail.objects.count() == 3  # reprocessing updates the row, it doesn't add one


@pytest.mark.django_db
def test_reprocessing_a_still_broken_message_keeps_it_quarantined():
    ingest(corpus("malformed_mime.eml"))
    [(row, again)] = quarantine_reprocess()
    assert again.outcome == "quarantined"
    assert InboundEmail.objects.get().status == InboundEmail.Status.QUARANTINED


@pytest.mark.django_db
def test_a_reply_to_a_ticket_pending_on_the_customer_reopens_it_and_restarts_the_sla_clock(answered_ticket):
    from datetime import timedelta

    from django.utils import timezone

    due = timezone.now() + timedelta(hours=1)
    Ticket.objects.filter(pk=answered_ticket.pk).update(
        status=Ticket.Status.PENDING_CUSTOMER, first_response_due_at=due,
        sla_paused_at=timezone.now() - timedelta(hours=3),
    )

    ingest(corpus("reply_in_reply_to.eml"))

    answered_ticket.refresh_from_db()
    assert answered_ticket.status == Ticket.Status.AWAITING_REVIEW
    assert answered_ticket.sla_paused_at is None
    assert answered_ticket.first_response_due_at - due >= timedelta(hours=3)
