"""Provider inbound webhooks (Mailgun, SendGrid, Postmark, SES, ...) through django-anymail.

Anymail verifies the request (basic-auth ``WEBHOOK_SECRET`` and each ESP's own signature, as its
documentation describes) and sends its ``inbound`` signal; we turn the message back into bytes
and run the same pipeline as every other route. Anymail accepts unauthenticated posts when no
secret is set (it only warns), so ``webhook_secret_required`` wraps every anymail route
(``anymail_urls.py``): without ``ANYMAIL_WEBHOOK_SECRET`` each request is a 404 and nothing is
written; start-up logs it and ``check --deploy`` reports it (``support.checks``). The handler runs inside anymail's view, so the
ESP gets its 200 only after our transaction committed; a database error gives it a 500 and the
ESP retries later (a retry is a duplicate Message-ID, which we ignore).
"""

from __future__ import annotations

import email.policy
import functools
import logging
from collections.abc import Callable
from typing import Any

from anymail.exceptions import AnymailConfigurationError
from anymail.signals import AnymailInboundEvent, inbound
from anymail.utils import get_anymail_setting
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound

from support.intake.email_ingest import email_ingest

logger = logging.getLogger(__name__)


INBOUND_OFF = "Inbound e-mail webhooks are off: ANYMAIL_WEBHOOK_SECRET is not configured."


def webhook_secret_configured() -> bool:
    """True when anymail has a basic-auth secret (``ANYMAIL["WEBHOOK_SECRET"]`` or
    ``ANYMAIL_WEBHOOK_SECRET``) to check every webhook request against."""
    return bool(get_anymail_setting("webhook_secret", default=None))


def webhook_secret_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse the anymail view's every request (404, nothing written) while no secret is set; a
    404 too for an ESP whose own settings are missing, and a 400 for a payload anymail can't parse
    (both were 500s: issue 13, point 5). Database errors stay 500s so the ESP retries."""

    @functools.wraps(view)  # keeps csrf_exempt and login_not_required, set on the view function
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not webhook_secret_configured():
            logger.warning("refused %s %s: %s", request.method, request.path, INBOUND_OFF)
            return HttpResponseNotFound(INBOUND_OFF, content_type="text/plain")
        try:
            return view(request, *args, **kwargs)
        except AnymailConfigurationError as exc:  # this ESP's own key (e.g. a signing key) is not set
            logger.warning("refused %s %s: ESP not configured: %s", request.method, request.path, exc)
            return HttpResponseNotFound("This ESP's inbound webhook is not configured.", content_type="text/plain")
        except DatabaseError:
            raise  # nothing was stored: a 500 makes the ESP retry later
        except Exception:  # anymail parses each ESP's payload without guarding against junk
            logger.warning("malformed payload on %s", request.path, exc_info=True)
            return HttpResponseBadRequest("Malformed inbound payload.", content_type="text/plain")

    return guarded


def inbound_warn_if_off() -> bool:
    """Log at start-up that the inbound webhooks refuse everything; True if they do."""
    if webhook_secret_configured():
        return False
    logger.warning("%s Every POST to /anymail/<esp>/inbound/ is refused (404).", INBOUND_OFF)
    return True


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
    message = event.message
    raw = message_bytes(message) if message is not None else b""
    spam_detected = getattr(message, "spam_detected", None)
    result = email_ingest(raw=raw, route=f"anymail:{esp_name.lower()}"[:40], source_ref=str(event.event_id or ""),
                          esp_spam_detected=spam_detected if isinstance(spam_detected, bool) else None)
    logger.info("anymail inbound (%s): %s", esp_name, result.describe())
