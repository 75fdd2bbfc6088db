"""Standard Webhooks signatures: which source signed this body, if any.

Secrets come from ``WEBHOOK_SECRETS`` (``source=whsec_...``, a source may repeat during a
rotation) and from active ``WebhookSource`` rows in the admin (one secret per line). A source
switched off in the admin is refused even if the environment still lists it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from standardwebhooks.webhooks import Webhook

from support.models import WebhookSource
from support.models.intake import RESERVED_SOURCE_NAMES

logger = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    """Why a delivery is not authentic; the message goes back in the 401 body."""


@dataclass(frozen=True)
class VerifiedSource:
    name: str
    rate_limit_per_minute: int | None  # the admin's override, if any


def webhook_sources() -> dict[str, tuple[list[str], int | None]]:
    """Every source name with its currently valid secrets and its rate-limit override."""
    sources: dict[str, tuple[list[str], int | None]] = {
        name: (list(values), None) for name, values in settings.WEBHOOK_SECRETS.items()
    }
    for source in WebhookSource.objects.only("name", "secrets", "is_active", "rate_limit_per_minute"):
        if not source.is_active:
            sources.pop(source.name, None)
            continue
        secrets = sources.get(source.name, ([], None))[0]
        secrets += [line.strip() for line in source.secrets.splitlines() if line.strip() and line.strip() not in secrets]
        sources[source.name] = (secrets, source.rate_limit_per_minute)
    for name in RESERVED_SOURCE_NAMES & sources.keys():
        # The e-mail intake's own source: a webhook under that name could read or pre-empt e-mails.
        logger.warning("WEBHOOK_SECRETS: the source name %r is reserved; its secrets are ignored", name)
        del sources[name]
    return {name: config for name, config in sources.items() if config[0]}


def signature_verify(*, body: bytes, headers: Mapping[str, str]) -> VerifiedSource:
    """Return the source whose secret signed ``body``, or raise ``SignatureError``."""
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
    for name, (secrets, rate_limit) in webhook_sources().items():
        for secret in secrets:
            try:
                Webhook(secret).verify(text, values, json_parse=False)
            except Exception:  # a mismatch, a malformed header or a bad secret: try the next one
                continue
            return VerifiedSource(name=name, rate_limit_per_minute=rate_limit)
    raise SignatureError("no valid signature for any configured source")
