"""System checks of the intake (``manage.py check --deploy``).

Inbound e-mail webhooks without ``ANYMAIL_WEBHOOK_SECRET`` refuse every request: a valid setup
for a deployment that reads mail over IMAP, so it is said (INFO), not failed. Sender verification
required with no trusted authserv-id means every e-mail goes to a human as ``sender_unverified``
and no reply is ever threaded: that is a misconfiguration (WARNING). See docs/security.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Info, Tags, Warning, register

from support.intake.anymail_inbound import INBOUND_OFF, webhook_secret_configured


@register(Tags.security, deploy=True)
def inbound_email_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not webhook_secret_configured():
        messages.append(Info(
            INBOUND_OFF + " Every POST to /anymail/<esp>/inbound/ is refused (404).",
            hint="Set ANYMAIL_WEBHOOK_SECRET (user:password) and give the ESP that basic-auth URL, "
                 "or receive mail with poll_imap / ingest_email instead.",
            id="support.I001",
        ))
    if settings.EMAIL_SENDER_AUTH_REQUIRED and not settings.EMAIL_AUTHSERV_IDS:
        messages.append(Warning(
            "EMAIL_SENDER_AUTH_REQUIRED is on but EMAIL_AUTHSERV_IDS is empty: no sender can be "
            "verified, so every inbound e-mail goes to a human as sender_unverified.",
            hint="List the authserv-id(s) of the MTA or ESP that writes Authentication-Results on "
                 "your inbound mail in EMAIL_AUTHSERV_IDS, or set EMAIL_SENDER_AUTH_REQUIRED=false.",
            id="support.W001",
        ))
    return messages
