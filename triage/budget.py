"""Cost, the daily budget cap and the response cache.

Cost is computed from the provider's reported usage and ``settings.LLM_PRICES`` (USD per million
tokens). The day's spend is the sum of ``TriageDecision.cost_usd`` since midnight UTC: the database
is the truth all workers share. Past ``LLM_DAILY_BUDGET_USD`` the chain skips paid providers and an
``Alert`` is raised once per day.

The cache holds validated answers keyed by (normalised redacted request + prompt version + model)
in Redis (Django's cache). A hit is recorded with ``cache_hit=True`` and zero cost. Cache trouble
(Redis down) is never fatal: it degrades to "no cache".
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, time
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from support.models import Alert
from triage.models import TriageDecision

logger = logging.getLogger(__name__)
_MILLION = Decimal(1_000_000)


def cost_compute(*, model: str, tokens_in: int, tokens_out: int) -> Decimal:
    prices = settings.LLM_PRICES.get(model)
    if not prices:
        if tokens_in or tokens_out:
            logger.warning("no price for model %s in LLM_PRICES: cost recorded as 0", model)
        return Decimal(0)
    cost = (
        Decimal(str(prices.get("input", 0))) * tokens_in
        + Decimal(str(prices.get("output", 0))) * tokens_out
    ) / _MILLION
    return cost.quantize(Decimal("0.00000001"))


def _day_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def budget_spent_today() -> Decimal:
    total = TriageDecision.objects.filter(created_at__gte=_day_start()).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return Decimal(total or 0)


def budget_exhausted() -> bool:
    return budget_spent_today() >= Decimal(str(settings.LLM_DAILY_BUDGET_USD))


def budget_alert_raise() -> Alert:
    """One alert per day (dedupe_key), however many workers notice at once."""
    day = _day_start().date().isoformat()
    spent = budget_spent_today()
    alert, _ = Alert.objects.get_or_create(
        dedupe_key=f"budget_exceeded:{day}",
        defaults={
            "kind": Alert.Kind.BUDGET_EXCEEDED,
            "message": f"Daily LLM budget of ${settings.LLM_DAILY_BUDGET_USD:.2f} reached "
            f"(${spent:.4f} spent "
            f"on {day}); triage uses the local provider until midnight UTC.",
            "details": {
                "day": day,
                "spent_usd": str(spent),
                "budget_usd": settings.LLM_DAILY_BUDGET_USD,
            },
        },
    )
    return alert


# --- Response cache ------------------------------------------------------------------------------


def request_normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def cache_key(*, request_text: str, prompt_version: str, model: str) -> str:
    digest = hashlib.sha256(
        "\x1f".join([request_normalise(request_text), prompt_version, model]).encode()
    ).hexdigest()
    return f"triage:response:{digest}"


def response_cache_get(key: str) -> str | None:
    if settings.LLM_CACHE_SECONDS <= 0:
        return None
    try:
        value = cache.get(key)
    except Exception as exc:  # Redis down: no cache, not no triage
        logger.warning("response cache unavailable: %s", exc.__class__.__name__)
        return None
    return value if isinstance(value, str) else None


def response_cache_set(key: str, content: str) -> None:
    if settings.LLM_CACHE_SECONDS <= 0:
        return
    try:
        cache.set(key, content, timeout=settings.LLM_CACHE_SECONDS)
    except Exception as exc:
        logger.warning("response cache unavailable: %s", exc.__class__.__name__)
