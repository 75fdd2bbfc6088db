"""How a ``TriageDecision`` row's ``error_class`` maps to an error type, as SQL filters: the drift
checks and /metrics count with the same rules. The classes are those the providers write
(triage/providers/openai_provider.py, chain.py, local.py)."""

from __future__ import annotations

from django.db.models import Q

from review.monitoring.checks import ERROR_TYPES

_CLASSES: dict[str, tuple[str, ...]] = {
    "timeout": ("APITimeoutError", "TimeoutError", "Timeout"),
    "rate_limit": ("RateLimitError",),
    "connection": ("APIConnectionError", "ConnectionError"),
    "validation": ("OutputInvalid", "MalformedResponse", "ValidationError"),
}
assert set(_CLASSES) == set(ERROR_TYPES)


def error_type_filters() -> dict[str, Q]:
    """``{type: Q}`` over attempt rows; an HTTP 429 reported as ``<Class>:429`` is a rate limit."""
    filters = {kind: Q(error_class__in=classes) for kind, classes in _CLASSES.items()}
    filters["rate_limit"] |= Q(error_class__endswith=":429")
    return filters


# A final decision that is not the first provider's clean answer: an earlier provider failed, or
# no provider answered and the ticket went to a human.
FALLBACK = Q(is_final=True) & ~Q(fallback_reason="")

# Rows that are a provider call (the "none" row of a hand-over to a human is not).
PROVIDER_CALL = ~Q(provider="none")
