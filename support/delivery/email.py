"""E-mail delivery: build the message with our threading headers and send it through Django's backend."""

from __future__ import annotations

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from support.csat import rating_footer
from support.delivery.errors import PermanentFailure
from support.delivery.headers import message_id_domain
from support.models import OutboundMessage


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
        body=outbound.body_text + rating_footer(outbound=outbound),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[outbound.to_address],
        headers=headers,
    )


def email_send(outbound: OutboundMessage) -> None:
    message = email_build(outbound=outbound)
    message.connection = get_connection(fail_silently=False)
    try:
        sent = message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise PermanentFailure(
                f"recipient refused: {exc.recipients}", status=OutboundMessage.Status.BOUNCED
            ) from exc
        raise
    except Exception as exc:
        if type(exc).__name__ == "AnymailRecipientsRefused":
            raise PermanentFailure(
                f"recipient refused by the ESP: {exc}", status=OutboundMessage.Status.BOUNCED
            ) from exc
        raise
    if sent != 1:
        raise RuntimeError(f"the e-mail backend reported {sent} messages sent")
