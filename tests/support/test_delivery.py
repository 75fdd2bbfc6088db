"""E-mail delivery through the outbox: threading headers, exactly one e-mail per reply, retries
that end visibly, and the sweeper. A real SMTP server (aiosmtpd) receives the mail; Celery runs
eagerly in-process so retries happen deterministically, without waiting for backoff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from support.delivery import (
    DeliveryRetry,
    outbound_deliver,
    outbound_deliver_due,
    outbound_reply_create,
    outbound_retry,
    team_notify,
)
from support.models import Message, OutboundMessage, Team, Ticket, TicketEvent
from support.tasks import deliver_outbound_task
from tests.support.delivery_helpers import (
    INBOUND_MESSAGE_ID,
    INBOUND_REFERENCES,
    ticket_with_inbound_email,
)

pytestmark = pytest.mark.django_db


def reply(
    ticket: Ticket, *, key: str = "review:1:1", auto: bool = False, user=None, capture=None
) -> tuple[OutboundMessage, bool]:
    """Approve a reply the way the callers do: inside a transaction, delivery after commit."""
    with capture(execute=True):
        with transaction.atomic():
            return outbound_reply_create(
                ticket=ticket,
                body_text="Your card ships today.",
                created_by=user,
                auto_submitted=auto,
                idempotency_key=key,
            )


def test_it_sends_one_email_that_threads(smtp_sink, agent_user, django_capture_on_commit_callbacks):
    ticket = ticket_with_inbound_email()

    outbound, created = reply(ticket, user=agent_user, capture=django_capture_on_commit_callbacks)

    assert created
    assert len(smtp_sink.messages) == 1
    mail = smtp_sink.messages[0]
    assert mail["From"] == "Switchboard Support <support@switchboard.localhost>"
    assert mail["To"] == "ada@customer.example"
    assert mail["Subject"] == f"Re: Where is my card? [#SB-{ticket.pk}]"
    outbound.refresh_from_db()
    assert mail["Message-ID"] == outbound.email_message_id
    assert mail["Message-ID"].endswith("@switchboard.localhost>")
    assert mail["In-Reply-To"] == INBOUND_MESSAGE_ID
    assert mail["References"].split() == [*INBOUND_REFERENCES.split(), INBOUND_MESSAGE_ID]
    assert mail["Auto-Submitted"] is None
    assert "Your card ships today." in mail.get_content()


def test_a_sent_reply_is_recorded_on_the_ticket(
    smtp_sink, agent_user, django_capture_on_commit_callbacks
):
    ticket = ticket_with_inbound_email()

    outbound, _ = reply(ticket, user=agent_user, capture=django_capture_on_commit_callbacks)

    outbound.refresh_from_db()
    ticket.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.SENT, 1)
    assert outbound.sent_at is not None
    assert ticket.status == Ticket.Status.REPLIED
    assert ticket.first_responded_at == outbound.sent_at
    conversation = ticket.messages.filter(direction=Message.Direction.OUTBOUND).get()
    assert conversation.outbound == outbound
    assert conversation.message_id == outbound.email_message_id  # so the customer's answer threads
    assert list(ticket.events.values_list("verb", flat=True)) == ["reply_queued", "reply_sent"]


def test_an_auto_sent_reply_says_auto_submitted(smtp_sink, django_capture_on_commit_callbacks):
    ticket = ticket_with_inbound_email()
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.AUTO_REPLIED
    )  # as triage leaves it

    reply(ticket, key=f"auto:{ticket.pk}", auto=True, capture=django_capture_on_commit_callbacks)

    assert [mail["Auto-Submitted"] for mail in smtp_sink.messages] == ["auto-replied"]
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AUTO_REPLIED
    assert ticket.first_responded_at is not None


def test_a_double_approval_gives_one_row_and_one_email(
    smtp_sink, agent_user, django_capture_on_commit_callbacks
):
    ticket = ticket_with_inbound_email()

    first, created_first = reply(
        ticket, user=agent_user, capture=django_capture_on_commit_callbacks
    )
    second, created_second = reply(
        ticket, user=agent_user, capture=django_capture_on_commit_callbacks
    )
    # A duplicated task and a Celery redelivery of the same id:
    assert deliver_outbound_task.delay(first.pk).get() == "skipped"
    assert outbound_deliver(outbound_id=first.pk) == "skipped"

    assert (created_first, created_second, second.pk) == (True, False, first.pk)
    assert OutboundMessage.objects.count() == 1
    assert ticket.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1
    assert len(smtp_sink.messages) == 1


def test_smtp_down_retries_then_fails_visibly_on_the_ticket(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    smtp_sink.stop()
    ticket = ticket_with_inbound_email()

    outbound, _ = reply(ticket, capture=django_capture_on_commit_callbacks)

    outbound.refresh_from_db()
    ticket.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.FAILED, 3)
    assert "ConnectionRefusedError" in outbound.last_error
    assert ticket.status == Ticket.Status.AWAITING_REVIEW
    assert "delivery_failed" in ticket.review_reasons
    verbs = list(ticket.events.values_list("verb", flat=True))
    assert verbs == [
        "reply_queued",
        "delivery_attempt_failed",
        "delivery_attempt_failed",
        "delivery_failed",
    ]
    assert ticket.first_responded_at is None


def test_a_failed_reply_can_be_retried_once_smtp_is_back(
    smtp_sink, settings, agent_user, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    smtp_sink.stop()
    ticket = ticket_with_inbound_email()
    outbound, _ = reply(ticket, capture=django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.FAILED

    smtp_sink.start()
    with django_capture_on_commit_callbacks(execute=True):
        assert outbound_retry(outbound=outbound, actor=agent_user)

    outbound.refresh_from_db()
    ticket.refresh_from_db()
    assert outbound.status == OutboundMessage.Status.SENT
    assert [mail["Message-ID"] for mail in smtp_sink.messages] == [outbound.email_message_id]
    assert ticket.status == Ticket.Status.REPLIED
    assert "delivery_failed" not in ticket.review_reasons


def test_a_temporary_failure_schedules_the_next_attempt(smtp_sink, settings):
    # Given a reply whose dispatch never happened, and SMTP down
    ticket = ticket_with_inbound_email()
    with transaction.atomic():
        outbound, _ = outbound_reply_create(
            ticket=ticket,
            body_text="Hi",
            created_by=None,
            auto_submitted=False,
            idempotency_key="review:t:1",
        )
    smtp_sink.stop()

    # When one attempt fails
    with pytest.raises(DeliveryRetry):
        outbound_deliver(outbound_id=outbound.pk)

    # Then the row is pending again, due later, and the sweeper leaves it alone until then
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.PENDING, 1)
    assert outbound.next_attempt_at > timezone.now()
    assert outbound_deliver_due() == 0
    # And once it is due and SMTP is back, the sweeper delivers it
    smtp_sink.start()
    assert outbound_deliver_due(now=outbound.next_attempt_at + timedelta(seconds=1)) == 1
    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.SENT, 2)
    assert len(smtp_sink.messages) == 1


def test_the_sweeper_sends_a_reply_whose_dispatch_was_lost(smtp_sink):
    # The transaction commits but its on_commit dispatch never runs (as when Redis is down).
    ticket = ticket_with_inbound_email()
    with transaction.atomic():
        outbound, _ = outbound_reply_create(
            ticket=ticket,
            body_text="Hi",
            created_by=None,
            auto_submitted=False,
            idempotency_key="review:lost:1",
        )
    assert outbound_deliver_due() == 0  # too fresh: its own dispatch may still be on the way

    assert outbound_deliver_due(now=timezone.now() + timedelta(minutes=1)) == 1

    assert OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.SENT
    assert len(smtp_sink.messages) == 1


def test_the_sweeper_recovers_a_reply_stuck_in_sending(smtp_sink, settings):
    # A worker claimed the row and died before recording the result.
    ticket = ticket_with_inbound_email()
    with transaction.atomic():
        outbound, _ = outbound_reply_create(
            ticket=ticket,
            body_text="Hi",
            created_by=None,
            auto_submitted=False,
            idempotency_key="review:stuck:1",
        )
    claimed_at = timezone.now() - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1)
    OutboundMessage.objects.filter(pk=outbound.pk).update(
        status=OutboundMessage.Status.SENDING, attempts=1, updated_at=claimed_at
    )
    assert outbound_deliver(outbound_id=outbound.pk) == "skipped"  # a twin task can't take it over

    assert outbound_deliver_due() == 1

    outbound.refresh_from_db()
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.SENT, 2)
    assert len(smtp_sink.messages) == 1


def test_a_reply_stuck_in_sending_on_its_last_attempt_ends_failed(smtp_sink, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    ticket = ticket_with_inbound_email()
    with transaction.atomic():
        outbound, _ = outbound_reply_create(
            ticket=ticket,
            body_text="Hi",
            created_by=None,
            auto_submitted=False,
            idempotency_key="review:stuck:2",
        )
    claimed_at = timezone.now() - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1)
    OutboundMessage.objects.filter(pk=outbound.pk).update(
        status=OutboundMessage.Status.SENDING, attempts=2, updated_at=claimed_at
    )

    assert outbound_deliver_due() == 0

    outbound.refresh_from_db()
    ticket.refresh_from_db()
    assert outbound.status == OutboundMessage.Status.FAILED
    assert "interrupted" in outbound.last_error
    assert "delivery_failed" in ticket.review_reasons
    assert smtp_sink.messages == []


def test_a_recent_sending_row_is_left_alone(smtp_sink):
    ticket = ticket_with_inbound_email()
    with transaction.atomic():
        outbound, _ = outbound_reply_create(
            ticket=ticket,
            body_text="Hi",
            created_by=None,
            auto_submitted=False,
            idempotency_key="review:busy:1",
        )
    OutboundMessage.objects.filter(pk=outbound.pk).update(
        status=OutboundMessage.Status.SENDING, attempts=1, updated_at=timezone.now()
    )

    assert outbound_deliver_due(now=timezone.now() + timedelta(minutes=1)) == 0
    assert OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.SENDING
    assert smtp_sink.messages == []


def test_team_notify_mails_the_team_once(smtp_sink, django_capture_on_commit_callbacks):
    team = Team.objects.create(slug="cards", name="Cards", email="cards-team@switchboard.localhost")
    ticket = ticket_with_inbound_email()

    with django_capture_on_commit_callbacks(execute=True):
        first = team_notify(
            team=team,
            subject="SLA at risk",
            body_text="SB ticket needs you",
            idempotency_key=f"sla:{ticket.pk}:first_response",
            ticket=ticket,
        )
    with django_capture_on_commit_callbacks(execute=True):
        again = team_notify(
            team=team,
            subject="SLA at risk",
            body_text="SB ticket needs you",
            idempotency_key=f"sla:{ticket.pk}:first_response",
            ticket=ticket,
        )

    assert again.pk == first.pk
    assert [
        (mail["To"], mail["Subject"], mail["Auto-Submitted"]) for mail in smtp_sink.messages
    ] == [("cards-team@switchboard.localhost", f"SLA at risk [#SB-{ticket.pk}]", "auto-generated")]
    first.refresh_from_db()
    ticket.refresh_from_db()
    assert (first.kind, first.status) == (
        OutboundMessage.Kind.NOTIFICATION,
        OutboundMessage.Status.SENT,
    )
    assert ticket.status == Ticket.Status.AWAITING_REVIEW  # a notification is not a reply
    assert ticket.first_responded_at is None


def test_team_notify_without_an_address_fails_visibly(smtp_sink):
    team = Team.objects.create(slug="silent", name="Silent")
    ticket = ticket_with_inbound_email()

    outbound = team_notify(
        team=team, subject="SLA at risk", body_text="x", idempotency_key="sla:x", ticket=ticket
    )

    assert outbound.status == OutboundMessage.Status.FAILED
    assert "no e-mail address" in outbound.last_error
    assert TicketEvent.objects.filter(ticket=ticket, verb="notification_failed").exists()
    assert smtp_sink.messages == []


@pytest.fixture
def broker_down(settings):
    """Celery publishing to a broker nobody listens on (a closed loopback port), as when Redis
    is down. Restores the real broker afterwards."""
    from support.celery import app as celery_app
    from tests.fakes.smtp_sink import free_port

    saved = (celery_app.conf.broker_url, celery_app.conf.task_publish_retry)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    celery_app.conf.task_publish_retry = False
    celery_app._after_fork()  # drop pooled connections to the real broker
    yield
    celery_app.conf.broker_url, celery_app.conf.task_publish_retry = saved
    celery_app._after_fork()
    celery_app.conf.task_always_eager = True


def test_a_broker_outage_leaves_the_reply_pending_for_the_sweeper(
    smtp_sink, broker_down, django_capture_on_commit_callbacks
):
    ticket = ticket_with_inbound_email()

    # The approval still commits; the dispatch fails quietly
    outbound, created = reply(ticket, capture=django_capture_on_commit_callbacks)

    outbound.refresh_from_db()
    assert created
    assert (outbound.status, outbound.attempts) == (OutboundMessage.Status.PENDING, 0)
    assert outbound.next_attempt_at <= timezone.now()  # due for the sweeper's next round
    assert smtp_sink.messages == []


def test_the_customers_answer_to_our_email_threads_onto_the_ticket(
    smtp_sink, agent_user, django_capture_on_commit_callbacks
):
    from support.intake.email_ingest import email_ingest

    ticket = ticket_with_inbound_email()
    reply(ticket, user=agent_user, capture=django_capture_on_commit_callbacks)
    ours = smtp_sink.messages[0]

    # The customer's client answers our e-mail: its headers point at our Message-ID only
    # (no subject token), so threading relies on what we sent.
    answer = (
        "From: Ada Lovelace <ada@customer.example>\r\n"
        "To: support@switchboard.localhost\r\n"
        "Subject: Re: Where is my card?\r\n"
        "Message-ID: <q3-thanks@customer.example>\r\n"
        f"In-Reply-To: {ours['Message-ID']}\r\n"
        f"References: {ours['Message-ID']}\r\n"
        "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Got it, thank you!\r\n"
    ).encode()
    result = email_ingest(raw=answer, route="file")

    assert result.ticket_id == ticket.pk
    assert ticket.messages.filter(message_id="<q3-thanks@customer.example>").exists()
