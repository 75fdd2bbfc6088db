"""Delivery with real parts end to end: a real Celery worker on Redis delivers a committed reply,
and two concurrent PostgreSQL transactions racing on one idempotency key produce one row."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from support.delivery import outbound_deliver, outbound_deliver_due, outbound_reply_create
from support.models import Message, OutboundMessage, Ticket
from tests.conftest import wait_for
from tests.support.delivery_helpers import (
    INBOUND_MESSAGE_ID,
    HoldingSmtpSink,
    ticket_with_inbound_email,
)


@pytest.mark.worker
def test_a_real_worker_delivers_one_reply(celery_worker, smtp_sink):
    ticket = ticket_with_inbound_email()

    # The approval commits; on_commit hands the id to Redis; the worker sends it.
    with transaction.atomic():
        outbound, created = outbound_reply_create(
            ticket=ticket,
            body_text="On its way.",
            created_by=None,
            auto_submitted=False,
            idempotency_key=f"review:{ticket.pk}:w",
        )

    assert created
    wait_for(
        lambda: OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.SENT
    )
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0]["In-Reply-To"] == INBOUND_MESSAGE_ID
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.REPLIED


@pytest.mark.postgres
def test_two_racing_approvals_create_one_outbound(transactional_db):
    # Given approval A has inserted its row but not committed yet
    ticket = ticket_with_inbound_email()
    a_inserted = threading.Event()
    a_may_commit = threading.Event()
    results: dict[str, tuple[int, bool]] = {}
    errors: list[BaseException] = []

    def approve(
        name: str, before_commit: threading.Event | None, after_insert: threading.Event | None
    ) -> None:
        try:
            with transaction.atomic():
                outbound, created = outbound_reply_create(
                    ticket=ticket,
                    body_text=f"reply {name}",
                    created_by=None,
                    auto_submitted=False,
                    idempotency_key="review:race:1",
                )
                # The caller's transaction must still be usable after losing the race.
                Message.objects.filter(ticket=ticket).count()
                results[name] = (outbound.pk, created)
                if after_insert:
                    after_insert.set()
                if before_commit:
                    before_commit.wait(timeout=20)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread_a = threading.Thread(target=approve, args=("a", a_may_commit, a_inserted))
    thread_a.start()
    assert a_inserted.wait(timeout=20)
    # When approval B passes the lookup (A's row is invisible to it) and blocks on the unique index
    thread_b = threading.Thread(target=approve, args=("b", None, None))
    thread_b.start()

    def b_waits_on_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            return bool(cursor.fetchone()[0])

    wait_for(b_waits_on_a_lock)
    a_may_commit.set()
    thread_a.join(timeout=20)
    thread_b.join(timeout=20)

    # Then B gets A's row back, and there is one outbound and one conversation message
    assert not errors, errors
    assert results["a"][1] is True
    assert results["b"] == (results["a"][0], False)
    assert OutboundMessage.objects.count() == 1
    assert ticket.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1


@pytest.mark.postgres
@pytest.mark.worker
def test_a_worker_killed_mid_send_is_recovered_at_least_once(celery_worker_process, settings):
    # Given a worker process sending a reply to an SMTP server that has the message but has not
    # answered "250 OK" yet
    sink = HoldingSmtpSink().start()
    mail_env = {"EMAIL_HOST": sink.host, "EMAIL_PORT": str(sink.port), "EMAIL_BACKEND": ""}
    try:
        first_worker = celery_worker_process(mail_env, concurrency=1)
        ticket = ticket_with_inbound_email()
        with transaction.atomic():
            outbound, _ = outbound_reply_create(
                ticket=ticket,
                body_text="On its way.",
                created_by=None,
                auto_submitted=False,
                idempotency_key=f"review:{ticket.pk}:kill",
            )
        wait_for(lambda: len(sink.messages) == 1, timeout=60)
        assert OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.SENDING

        # When the worker dies there, the row stays "sending": nobody else may take it
        os.killpg(first_worker.pid, signal.SIGKILL)
        first_worker.wait(timeout=10)
        sink.release()
        assert outbound_deliver(outbound_id=outbound.pk) == "skipped"
        assert outbound_deliver_due() == 0

        # Then after the sending timeout the sweeper hands it to a live worker, which sends it again
        celery_worker_process(mail_env, concurrency=1)
        later = timezone.now() + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1)
        assert outbound_deliver_due(now=later) == 1
        wait_for(
            lambda: (
                OutboundMessage.objects.get(pk=outbound.pk).status == OutboundMessage.Status.SENT
            ),
            timeout=60,
        )
    finally:
        sink.release()
        sink.stop()

    # At least once: the customer may get the reply twice, but as the same message (same
    # Message-ID), which mail clients collapse. Documented in docs/delivery.md.
    outbound.refresh_from_db()
    assert outbound.attempts == 2
    assert [mail["Message-ID"] for mail in sink.messages] == [outbound.email_message_id] * 2
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.REPLIED
