"""A circuit breaker whose state lives in Redis (Django's cache), shared by every worker.

``LLM_BREAKER_THRESHOLD`` consecutive failed calls open it for ``LLM_BREAKER_COOLDOWN_SECONDS``;
after the cooldown one call goes through (half-open): a success closes it, a failure re-opens it at
once because the failure count is still over the threshold. When the cache itself is unreachable
the breaker fails open (calls proceed): Redis trouble must not stop triage.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone

logger = logging.getLogger(__name__)
_FAILURES_TTL = 24 * 3600


def _keys(provider: str) -> tuple[str, str]:
    return f"llm:breaker:{provider}:failures", f"llm:breaker:{provider}:open_until"


def breaker_is_open(provider: str) -> bool:
    _, open_key = _keys(provider)
    try:
        open_until = cache.get(open_key)
    except Exception as exc:  # Redis down: fail open
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)
        return False
    return bool(open_until) and float(open_until) > time.time()


def breaker_record_success(provider: str) -> None:
    failures_key, open_key = _keys(provider)
    try:
        cache.delete_many([failures_key, open_key])
    except Exception as exc:
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)


def breaker_record_failure(provider: str) -> bool:
    """Count one failure; returns True when this failure opened the breaker."""
    failures_key, open_key = _keys(provider)
    try:
        cache.add(failures_key, 0, timeout=_FAILURES_TTL)
        failures = cache.incr(failures_key)
        if failures < settings.LLM_BREAKER_THRESHOLD:
            return False
        cooldown = settings.LLM_BREAKER_COOLDOWN_SECONDS
        cache.set(open_key, time.time() + cooldown, timeout=cooldown)
    except Exception as exc:
        logger.warning("breaker state unavailable: %s", exc.__class__.__name__)
        return False
    logger.warning(
        "circuit breaker for %s opened after %s consecutive failures", provider, failures
    )
    _alert_provider_down(provider, failures)
    return True


def breaker_reset(provider: str) -> None:
    breaker_record_success(provider)


def _alert_provider_down(provider: str, failures: int) -> None:
    from support.models import Alert

    hour = timezone.now().strftime("%Y-%m-%dT%H")
    try:
        Alert.objects.get_or_create(
            dedupe_key=f"provider_down:{provider}:{hour}",
            defaults={
                "kind": Alert.Kind.PROVIDER_DOWN,
                "message": f"Provider {provider} failed {failures} times in a row; "
                f"circuit open for {settings.LLM_BREAKER_COOLDOWN_SECONDS}s, "
                "triage falls back to the next provider.",
                "details": {"provider": provider, "failures": failures},
            },
        )
    except IntegrityError:  # another worker wrote it first
        pass
