"""Callback delivery: a Standard Webhooks-signed POST to the source system, after an SSRF check of the target."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx2
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from support.delivery.errors import PermanentFailure
from support.models import OutboundMessage
from support.ssrf import CallbackTargetRefused, CallbackTargetUnresolvable, callback_target_resolve

CALLBACK_EVENT_TYPE = "ticket.reply"


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


def callback_post(outbound: OutboundMessage) -> None:
    try:
        target = callback_target_resolve(
            url=outbound.to_address, allowed_hosts=settings.CALLBACK_ALLOWED_HOSTS
        )
    except CallbackTargetRefused as exc:
        raise PermanentFailure(f"refused callback target: {exc}") from exc
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
