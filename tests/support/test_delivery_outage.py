"""Deliveries that outlast an outage: retries spread over DELIVERY_RETRY_HORIZON_SECONDS, failed
replies re-armed once their channel delivers again, and a manager alert per cause and day.

A real SMTP server (aiosmtpd) is stopped for the outage (connection refused) and started again;
time moves with time_machine and the sweeper (``outbound_deliver_due``, a beat job every 30 s in
production) drives the retries. Celery runs eagerly, as in test_delivery.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from support.delivery import (
    delivery_max_attempts,
    outbound_deliver_due,
    outbound_reply_create,
    retry_schedule,
)
from support.models import Alert, OutboundMessage, Ticket
from support.tasks import deliver_outbound_task
from tests.support.delivery_helpers import ticket_with_inbound_email

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SWEEP = timedelta(seconds=30)
assert deliver_outbound_task.name == "support.tasks.deliver_outbound_task"  # registered for the sweeper


def approve(ticket: Ticket, *, key: str, capture) -> OutboundMessage:
    with capture(execute=True):
        with transaction.atomic():
            outbound, _ = outbound_reply_create(
                ticket=ticket,
                body_text=f"Answer for {ticket.reference}",
                created_by=None,
                auto_submitted=False,
                idempotency_key=key,
            )
    return outbound


def customer_ticket(number: int) -> Ticket:
    return ticket_with_inbound_email(subject=f"Question {number}", email=f"c{number}@customer.example")


def sweep_until(traveller, *, until: datetime) -> None:
    while timezone.now() < until:
        traveller.shift(SWEEP)
        outbound_deliver_due()


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in OutboundMessage.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_the_default_schedule_covers_hours_not_minutes(settings):
    gaps = retry_schedule(
        first=settings.DELIVERY_RETRY_BACKOFF_SECONDS,
        cap=settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS,
        horizon=settings.DELIVERY_RETRY_HORIZON_SECONDS,
    )

    assert gaps[:5] == [60, 120, 240, 480, 960]
    assert max(gaps) == 1800
    assert settings.DELIVERY_RETRY_HORIZON_SECONDS <= sum(gaps) < settings.DELIVERY_RETRY_HORIZON_SECONDS + 1800
    assert delivery_max_attempts() == len(gaps) + 1 == 17


def test_an_explicit_max_attempts_still_caps_the_attempts(settings):
    settings.DELIVERY_MAX_ATTEMPTS = 5

    assert delivery_max_attempts() == 5


def test_a_ten_minute_smtp_outage_loses_no_reply_and_sends_each_once(
    smtp_sink, django_capture_on_commit_callbacks
):
    # Given SMTP down and twelve replies approved at the start of the outage
    smtp_sink.stop()
    with time_machine.travel(T0, tick=False) as traveller:
        rows = [
            approve(customer_ticket(n), key=f"review:outage:{n}", capture=django_capture_on_commit_callbacks)
            for n in range(12)
        ]
        # When the outage lasts ten minutes, the sweeper running every 30 s
        sweep_until(traveller, until=T0 + timedelta(minutes=10))
        # Then nothing has been given up on
        assert statuses() == {OutboundMessage.Status.PENDING: 12}
        assert Alert.objects.filter(kind=Alert.Kind.DELIVERY_FAILED).count() == 0

        # And once SMTP is back, every reply goes out, exactly once, within one capped gap
        smtp_sink.start()
        sweep_until(traveller, until=T0 + timedelta(minutes=10) + timedelta(seconds=1800 * 1.1) + SWEEP)

    assert statuses() == {OutboundMessage.Status.SENT: 12}
    sent_ids = sorted(mail["Message-ID"] for mail in smtp_sink.messages)
    assert sent_ids == sorted(row.email_message_id for row in rows)
    for ticket in Ticket.objects.all():
        assert ticket.status == Ticket.Status.REPLIED
        assert "delivery_failed" not in ticket.review_reasons


def test_the_old_budget_would_have_failed_them(smtp_sink, settings, django_capture_on_commit_callbacks):
    # The same outage with the old budget of 5 attempts (DELIVERY_MAX_ATTEMPTS=5, 900 s cap)
    # fails the reply before SMTP is back: what this change is about.
    settings.DELIVERY_MAX_ATTEMPTS = 5
    settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS = 900
    settings.DELIVERY_AUTO_RETRY_LIMIT = 0
    smtp_sink.stop()
    with time_machine.travel(T0, tick=False) as traveller:
        approve(customer_ticket(1), key="review:old:1", capture=django_capture_on_commit_callbacks)
        sweep_until(traveller, until=T0 + timedelta(minutes=10))

    assert statuses() == {OutboundMessage.Status.FAILED: 1}


def test_waiting_retries_are_brought_forward_once_the_channel_delivers(
    smtp_sink, django_capture_on_commit_callbacks
):
    # Given a reply waiting out a long gap after SMTP failures
    smtp_sink.stop()
    with time_machine.travel(T0, tick=False) as traveller:
        waiting = approve(customer_ticket(1), key="review:wait:1", capture=django_capture_on_commit_callbacks)
        sweep_until(traveller, until=T0 + timedelta(minutes=10))
        waiting.refresh_from_db()
        assert waiting.status == OutboundMessage.Status.PENDING
        assert waiting.next_attempt_at > timezone.now() + timedelta(minutes=5)

        # When SMTP is back and a new reply goes out
        smtp_sink.start()
        fresh = approve(customer_ticket(2), key="review:wait:2", capture=django_capture_on_commit_callbacks)
        assert OutboundMessage.objects.get(pk=fresh.pk).status == OutboundMessage.Status.SENT
        # Then the next sweep sends the waiting one too, not half an hour later
        traveller.shift(SWEEP)
        outbound_deliver_due()

    waiting.refresh_from_db()
    assert waiting.status == OutboundMessage.Status.SENT
    assert len(smtp_sink.messages) == 2


def fail_then_recover(
    smtp_sink, capture, *, failed_ticket: Ticket, later_ticket: Ticket, sweeps: int = 1, meanwhile=None
) -> OutboundMessage:
    """A reply to ``failed_ticket`` fails for good while SMTP is down (call with
    DELIVERY_MAX_ATTEMPTS=1); twenty minutes later SMTP is back and a reply to ``later_ticket`` is
    delivered; then the sweeper runs ``sweeps`` times. Returns the first reply's row, refreshed."""
    smtp_sink.stop()
    with time_machine.travel(T0, tick=False) as traveller:
        failed = approve(failed_ticket, key="review:failed", capture=capture)
        assert OutboundMessage.objects.get(pk=failed.pk).status == OutboundMessage.Status.FAILED
        if meanwhile is not None:
            meanwhile(failed)
        traveller.shift(timedelta(minutes=20))
        smtp_sink.start()
        approve(later_ticket, key="review:later", capture=capture)
        for _ in range(sweeps):
            traveller.shift(SWEEP)
            outbound_deliver_due()
    failed.refresh_from_db()
    return failed


def test_a_failed_reply_is_rearmed_once_the_channel_delivers_again(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1

    # The sweeper re-arms and sends the failed one, once, however often it runs
    failed = fail_then_recover(
        smtp_sink, django_capture_on_commit_callbacks,
        failed_ticket=customer_ticket(1), later_ticket=customer_ticket(2), sweeps=3,
    )

    assert (failed.status, failed.auto_retries) == (OutboundMessage.Status.SENT, 1)
    assert sorted(mail["To"] for mail in smtp_sink.messages) == ["c1@customer.example", "c2@customer.example"]
    ticket = failed.ticket
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REPLIED
    retried = ticket.events.get(verb="delivery_retried")
    assert retried.after == {"outbound_id": failed.pk, "automatic": True}


def test_a_failed_reply_answered_another_way_is_not_resent(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    # An agent sent the customer another answer after the failure: that one is the later reply
    settings.DELIVERY_MAX_ATTEMPTS = 1
    ticket = customer_ticket(1)

    failed = fail_then_recover(
        smtp_sink, django_capture_on_commit_callbacks, failed_ticket=ticket, later_ticket=ticket
    )

    assert failed.status == OutboundMessage.Status.FAILED
    assert len(smtp_sink.messages) == 1


def test_automatic_rearming_is_bounded(smtp_sink, settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    settings.DELIVERY_AUTO_RETRY_LIMIT = 2

    failed = fail_then_recover(
        smtp_sink, django_capture_on_commit_callbacks,
        failed_ticket=customer_ticket(1), later_ticket=customer_ticket(2),
        # re-armed twice already
        meanwhile=lambda row: OutboundMessage.objects.filter(pk=row.pk).update(auto_retries=2),
    )

    assert failed.status == OutboundMessage.Status.FAILED
    assert len(smtp_sink.messages) == 1


def test_failed_deliveries_raise_one_alert_per_cause_and_day(
    smtp_sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    settings.DELIVERY_AUTO_RETRY_LIMIT = 0
    smtp_sink.stop()
    with time_machine.travel(T0, tick=False) as traveller:
        for n in range(3):
            approve(customer_ticket(n), key=f"review:alert:{n}", capture=django_capture_on_commit_callbacks)
        traveller.shift(timedelta(days=1))
        approve(customer_ticket(9), key="review:alert:9", capture=django_capture_on_commit_callbacks)

    alerts = Alert.objects.filter(kind=Alert.Kind.DELIVERY_FAILED).order_by("created_at")
    assert [alert.dedupe_key for alert in alerts] == [
        "delivery_failed:email:2026-11-30",
        "delivery_failed:email:2026-12-01",
    ]
    assert "ConnectionRefusedError" in alerts[0].message
    assert alerts[0].acknowledged_by is None  # open: counted on /metrics and the dashboard

