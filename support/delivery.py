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
   with ``next_attempt_at`` and raises ``DeliveryRetry`` (the task retries with backoff and
   jitter), or, after ``DELIVERY_MAX_ATTEMPTS`` attempts, records ``failed`` with ``last_error``,
   a ``TicketEvent``, and puts the ticket back in the review queue with reason
   ``delivery_failed`` so a human sees it.
3. ``outbound_deliver_due`` (``support.tasks.deliver_due_outbound_task``, every 30 s) re-sends
   rows whose dispatch got lost (broker down, worker gone) or whose retry is overdue, and
   recovers rows stuck in ``sending`` after ``DELIVERY_SENDING_TIMEOUT_SECONDS`` (a worker that
   died mid-send).

Exactly-once, honestly: the claim makes delivery at-most-once per attempt and the retries make
it at-least-once overall. The one window where a reply can go out twice is a worker that dies
after the SMTP server or the callback receiver accepted the message but before we recorded
``sent``; the sweeper then retries it. SMTP has no idempotency key, but our ``Message-ID`` is
the same on every attempt, so most mail clients show one message. Callbacks carry
``webhook-id`` = the idempotency key on every attempt, so receivers can dedupe (Standard
Webhooks asks them to).
"""

from __future__ import annotations

import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid, parseaddr

import httpx2
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from support.models import Message, OutboundMessage, Team, Ticket
from support.services import ticket_event_record
from support.ssrf import CallbackTargetRefused, CallbackTargetUnresolvable, callback_target_resolve

logger = logging.getLogger(__name__)

REASON_DELIVERY_FAILED = "delivery_failed"
CALLBACK_EVENT_TYPE = "ticket.reply"
# Once dispatched, the sweeper leaves a pending row alone this long: its task is in the queue.
DISPATCH_GRACE = timedelta(minutes=5)
# A never-dispatched row is swept only after this, so the on_commit dispatch goes first.
SWEEP_MIN_AGE = timedelta(seconds=30)
_REFERENCES_KEEP = 20


class DeliveryRetry(Exception):
    """A temporary failure: the row is back to ``pending`` and the task should retry."""


class _PermanentFailure(Exception):
    """Retrying cannot help (a refused callback target, a rejected recipient)."""

    def __init__(self, message: str, *, status: str = OutboundMessage.Status.FAILED) -> None:
        super().__init__(message)
        self.status = status


# --- Creating outbox rows ----------------------------------------------------------------------


def support_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def message_id_domain() -> str:
    address = support_address()
    return address.rsplit("@", 1)[1] if "@" in address else "switchboard.localhost"


def reply_subject(*, ticket: Ticket) -> str:
    """``Re: <subject> [#SB-123]``: the token is what intake threads a customer's answer on."""
    subject = " ".join(ticket.subject.split()) or "(no subject)"
    token = f"[#{ticket.reference}]"
    if token not in subject:
        subject = f"{subject} {token}"
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return subject


@dataclass(frozen=True)
class Threading:
    in_reply_to: str
    references: str


def reply_threading(*, ticket: Ticket) -> Threading:
    """In-Reply-To = the latest inbound Message-ID; References = its References + that id."""
    latest = (
        ticket.messages.filter(direction=Message.Direction.INBOUND)
        .exclude(message_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None:
        return Threading(in_reply_to="", references="")
    chain = [ref for ref in latest.references.split() if ref]
    if latest.message_id not in chain:
        chain.append(latest.message_id)
    if len(chain) > _REFERENCES_KEEP:
        # RFC 5322 §3.6.4 allows trimming; keep the thread root and the most recent ones.
        chain = chain[:1] + chain[-(_REFERENCES_KEEP - 1) :]
    return Threading(in_reply_to=latest.message_id, references=" ".join(chain))


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
    existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, False

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
    try:
        # A savepoint, so losing the race on the unique key leaves the caller's transaction usable.
        with transaction.atomic():
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
            outbound = OutboundMessage.objects.create(
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
    except IntegrityError:
        # Two requests raced past the lookup; the database let exactly one insert win.
        return OutboundMessage.objects.get(idempotency_key=idempotency_key), False

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
    outbound_id = outbound.pk
    # robust: the reply is committed; a failed hand-off is the sweeper's job, not an error page.
    transaction.on_commit(lambda: outbound_dispatch(outbound_ids=[outbound_id]), robust=True)
    return outbound, True


def team_notify(
    *, team: Team, subject: str, body_text: str, idempotency_key: str, ticket: Ticket
) -> OutboundMessage:
    """Queue a notification e-mail to ``team.email`` (SLA escalations and the like) through the
    same outbox. Idempotent on ``idempotency_key``. A team without an address gets a ``failed``
    row and a ticket event, so the gap is visible rather than silent."""
    existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    has_address = bool(team.email)
    try:
        with transaction.atomic():
            outbound = OutboundMessage.objects.create(
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
    except IntegrityError:
        return OutboundMessage.objects.get(idempotency_key=idempotency_key)
    if not has_address:
        ticket_event_record(
            ticket=ticket,
            verb="notification_failed",
            after={"outbound_id": outbound.pk, "team": team.slug},
            note=outbound.last_error,
        )
        return outbound
    outbound_id = outbound.pk
    # robust: the reply is committed; a failed hand-off is the sweeper's job, not an error page.
    transaction.on_commit(lambda: outbound_dispatch(outbound_ids=[outbound_id]), robust=True)
    return outbound


def outbound_retry(*, outbound: OutboundMessage, actor: User | None) -> bool:
    """Re-arm a ``failed`` or ``bounced`` row for a fresh set of attempts (a "Retry delivery"
    button). Same row, same idempotency key and Message-ID. Returns False if it wasn't failed."""
    updated = OutboundMessage.objects.filter(
        pk=outbound.pk, status__in=[OutboundMessage.Status.FAILED, OutboundMessage.Status.BOUNCED]
    ).update(
        status=OutboundMessage.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if updated != 1:
        return False
    ticket_event_record(
        ticket=outbound.ticket,
        verb="delivery_retried",
        actor=actor,
        after={"outbound_id": outbound.pk},
    )
    outbound_id = outbound.pk
    # robust: the reply is committed; a failed hand-off is the sweeper's job, not an error page.
    transaction.on_commit(lambda: outbound_dispatch(outbound_ids=[outbound_id]), robust=True)
    return True


def outbound_dispatch(*, outbound_ids: list[int]) -> int:
    """Send delivery tasks. Safe to repeat (the task claims its row). If the broker is down the
    row stays ``pending`` without a dispatch mark and the sweeper sends it later."""
    from support.tasks import deliver_outbound_task

    sent = 0
    for outbound_id in outbound_ids:
        # Mark before sending: an eager (in-process) task may finish inside .delay() and set its
        # own next_attempt_at, which this must not overwrite.
        OutboundMessage.objects.filter(
            pk=outbound_id, status=OutboundMessage.Status.PENDING
        ).update(next_attempt_at=timezone.now() + DISPATCH_GRACE)
        try:
            deliver_outbound_task.delay(outbound_id)
        except Exception as exc:  # kombu raises several connection error types
            logger.warning("delivery dispatch deferred for outbound %s: %s", outbound_id, exc)
            OutboundMessage.objects.filter(
                pk=outbound_id, status=OutboundMessage.Status.PENDING
            ).update(next_attempt_at=timezone.now())
            continue
        sent += 1
    return sent


# --- Delivering --------------------------------------------------------------------------------


def retry_delay_seconds(*, attempts: int) -> int:
    """Upper bound of the task's backoff after ``attempts`` failed attempts (Celery picks a
    jittered countdown below it). Used for ``next_attempt_at``, the sweeper's safety net."""
    return int(
        get_exponential_backoff_interval(
            factor=settings.DELIVERY_RETRY_BACKOFF_SECONDS,
            retries=max(attempts - 1, 0),
            maximum=settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=False,
        )
    )


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
            _callback_post(outbound)
        else:
            _email_send(outbound)
    except _PermanentFailure as exc:
        _outbound_finish_failed(outbound, error=str(exc), status=exc.status)
        return exc.status
    except Exception as exc:  # any transport error is worth another attempt
        error = f"attempt {outbound.attempts}: {type(exc).__name__}: {exc}"[:2000]
        logger.warning("delivery of outbound %s failed: %s", outbound_id, error)
        if outbound.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            _outbound_finish_failed(outbound, error=error, status=OutboundMessage.Status.FAILED)
            return OutboundMessage.Status.FAILED
        OutboundMessage.objects.filter(
            pk=outbound_id, status=OutboundMessage.Status.SENDING
        ).update(
            status=OutboundMessage.Status.PENDING,
            last_error=error,
            next_attempt_at=timezone.now()
            + timedelta(seconds=retry_delay_seconds(attempts=outbound.attempts)),
            updated_at=timezone.now(),
        )
        ticket_event_record(
            ticket=outbound.ticket,
            verb="delivery_attempt_failed",
            after={"outbound_id": outbound.pk, "attempt": outbound.attempts},
            note=error,
        )
        raise DeliveryRetry(error) from exc
    _outbound_finish_sent(outbound)
    return OutboundMessage.Status.SENT


def _outbound_finish_sent(outbound: OutboundMessage) -> None:
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


def _outbound_finish_failed(outbound: OutboundMessage, *, error: str, status: str) -> None:
    """The final state a human must see: the row, an event, and the ticket back in the queue."""
    now = timezone.now()
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=outbound.pk).update(
            status=status, last_error=error[:2000], next_attempt_at=None, updated_at=now
        )
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


# --- E-mail ------------------------------------------------------------------------------------


def email_build(*, outbound: OutboundMessage) -> EmailMessage:
    """The e-mail for an outbox row. The same row gives the same Message-ID on every attempt."""
    headers = {"Message-ID": outbound.email_message_id or make_msgid(domain=message_id_domain())}
    if outbound.in_reply_to:
        headers["In-Reply-To"] = outbound.in_reply_to
    if outbound.references:
        headers["References"] = outbound.references
    if outbound.kind == OutboundMessage.Kind.NOTIFICATION:
        headers["Auto-Submitted"] = "auto-generated"  # RFC 3834: machine-made, not a reply
    elif outbound.auto_submitted:
        # RFC 3834: tells the customer's auto-responder not to answer us (no mail loops).
        headers["Auto-Submitted"] = "auto-replied"
    return EmailMessage(
        subject=outbound.subject,
        body=outbound.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[outbound.to_address],
        headers=headers,
    )


def _email_send(outbound: OutboundMessage) -> None:
    message = email_build(outbound=outbound)
    message.connection = get_connection(fail_silently=False)
    try:
        sent = message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise _PermanentFailure(
                f"recipient refused: {exc.recipients}", status=OutboundMessage.Status.BOUNCED
            ) from exc
        raise
    except Exception as exc:
        if type(exc).__name__ == "AnymailRecipientsRefused":
            raise _PermanentFailure(
                f"recipient refused by the ESP: {exc}", status=OutboundMessage.Status.BOUNCED
            ) from exc
        raise
    if sent != 1:
        raise RuntimeError(f"the e-mail backend reported {sent} messages sent")


# --- Callbacks ---------------------------------------------------------------------------------


def callback_payload(*, outbound: OutboundMessage) -> str:
    """The JSON body. Built only from stored fields, so it is byte-identical on every retry."""
    ticket = outbound.ticket
    payload = {
        "type": CALLBACK_EVENT_TYPE,
        "timestamp": outbound.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "idempotency_key": outbound.idempotency_key,
            "ticket": {
                "reference": ticket.reference,
                "id": ticket.pk,
                "source": ticket.source,
                "external_id": ticket.external_id,
            },
            "reply": {
                "id": outbound.pk,
                "subject": outbound.subject,
                "body_text": outbound.body_text,
                "auto_submitted": outbound.auto_submitted,
            },
        },
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def callback_headers(
    *, outbound: OutboundMessage, body: str, now: datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers. ``webhook-id`` is the idempotency key, the same on every
    retry, so a receiver that dedupes on it processes the reply once."""
    timestamp = now or datetime.now(tz=UTC)
    signature = Webhook(settings.CALLBACK_SIGNING_SECRET).sign(
        msg_id=outbound.idempotency_key, timestamp=timestamp, data=body
    )
    return {
        "content-type": "application/json",
        "user-agent": "Switchboard-Callback/1",
        "webhook-id": outbound.idempotency_key,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "idempotency-key": outbound.idempotency_key,
    }


def _callback_post(outbound: OutboundMessage) -> None:
    try:
        target = callback_target_resolve(
            url=outbound.to_address, allowed_hosts=settings.CALLBACK_ALLOWED_HOSTS
        )
    except CallbackTargetRefused as exc:
        raise _PermanentFailure(f"refused callback target: {exc}") from exc
    except CallbackTargetUnresolvable as exc:
        raise RuntimeError(str(exc)) from exc
    body = callback_payload(outbound=outbound)
    headers = callback_headers(outbound=outbound, body=body)
    # Connect to the address we validated, not to the name again (defeats DNS rebinding); the
    # Host header and TLS SNI/certificate check still use the original host name.
    url = httpx2.URL(outbound.to_address)
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != (443 if target.scheme == "https" else 80):
        host_header = f"{host_header}:{target.port}"
    headers["host"] = host_header
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx2.Timeout(settings.CALLBACK_TIMEOUT_SECONDS)
    with httpx2.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        response = client.post(
            url.copy_with(host=target.ip),
            content=body.encode(),
            headers=headers,
            extensions=extensions,
        )
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"callback answered HTTP {response.status_code}: {response.text[:200]}")


# --- The sweeper -------------------------------------------------------------------------------


def outbound_deliver_due(*, now: datetime | None = None) -> int:
    """Re-dispatch pending rows that are due, and recover rows stuck in ``sending``.

    Pending and due: never dispatched (broker was down) or the retry/dispatch is overdue.
    Stuck: a worker died mid-send (``sending`` for longer than DELIVERY_SENDING_TIMEOUT_SECONDS,
    which exceeds the Celery hard time limit, so the attempt is certainly over). Such a row may
    or may not have reached the customer; we retry (at-least-once) and say so in last_error.
    Returns how many rows were dispatched.
    """
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    for outbound in OutboundMessage.objects.filter(
        status=OutboundMessage.Status.SENDING, updated_at__lt=stuck_before
    ).select_related("ticket")[:200]:
        error = (
            f"attempt {outbound.attempts} interrupted (worker lost mid-send); "
            "the message may have been delivered"
        )
        if outbound.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            # Conditional, so two sweepers don't both finish it.
            if (
                OutboundMessage.objects.filter(
                    pk=outbound.pk,
                    status=OutboundMessage.Status.SENDING,
                    updated_at=outbound.updated_at,
                ).update(updated_at=now)
                == 1
            ):
                _outbound_finish_failed(outbound, error=error, status=OutboundMessage.Status.FAILED)
            continue
        OutboundMessage.objects.filter(
            pk=outbound.pk, status=OutboundMessage.Status.SENDING, updated_at=outbound.updated_at
        ).update(
            status=OutboundMessage.Status.PENDING,
            last_error=error,
            next_attempt_at=now,
            updated_at=now,
        )

    due = OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, created_at__lt=now - SWEEP_MIN_AGE)
    )
    ids = list(due.order_by("created_at").values_list("pk", flat=True)[:500])
    return outbound_dispatch(outbound_ids=ids)
