"""The manager's view of delivery trouble: one ``Alert`` per channel and day when replies fail."""

from __future__ import annotations

from django.utils import timezone

from support.delivery.schedule import delivery_channel
from support.models import Alert, OutboundMessage


def delivery_alert_raise(*, outbound: OutboundMessage, error: str) -> Alert:
    """Record that ``outbound`` failed for good. One alert per cause (its channel: the e-mail
    backend, a callback host, a team without an address) and day, so an outage that fails a
    hundred replies raises one alert, not a hundred; ``get_or_create`` settles two workers
    racing on the same cause (``dedupe_key`` is UNIQUE)."""
    cause = delivery_channel(outbound)
    if outbound.kind == OutboundMessage.Kind.NOTIFICATION and not outbound.to_address:
        cause = "notification:no-address"
    day = timezone.now().date().isoformat()
    alert, _ = Alert.objects.get_or_create(
        dedupe_key=f"delivery_failed:{cause}:{day}"[:200],
        defaults={
            "kind": Alert.Kind.DELIVERY_FAILED,
            "message": f"Deliveries over {cause} are failing: outbound {outbound.pk} "
            f"(ticket {outbound.ticket_id}) gave up after {outbound.attempts} attempts. "
            f"Last error: {error[:300]}",
            "details": {
                "channel": cause,
                "outbound_id": outbound.pk,
                "ticket_id": outbound.ticket_id,
                "attempts": outbound.attempts,
                "error": error[:1000],
            },
        },
    )
    return alert
