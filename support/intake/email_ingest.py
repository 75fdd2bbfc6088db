"""The e-mail intake service: every route (anymail webhook, file, IMAP) calls ``email_ingest``.

Order of decisions for one message, each recorded on an ``InboundEmail`` row with the raw bytes:

1. parse (``email_parse``); anything unparseable is quarantined, reprocessable later;
2. a Message-ID we already stored is a duplicate (IMAP re-fetch, mbox re-import): ignored;
3. robots (auto-replies, bulk, bounces, our own address) are recorded, never answered: a bounce
   marks our OutboundMessage bounced; an auto-reply that threads is kept on its ticket as an
   automated message without reopening it;
4. per-sender flood quota (``EMAIL_SENDER_QUOTA_PER_HOUR``): over it, quarantined;
5. sender authentication (``sender_auth.py``): a message whose From address is not vouched for
   (``SenderVerdict.unverified``) is never threaded as that customer: it opens a ticket of its own
   with review reason ``sender_unverified``, which the policy never auto-answers;
6. threading by In-Reply-To/References and the ``[#SB-123]`` subject token, only onto a ticket
   of the same customer; a reply is appended and reopens the ticket into ``awaiting_review``;
7. otherwise a new ticket (source ``email``, external_id the Message-ID) through ``ticket_create``.

Everything for one message commits in one transaction before the caller acknowledges it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from support.intake.attachments import attachment_refusal
from support.intake.email_parse import EmailParseError, ParsedEmail, clean_text, email_parse
from support.intake.sender_auth import SenderVerdict, sender_verdict
from support.models import Attachment, InboundEmail, Message, OutboundMessage, Ticket
from support.models.intake import EMAIL_SOURCE
from support.reasons import REASON_CUSTOMER_REPLIED, REASON_SENDER_UNVERIFIED
from support.services import ticket_create, ticket_event_record

logger = logging.getLogger(__name__)

SUBJECT_TOKEN = re.compile(r"\[#SB-(\d{1,18})\]", re.I)
# Statuses a customer reply brings back to a human (see docs/intake.md: "Threading").
REOPEN_FROM = {Ticket.Status.REPLIED, Ticket.Status.AUTO_REPLIED, Ticket.Status.CLOSED}


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # created | threaded | ignored | quarantined
    ticket_id: int | None = None
    reason: str = ""
    inbound_id: int | None = None

    def describe(self) -> str:
        """The text after the source in ``ingest_email``'s per-message line."""
        if self.outcome in {"created", "threaded"}:
            return f"{self.outcome} ticket={self.ticket_id}" + (f" ({self.reason})" if self.reason else "")
        return f"{self.outcome}: {self.reason}"


def own_addresses() -> set[str]:
    import email.utils

    return {email.utils.parseaddr(address)[1].lower() for address in settings.SUPPORT_ADDRESSES} - {""}


def email_ingest(*, raw: bytes, route: str, source_ref: str = "", inbound: InboundEmail | None = None,
                 esp_spam_detected: bool | None = None) -> IngestResult:
    """Ingest one raw message. Never raises for a bad message (it is quarantined instead).

    ``inbound`` is an existing row to reprocess (``reprocess_quarantine``); otherwise a row is
    created. ``esp_spam_detected`` is the ESP's spam verdict (anymail), part of the sender verdict.
    Database errors do propagate: the caller must not acknowledge the message then.
    """
    if inbound is not None and esp_spam_detected is None:
        esp_spam_detected = inbound.esp_spam_detected
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        parsed = email_parse(raw, own_addresses=own_addresses())
    except EmailParseError as exc:
        return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                            status=InboundEmail.Status.QUARANTINED, reason=str(exc), message_id="")
    except Exception as exc:  # the parser met something we never imagined: keep it, don't stop the batch
        logger.exception("e-mail parse crashed (%s)", source_ref)
        return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                            status=InboundEmail.Status.QUARANTINED,
                            reason=f"parse error: {type(exc).__name__}: {exc}"[:500], message_id="")
    # Mail without a Message-ID still needs a stable key, or a re-import would duplicate it.
    message_id = parsed.message_id or f"<sha256-{sha256[:40]}@switchboard.invalid>"
    parsed.message_id = message_id[:255]
    verdict = sender_verdict(authentication_results=parsed.authentication_results, from_email=parsed.from_email,
                             spam_detected=esp_spam_detected)
    inbound = _verdict_attach(inbound=inbound, raw=raw, sha256=sha256, route=route, source_ref=source_ref,
                              verdict=verdict, esp_spam_detected=esp_spam_detected)
    try:
        return _ingest_parsed(parsed=parsed, raw=raw, sha256=sha256, route=route, source_ref=source_ref,
                              inbound=inbound, verdict=verdict)
    except (OperationalError, InterfaceError):
        raise  # the database is unwell: the caller must not acknowledge the message
    except Exception as exc:  # a bug of ours on an odd message: keep it reprocessable, go on
        logger.exception("e-mail ingest crashed (%s)", source_ref)
        return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                            status=InboundEmail.Status.QUARANTINED, message_id=parsed.message_id,
                            reason=f"ingest error: {type(exc).__name__}: {exc}"[:500])


def _ingest_parsed(*, parsed: ParsedEmail, raw: bytes, sha256: str, route: str, source_ref: str,
                   inbound: InboundEmail, verdict: SenderVerdict) -> IngestResult:
    with transaction.atomic():
        duplicate = (
            Message.objects.filter(message_id=parsed.message_id, direction=Message.Direction.INBOUND)
            .values_list("ticket_id", flat=True)
            .first()
        )
        if duplicate is not None:
            return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                                status=InboundEmail.Status.IGNORED, ticket_id=duplicate,
                                reason=f"duplicate of a message already on ticket {duplicate}",
                                message_id=parsed.message_id)

        if parsed.automated_reasons:
            return _ingest_automated(parsed=parsed, raw=raw, sha256=sha256, route=route,
                                     source_ref=source_ref, inbound=inbound)

        if _sender_over_quota(sender=parsed.from_email):
            return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                                status=InboundEmail.Status.QUARANTINED, message_id=parsed.message_id,
                                reason=f"sender flood quota exceeded ({settings.EMAIL_SENDER_QUOTA_PER_HOUR}/hour)")

        ticket, rejected_note = thread_find(parsed=parsed)
        message: Message | None
        if verdict.unverified:
            ticket, created = _unverified_ticket_open(parsed=parsed, verdict=verdict, claimed=ticket)
            message = ticket.messages.order_by("id").first()
            outcome = "created" if created else "ignored"
        elif ticket is not None:
            message = _reply_append(ticket=ticket, parsed=parsed)
            outcome = "threaded"
        else:
            metadata = {"thread_rejected": rejected_note} if rejected_note else {}
            ticket, created = ticket_create(
                subject=parsed.subject,
                body_text=parsed.body_text,
                customer_email=parsed.from_email,
                customer_name=parsed.from_name,
                channel=Ticket.Channel.EMAIL,
                source=EMAIL_SOURCE,
                external_id=parsed.message_id,
                metadata=metadata,
                body_html=parsed.body_html,
                body_for_model=parsed.body_for_model,
                headers=parsed.headers,
                message_id=parsed.message_id,
                in_reply_to=parsed.in_reply_to,
                references=" ".join(parsed.references),
            )
            message = ticket.messages.order_by("id").first()
            outcome = "created" if created else "ignored"
            if rejected_note:
                ticket_event_record(ticket=ticket, verb="thread_rejected", actor_label="intake", note=rejected_note)
        if message is not None and outcome != "ignored":
            _attachments_store(message=message, parsed=parsed)
        row = _inbound_save(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                            status=InboundEmail.Status.PROCESSED if outcome != "ignored" else InboundEmail.Status.IGNORED,
                            reason="" if outcome != "ignored" else "duplicate", ticket_id=ticket.pk,
                            message_id=parsed.message_id)
    if outcome == "ignored":
        return IngestResult("ignored", ticket.pk, f"duplicate of ticket {ticket.pk}", row.pk)
    return IngestResult(outcome, ticket.pk, REASON_SENDER_UNVERIFIED if verdict.unverified else "", row.pk)


# --- steps ------------------------------------------------------------------------------------


def thread_find(*, parsed: ParsedEmail) -> tuple[Ticket | None, str]:
    """The ticket this message answers, if it belongs to the same customer.

    Returns ``(ticket, "")`` or ``(None, note)`` where the note explains a refused match (forged
    or foreign References, someone else's ticket number in the subject).
    """
    candidates: list[Ticket] = []
    ids = parsed.thread_ids
    if ids:
        ticket_ids = list(Message.objects.filter(message_id__in=ids).values_list("ticket_id", flat=True))
        ticket_ids += list(
            OutboundMessage.objects.filter(email_message_id__in=ids).values_list("ticket_id", flat=True)
        )
        candidates += list(Ticket.objects.filter(pk__in=ticket_ids).select_related("customer").order_by("-pk"))
    token = SUBJECT_TOKEN.search(parsed.subject)
    if token:
        candidates += list(Ticket.objects.filter(pk=int(token.group(1))).select_related("customer"))
    refused: list[str] = []
    for ticket in candidates:
        if ticket.customer.email == parsed.from_email:
            return ticket, ""
        refused.append(ticket.reference)
    if refused:
        note = (f"threading refused: {', '.join(sorted(set(refused)))} belongs to another customer; "
                "a new ticket was opened")
        return None, note
    return None, ""


def _unverified_ticket_open(*, parsed: ParsedEmail, verdict: SenderVerdict,
                            claimed: Ticket | None) -> tuple[Ticket, bool]:
    """A ticket of its own for a message whose sender is not vouched for: never appended to the
    claimed customer's thread, labelled ``sender_unverified`` for the reviewer, and marked in its
    metadata so the policy refuses an automatic reply whatever the triage says."""
    note = (f"sender authentication {verdict.result} ({verdict.detail}): not taken as {parsed.from_email}"
            + (f"; it claims to answer {claimed.reference}, not threaded there" if claimed is not None else ""))
    metadata: dict[str, object] = {REASON_SENDER_UNVERIFIED: note[:1000]}
    if claimed is not None:
        metadata["claimed_ticket"] = claimed.pk
    ticket, created = ticket_create(
        subject=parsed.subject, body_text=parsed.body_text, customer_email=parsed.from_email,
        customer_name=parsed.from_name, channel=Ticket.Channel.EMAIL, source=EMAIL_SOURCE,
        external_id=parsed.message_id, metadata=metadata, body_html=parsed.body_html,
        body_for_model=parsed.body_for_model, headers=parsed.headers, message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to, references=" ".join(parsed.references),
    )
    if created:
        Ticket.objects.filter(pk=ticket.pk).update(review_reasons=[REASON_SENDER_UNVERIFIED])
        ticket_event_record(ticket=ticket, verb=REASON_SENDER_UNVERIFIED, actor_label="intake", note=note)
    return ticket, created


def _reply_append(*, ticket: Ticket, parsed: ParsedEmail) -> Message:
    # Lock the ticket so a reply and a review action can't interleave their status changes.
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    message = Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.INBOUND,
        author_email=parsed.from_email,
        author_name=parsed.from_name,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        body_for_model=parsed.body_for_model,
        headers=parsed.headers,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references),
    )
    before = ticket.status
    if before in REOPEN_FROM:
        # Back to a human, not to the AI: the ticket already has its final TriageDecision, and a
        # follow-up after our answer is exactly where a person should look.
        reasons = list(dict.fromkeys([*ticket.review_reasons, REASON_CUSTOMER_REPLIED]))
        Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.AWAITING_REVIEW, resolved_at=None,
                                                   review_reasons=reasons, updated_at=timezone.now())
        ticket_event_record(ticket=ticket, verb="reopened", actor_label="intake",
                            before={"status": before}, after={"status": Ticket.Status.AWAITING_REVIEW},
                            note=f"customer replied ({parsed.message_id})")
    else:
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
        ticket_event_record(ticket=ticket, verb="customer_replied", actor_label="intake",
                            note=f"reply appended while {before} ({parsed.message_id})")
    return message


def _ingest_automated(*, parsed: ParsedEmail, raw: bytes, sha256: str, route: str, source_ref: str,
                      inbound: InboundEmail | None) -> IngestResult:
    reason = "; ".join(parsed.automated_reasons)
    ticket_id: int | None = None
    if parsed.is_bounce:
        bounced = list(
            OutboundMessage.objects.filter(email_message_id__in=parsed.bounced_message_ids + parsed.thread_ids)
        )
        for outbound in bounced:
            OutboundMessage.objects.filter(pk=outbound.pk).update(status=OutboundMessage.Status.BOUNCED,
                                                                  last_error=f"bounced: {parsed.subject}"[:500])
            ticket_event_record(ticket=outbound.ticket, verb="bounced", actor_label="intake",
                                note=f"outbound {outbound.pk} to {outbound.to_address} bounced")
            ticket_id = outbound.ticket_id
        if bounced:
            reason += f"; marked outbound {', '.join(str(o.pk) for o in bounced)} bounced"
    else:
        ticket, _ = thread_find(parsed=parsed)
        if ticket is not None:
            # Keep the robot's words on the ticket for the agent, but never reopen or answer.
            Message.objects.create(
                ticket=ticket, direction=Message.Direction.INBOUND, author_email=parsed.from_email,
                author_name=parsed.from_name, body_text=parsed.body_text, body_html=parsed.body_html,
                body_for_model=parsed.body_for_model, headers=parsed.headers, message_id=parsed.message_id,
                in_reply_to=parsed.in_reply_to, references=" ".join(parsed.references), is_automated=True,
            )
            ticket_event_record(ticket=ticket, verb="automated_message", actor_label="intake", note=reason)
            ticket_id = ticket.pk
            reason += f"; recorded on ticket {ticket.pk}"
    return _record_only(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                        status=InboundEmail.Status.IGNORED, reason=reason, ticket_id=ticket_id,
                        message_id=parsed.message_id)


def _sender_over_quota(*, sender: str) -> bool:
    # Counted in the database, not a cache: it must hold when Redis is down and across workers.
    since = timezone.now() - timedelta(hours=1)
    recent = Message.objects.filter(direction=Message.Direction.INBOUND, author_email=sender,
                                    created_at__gte=since).count()
    return recent >= settings.EMAIL_SENDER_QUOTA_PER_HOUR


def _attachments_store(*, message: Message, parsed: ParsedEmail) -> None:
    dropped: list[str] = []
    allowed_types = set(settings.EMAIL_ATTACHMENT_TYPES)
    for index, attachment in enumerate(parsed.attachments):
        reason = ""
        filename = clean_text(attachment.filename)[:255] or "attachment"
        if index >= settings.EMAIL_MAX_ATTACHMENTS:
            reason = f"over the limit of {settings.EMAIL_MAX_ATTACHMENTS} attachments"
        elif attachment.size > settings.EMAIL_MAX_ATTACHMENT_BYTES:
            reason = f"too large: {attachment.size} bytes > {settings.EMAIL_MAX_ATTACHMENT_BYTES}"
        else:
            # The declared type is the sender's claim; the bytes must agree (issue 13, point 6).
            reason = attachment_refusal(filename=filename, declared_type=attachment.content_type,
                                        payload=attachment.payload, allowed_types=allowed_types)
        row = Attachment(message=message, filename=filename, content_type=attachment.content_type,
                         size=min(attachment.size, 2**31 - 1), dropped_reason=reason[:200])
        if not reason:
            row.file.save(get_valid_filename(filename) or "attachment", ContentFile(attachment.payload), save=False)
        else:
            dropped.append(f"{filename} ({reason})")
        row.save()
    if dropped:
        ticket_event_record(ticket=message.ticket, verb="attachments_dropped", actor_label="intake",
                            note="Dropped attachments: " + "; ".join(dropped))


def _verdict_attach(*, inbound: InboundEmail | None, raw: bytes, sha256: str, route: str, source_ref: str,
                    verdict: SenderVerdict, esp_spam_detected: bool | None) -> InboundEmail:
    """The row this message is recorded on, carrying the sender verdict (saved with the outcome)."""
    row = inbound or InboundEmail(raw=raw, sha256=sha256, route=route[:40], source_ref=clean_text(source_ref)[:500])
    row.sender_auth = verdict.result
    row.sender_auth_detail = clean_text(verdict.detail)
    row.esp_spam_detected = esp_spam_detected
    return row


def _inbound_save(*, raw: bytes, sha256: str, route: str, source_ref: str, inbound: InboundEmail | None,
                  status: str, reason: str, message_id: str, ticket_id: int | None = None) -> InboundEmail:
    row = inbound or InboundEmail(raw=raw, sha256=sha256, route=route[:40], source_ref=clean_text(source_ref)[:500])
    if row.pk is not None:
        row.reprocessed_at = timezone.now()
    row.status = status
    row.reason = clean_text(reason)
    row.ticket_id = ticket_id
    row.message_id = clean_text(message_id)[:998]
    row.save()
    return row


def _record_only(*, raw: bytes, sha256: str, route: str, source_ref: str, inbound: InboundEmail | None,
                 status: str, reason: str, message_id: str, ticket_id: int | None = None) -> IngestResult:
    row = _inbound_save(raw=raw, sha256=sha256, route=route, source_ref=source_ref, inbound=inbound,
                        status=status, reason=reason, message_id=message_id, ticket_id=ticket_id)
    outcome = "quarantined" if status == InboundEmail.Status.QUARANTINED else "ignored"
    return IngestResult(outcome, ticket_id, reason, row.pk)


def quarantine_reprocess(*, inbound_ids: list[int] | None = None) -> list[tuple[InboundEmail, IngestResult]]:
    """Run quarantined messages through the pipeline again (after a fix, or once a quota passed)."""
    rows = InboundEmail.objects.filter(status=InboundEmail.Status.QUARANTINED).order_by("pk")
    if inbound_ids:
        rows = rows.filter(pk__in=inbound_ids)
    results = []
    for row in rows:
        results.append((row, email_ingest(raw=bytes(row.raw), route=row.route, source_ref=row.source_ref,
                                          inbound=row, esp_spam_detected=row.esp_spam_detected)))
    return results
