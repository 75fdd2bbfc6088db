"""Tell people about a drift alert: an e-mail to every manager, a signed POST to ``ALERT_WEBHOOK_URL``.

Each runs in its own retried task (review/tasks.py). The webhook's ``webhook-id`` is the alert's
``dedupe_key``, the same on every retry, so a receiver that dedupes on it acts once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx2
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from standardwebhooks.webhooks import Webhook

from support.models import Alert
from support.roles import MANAGER
from support.ssrf import callback_target_resolve

ALERT_EVENT_TYPE = "alert.drift"


def manager_addresses() -> list[str]:
    """Every active member of the manager group who has an e-mail address (support/roles.py)."""
    users = get_user_model().objects.filter(is_active=True, groups__name=MANAGER).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def drift_alert_email_send(*, alert_id: int) -> int:
    """One e-mail per manager (none sees the others' addresses); returns how many were sent."""
    alert = Alert.objects.get(pk=alert_id)
    subject = f"[Switchboard] {alert.get_kind_display()}: {alert.details.get('check', '')}"
    body = (
        f"{alert.message}\n\nEvidence:\n{json.dumps(alert.details, indent=2, sort_keys=True)}\n\n"
        "Open the quality dashboard to see the check over time and acknowledge the alert.\n"
    )
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in manager_addresses()]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def alert_payload(alert: Alert) -> str:
    """The JSON body, built from stored fields only: byte-identical on every retry."""
    payload = {
        "type": ALERT_EVENT_TYPE,
        "timestamp": alert.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "id": alert.pk,
            "kind": alert.kind,
            "dedupe_key": alert.dedupe_key,
            "message": alert.message,
            "details": alert.details,
        },
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def drift_alert_webhook_post(*, alert_id: int, now: datetime | None = None) -> int:
    """POST the alert, Standard Webhooks-signed with ``ALERT_WEBHOOK_SECRET``, to the address the
    SSRF check validated (support/ssrf.py; never the name again, never a redirect). Raises on a
    refused target or a non-2xx answer; returns the HTTP status."""
    alert = Alert.objects.get(pk=alert_id)
    url = settings.ALERT_WEBHOOK_URL
    target = callback_target_resolve(url=url, allowed_hosts=settings.CALLBACK_ALLOWED_HOSTS)
    body = alert_payload(alert)
    timestamp = now or datetime.now(tz=UTC)
    host_header = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != (443 if target.scheme == "https" else 80):
        host_header = f"{host_header}:{target.port}"
    headers = {
        "content-type": "application/json",
        "user-agent": "Switchboard-Alert/1",
        "webhook-id": alert.dedupe_key,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(settings.ALERT_WEBHOOK_SECRET).sign(
            msg_id=alert.dedupe_key, timestamp=timestamp, data=body
        ),
        "host": host_header,
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx2.Client(timeout=httpx2.Timeout(settings.CALLBACK_TIMEOUT_SECONDS), follow_redirects=False,
                       trust_env=False) as client:
        response = client.post(httpx2.URL(url).copy_with(host=target.ip), content=body.encode(),
                               headers=headers, extensions=extensions)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"alert webhook answered HTTP {response.status_code}: {response.text[:200]}")
    return response.status_code
