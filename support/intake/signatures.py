"""Standard Webhooks signatures: which source signed this body, if any.

Secrets come from ``WEBHOOK_SECRETS`` (``source=whsec_...``, a source may repeat during a
rotation) and from active ``WebhookSource`` rows in the admin (one secret per line). A source
switched off in the admin is refused even if the environment still lists it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from django.conf import settings
from standardwebhooks.webhooks import Webhook

from support.models import WebhookSource

logger = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    """Why a delivery is not authentic; the message goes back in the 401 body."""


def webhook_secrets() -> dict[str, list[str]]:
    """Every source name with its currently valid secrets."""
    secrets: dict[str, list[str]] = {name: list(values) for name, values in settings.WEBHOOK_SECRETS.items()}
    for source in WebhookSource.objects.only("name", "secrets", "is_active"):
        if not source.is_active:
            secrets.pop(source.name, None)
            continue
        lines = [line.strip() for line in source.secrets.splitlines() if line.strip()]
        secrets.setdefault(source.name, [])
        secrets[source.name] += [line for line in lines if line not in secrets[source.name]]
    return {name: values for name, values in secrets.items() if values}


def signature_verify(*, body: bytes, headers: Mapping[str, str]) -> str:
    """Return the name of the source whose secret signed ``body``, or raise ``SignatureError``."""
    values = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    try:
        timestamp = float(values["webhook-timestamp"])
    except ValueError:
        raise SignatureError("webhook-timestamp is not a Unix timestamp") from None
    if not abs(time.time() - timestamp) <= settings.WEBHOOK_TOLERANCE_SECONDS:  # also rejects NaN
        raise SignatureError(f"webhook-timestamp outside the {settings.WEBHOOK_TOLERANCE_SECONDS} s tolerance")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8, its signature can't be checked") from None
    for source, secrets in webhook_secrets().items():
        for secret in secrets:
            try:
                Webhook(secret).verify(text, values, json_parse=False)
            except Exception:  # a mismatch, a malformed header or a bad secret: try the next one
                continue
            return source
    raise SignatureError("no valid signature for any configured source")
