"""A circuit breaker whose state lives in Redis (Django's cache), shared by every worker.

``LLM_BREAKER_THRESHOLD`` consecutive failed calls open it for ``LLM_BREAKER_COOLDOWN_SECONDS``;
after the cooldown one call goes through (half-open): a success closes it, a failure re-opens it at
once because the failure count is still over the threshold. When the cache itself is unreachable
the breaker fails open (calls proceed): Redis trouble must not stop triage.

The failure that opened it (its error class and message) is kept beside ``open_until`` for the
same cooldown, so a call skipped by another worker can still say in the decision log *why* the
breaker is open, not only that it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone

logger = logging.getLogger(__name__)
_FAILURES_TTL = 24 * 3600


@dataclass(frozen=True)
class BreakerTrip:
    """Why an open breaker is open: the failure that opened it."""

    open_until: float
    failures: int
    error_class: str
    error: str


def _keys(provider: str) -> tuple[str, str, str]:
    prefix = f"llm:breaker:{provider}"
    return f"{prefix}:failures", f"{prefix}:open_until", f"{prefix}:tripped_by"


def breaker_is_open(provider: str) -> bool:
    _, open_key, _ = _keys(provider)
    try:
        open_until = cache.get(open_key)
    except Exception as exc:  # Redis down: fail open
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)
        return False
    return bool(open_until) and float(open_until) > time.time()


def breaker_trip(provider: str) -> BreakerTrip | None:
    """The open breaker's cause, or None when it is closed (or the cache is unreachable)."""
    _, open_key, tripped_key = _keys(provider)
    try:
        state = cache.get_many([open_key, tripped_key])
    except Exception as exc:  # Redis down: fail open
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)
        return None
    open_until = float(state.get(open_key) or 0)
    if open_until <= time.time():
        return None
    # Opened by a worker that predates ``tripped_by``: open, cause unknown.
    tripped = state.get(tripped_key) or {}
    return BreakerTrip(
        open_until=open_until,
        failures=int(tripped.get("failures", 0)),
        error_class=str(tripped.get("error_class") or "unknown"),
        error=str(tripped.get("error", "")),
    )


def breaker_record_success(provider: str) -> None:
    try:
        cache.delete_many(list(_keys(provider)))
    except Exception as exc:
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)


def breaker_record_failure(provider: str, *, error_class: str = "", error: str = "") -> bool:
    """Count one failure; returns True when this failure opened the breaker, and then keeps
    ``error_class``/``error`` as the reason it is open."""
    failures_key, open_key, tripped_key = _keys(provider)
    try:
        cache.add(failures_key, 0, timeout=_FAILURES_TTL)
        failures = cache.incr(failures_key)
        if failures < settings.LLM_BREAKER_THRESHOLD:
            return False
        cooldown = settings.LLM_BREAKER_COOLDOWN_SECONDS
        tripped = {"failures": failures, "error_class": error_class, "error": error[:500]}
        cache.set_many(
            {open_key: time.time() + cooldown, tripped_key: tripped}, timeout=cooldown
        )
    except Exception as exc:
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)
        return False
    logger.warning(
        "circuit breaker for %s opened after %s consecutive failures (last: %s)",
        provider,
        failures,
        error_class or "unknown",
    )
    _alert_provider_down(provider, failures, error_class or "unknown")
    return True


def _alert_provider_down(provider: str, failures: int, error_class: str) -> None:
    from triage.models import Alert

    hour = timezone.now().strftime("%Y-%m-%dT%H")
    try:
        Alert.objects.get_or_create(
            dedupe_key=f"provider_down:{provider}:{hour}",
            defaults={
                "kind": Alert.Kind.PROVIDER_DOWN,
                "message": f"Provider {provider} failed {failures} times in a row "
                f"(last: {error_class}); "
                f"circuit open for {settings.LLM_BREAKER_COOLDOWN_SECONDS}s, "
                "triage falls back to the next provider.",
                "details": {"provider": provider, "failures": failures, "error_class": error_class},
            },
        )
    except IntegrityError:  # another worker wrote it first
        pass
