"""Reply delivery through an outbox: e-mail to the customer, a signed callback to the system that
sent the ticket, or a notification to a team.

The flow, and why each step is there:

1. ``outbound_reply_create`` runs inside the caller's transaction (the approval, the auto-send).
   It writes the conversation ``Message`` and an ``OutboundMessage`` row keyed by an
   ``idempotency_key`` that is UNIQUE in the database, so a double click, two tabs or a retried
   triage run produce one row. Delivery is enqueued with ``transaction.on_commit``: no worker
   can see a row that was rolled back. If the broker is down the row simply stays ``pending``.
2. ``outbound_deliver`` (the body of ``support.tasks.deliver_outbound_task``) claims the row with
   a conditional update ``pending -> sending``; a duplicated or retried task that loses the claim
   does nothing. It then sends once and records ``sent``, or puts the row back to ``pending``
   with ``next_attempt_at`` and raises ``DeliveryRetry`` (a short gap is retried by the task, a
   long one by the sweeper), or, once the schedule derived from ``DELIVERY_RETRY_HORIZON_SECONDS``
   is spent (``schedule.py``), records ``failed`` with ``last_error``, a ``TicketEvent``, a
   manager ``Alert`` (one per channel and day), and puts the ticket back in the review queue
   with reason ``delivery_failed`` so a human sees it.
3. ``outbound_deliver_due`` (``support.tasks.deliver_due_outbound_task``, every 30 s) re-sends
   rows whose dispatch got lost (broker down, worker gone) or whose retry is due, recovers rows
   stuck in ``sending`` after ``DELIVERY_SENDING_TIMEOUT_SECONDS`` (a worker that died
   mid-send), and once a channel delivers again brings its waiting retries forward and re-arms
   the replies it failed (``outbound_recover_channels``).

Exactly-once, honestly: the claim makes delivery at-most-once per attempt and the retries make
it at-least-once overall. The one window where a reply can go out twice is a worker that dies
after the SMTP server or the callback receiver accepted the message but before we recorded
``sent``; the sweeper then retries it. SMTP has no idempotency key, but our ``Message-ID`` is
the same on every attempt, so most mail clients show one message. Callbacks carry
``webhook-id`` = the idempotency key on every attempt, so receivers can dedupe (Standard
Webhooks asks them to).
"""

from support.delivery.callback import callback_headers, callback_payload
from support.delivery.email import email_build
from support.delivery.errors import DeliveryRetry
from support.delivery.headers import reply_subject, reply_threading, support_address
from support.delivery.outbox import (
    outbound_dispatch,
    outbound_reply_create,
    outbound_retry,
    outbox_create_or_get,
    team_notify,
)
from support.delivery.schedule import delivery_max_attempts, retry_delay_seconds, retry_schedule
from support.delivery.sweeper import outbound_deliver_due, outbound_recover_channels
from support.delivery.worker import outbound_deliver

__all__ = [
    "DeliveryRetry",
    "callback_headers",
    "callback_payload",
    "delivery_max_attempts",
    "email_build",
    "outbound_deliver",
    "outbound_deliver_due",
    "outbound_dispatch",
    "outbound_recover_channels",
    "outbound_reply_create",
    "outbound_retry",
    "outbox_create_or_get",
    "reply_subject",
    "reply_threading",
    "retry_delay_seconds",
    "retry_schedule",
    "support_address",
    "team_notify",
]
