"""Provider inbound webhooks (Mailgun, SendGrid, Postmark, SES, ...) through django-anymail.

Anymail verifies the request (basic-auth ``WEBHOOK_SECRET`` and each ESP's own signature, as its
documentation describes) and sends its ``inbound`` signal; we turn the message back into bytes
and run the same pipeline as every other route. The handler runs inside anymail's view, so the
ESP gets its 200 only after our transaction committed; a database error gives it a 500 and the
ESP retries later (a retry is a duplicate Message-ID, which we ignore).
"""

from __future__ import annotations

import email.policy
import logging
from typing import Any

from anymail.signals import AnymailInboundEvent, inbound
from django.dispatch import receiver

from support.intake.email_ingest import email_ingest

logger = logging.getLogger(__name__)


def message_bytes(message: Any) -> bytes:
    """The message as bytes, as close to what the ESP received as the message object allows."""
    attempts = (
        lambda: message.as_bytes(policy=email.policy.compat32),
        lambda: message.as_bytes(),
        lambda: message.as_string(policy=email.policy.compat32).encode("utf-8", "surrogateescape"),
    )
    for attempt in attempts:
        try:
            return bytes(attempt())
        except Exception:  # the email package can choke re-serialising a broken message
            continue
    return b""


@receiver(inbound, dispatch_uid="switchboard.intake.anymail_inbound")
def anymail_inbound_received(sender: Any, event: AnymailInboundEvent, esp_name: str, **kwargs: Any) -> None:
    raw = message_bytes(event.message) if event.message is not None else b""
    result = email_ingest(raw=raw, route=f"anymail:{esp_name.lower()}"[:40], source_ref=str(event.event_id or ""))
    logger.info("anymail inbound (%s): %s", esp_name, result.describe())
