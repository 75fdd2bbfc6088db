"""The provider chain (``settings.LLM_CHAIN``, e.g. ``openai,local``).

For each provider in order: skip it when its circuit is open (the skipped call is still reported,
with the error that opened the breaker) or (paid providers) the daily budget is spent; serve identical requests from the cache; otherwise call it with a per-call timeout and
retries (exponential backoff with jitter on 429/5xx/connection errors/timeouts, Retry-After
honoured up to ``LLM_RETRY_AFTER_CAP_SECONDS``). An answer that fails validation gets ONE repair
attempt on the same provider, then the chain moves on. Every attempt is reported to
``on_attempt`` so the decision log has a row for it; the winning attempt is returned.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from triage import budget
from triage.providers.base import Provider, ProviderAnswer, ProviderError, Repair, TriageRequest
from triage.providers.breaker import breaker_record_failure, breaker_record_success, breaker_trip
from triage.schemas import OutputInvalid, TriageOutput

logger = logging.getLogger(__name__)


@dataclass
class Attempt:
    """One call (or cache hit) on one provider, successful or not: one decision-log row."""

    provider: str
    model: str
    request_record: str = ""
    content: str = ""
    output: TriageOutput | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int = 0
    cache_hit: bool = False
    # The provider's own error (``RateLimitError``, ``APITimeoutError``, ``OutputInvalid``...);
    # for a call the open breaker skipped, the error that opened it.
    error_class: str = ""
    error: str = ""
    # The circuit breaker was open when this attempt ended: it opened on this failure, or the
    # call was skipped (then ``latency_ms`` is 0 and ``request_record`` empty).
    breaker_open: bool = False
    repair: bool = False

    @property
    def succeeded(self) -> bool:
        return self.output is not None


@dataclass
class ChainResult:
    winner: Attempt | None
    # Why earlier providers did not answer:
    # ["openai: RateLimitError", "openai: circuit_open (RateLimitError)"].
    fallback_reasons: list[str] = field(default_factory=list)


def _wait(retry_state: RetryCallState) -> float:
    cap = float(settings.LLM_RETRY_AFTER_CAP_SECONDS)
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, ProviderError) and exc.retry_after is not None:
        return min(exc.retry_after, cap)
    # Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... scaled by a random factor.
    base = min(cap, 0.5 * (2 ** (retry_state.attempt_number - 1)))
    return random.uniform(base / 2, base)


def _retryable(exc: BaseException) -> bool:
    # Once the breaker is open, more tries would only hammer a provider known to be down.
    return isinstance(exc, ProviderError) and exc.retryable and not exc.breaker_open


def _breaker_skip(provider: Provider) -> ProviderError | None:
    """The error for a call an open breaker skips: it carries the failure that opened the
    breaker, so the decision log says why (``RateLimitError``), not only that it was open."""
    trip = breaker_trip(provider.name)
    if trip is None:
        return None
    opened_by = f"{trip.error_class}: {trip.error}" if trip.error else trip.error_class
    return ProviderError(
        f"circuit breaker open, call skipped; opened after {trip.failures} consecutive "
        f"failures by {opened_by}"[:500],
        error_class=trip.error_class,
        retryable=False,
        breaker_open=True,
    )


def _breaker_stopped(exc: ProviderError, why: str) -> ProviderError:
    """``exc``, the real failure, marked as the one after which the open breaker ended retries."""
    return ProviderError(
        f"{why}; {exc}"[:500],
        error_class=exc.error_class,
        retryable=exc.retryable,
        retry_after=exc.retry_after,
        latency_ms=exc.latency_ms,
        request_record=exc.request_record,
        breaker_open=True,
    )


def _call(provider: Provider, request: TriageRequest, repair: Repair | None) -> ProviderAnswer:
    """One logical call with retries. Each failed HTTP attempt counts towards the breaker; once
    it opens, remaining retries are abandoned so a dead provider does not hold the worker. The
    error raised is always the provider's own (429, timeout, connection...), never a bare
    "circuit open" that would hide it."""
    retrying = Retrying(
        stop=stop_after_attempt(settings.LLM_MAX_RETRIES + 1),
        wait=_wait,
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    last_error: ProviderError | None = None
    for attempt in retrying:
        with attempt:
            skipped = _breaker_skip(provider) if provider.external else None
            if skipped is not None:
                # Another worker opened it while this one backed off (or since chain_run looked).
                if last_error is not None:
                    raise _breaker_stopped(last_error, "circuit breaker opened, retries stopped")
                raise skipped
            try:
                answer = provider.complete(request, repair=repair)
            except ProviderError as exc:
                last_error = exc
                if not (provider.external and exc.retryable):
                    raise
                opened = breaker_record_failure(
                    provider.name, error_class=exc.error_class, error=str(exc)
                )
                if opened:
                    raise _breaker_stopped(exc, "this failure opened the circuit breaker") from exc
                raise
            except Exception as exc:
                # A bug or a broken model in one provider must not stop the chain: log it as
                # this provider's failure and let the next one answer.
                logger.warning("provider %s raised", provider.name, exc_info=True)
                raise ProviderError(
                    f"{type(exc).__name__}: {exc}"[:500],
                    error_class=type(exc).__name__,
                    retryable=False,
                ) from exc
            if provider.external:
                breaker_record_success(provider.name)
            return answer
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def _failed_attempt(provider: Provider, exc: ProviderError, *, repair: bool) -> Attempt:
    return Attempt(
        provider=provider.name,
        model=provider.model,
        request_record=exc.request_record,
        latency_ms=exc.latency_ms,
        error_class=exc.error_class,
        error=str(exc)[:500],
        breaker_open=exc.breaker_open,
        repair=repair,
    )


def _reason(provider: Provider, exc: ProviderError) -> str:
    """A fallback reason: ``openai: RateLimitError`` or ``openai: circuit_open (RateLimitError)``."""
    if exc.breaker_open:
        return f"{provider.name}: circuit_open ({exc.error_class})"
    return f"{provider.name}: {exc.error_class}"


def _attempt_from(provider: Provider, answer: ProviderAnswer, *, repair: bool) -> Attempt:
    cost = Decimal(0)
    if provider.external and not answer.cache_hit:
        cost = budget.cost_compute(
            model=answer.model, tokens_in=answer.tokens_in, tokens_out=answer.tokens_out
        )
    return Attempt(
        provider=provider.name,
        model=answer.model,
        request_record=answer.request_record,
        content=answer.content,
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        cost_usd=cost,
        latency_ms=answer.latency_ms,
        cache_hit=answer.cache_hit,
        repair=repair,
    )


def chain_run(
    *,
    providers: list[Provider],
    request: TriageRequest,
    validate: Callable[[str], TriageOutput],
    repair_instruction: Callable[[str], str],
    on_attempt: Callable[[Attempt], None],
    use_cache: bool = True,
) -> ChainResult:
    """Run the chain. ``validate`` raises OutputInvalid; ``on_attempt`` gets every failed attempt.
    ``use_cache=False`` skips reading the cache (an operator's forced re-run), not writing it."""
    reasons: list[str] = []
    for provider in providers:
        if not provider.available():
            reasons.append(f"{provider.name}: {provider.unavailable_reason}")
            continue
        if provider.external:
            if budget.budget_exhausted():
                budget.budget_alert_raise()
                reasons.append(f"{provider.name}: budget_exceeded")
                continue
            skipped = _breaker_skip(provider)
            if skipped is not None:
                # No call is made, but the log gets a row saying why: the error that opened it.
                on_attempt(_failed_attempt(provider, skipped, repair=False))
                reasons.append(_reason(provider, skipped))
                continue
            cache_key = budget.cache_key(
                request_text=request.system_prompt + "\n" + request.user_prompt_redacted,
                prompt_version=request.prompt_version,
                model=provider.model,
            )
            cached = budget.response_cache_get(cache_key) if use_cache else None
            if cached is not None:
                attempt = Attempt(
                    provider=provider.name,
                    model=provider.model,
                    content=cached,
                    cache_hit=True,
                    request_record="(served from cache)",
                )
                try:
                    attempt.output = validate(cached)
                    return ChainResult(winner=attempt, fallback_reasons=reasons)
                except OutputInvalid:
                    pass  # the categories or KB changed since it was cached: ask again
        winner = _provider_run(provider, request, validate, repair_instruction, on_attempt, reasons)
        if winner is not None:
            if provider.external:
                budget.response_cache_set(cache_key, winner.content)
            return ChainResult(winner=winner, fallback_reasons=reasons)
    return ChainResult(winner=None, fallback_reasons=reasons)


def _provider_run(
    provider: Provider,
    request: TriageRequest,
    validate: Callable[[str], TriageOutput],
    repair_instruction: Callable[[str], str],
    on_attempt: Callable[[Attempt], None],
    reasons: list[str],
) -> Attempt | None:
    repair: Repair | None = None
    for is_repair in (False, True):
        try:
            answer = _call(provider, request, repair)
        except ProviderError as exc:
            on_attempt(_failed_attempt(provider, exc, repair=is_repair))
            reasons.append(_reason(provider, exc))
            return None
        attempt = _attempt_from(provider, answer, repair=is_repair)
        try:
            attempt.output = validate(answer.content)
            return attempt
        except OutputInvalid as exc:
            attempt.error_class = "OutputInvalid"
            attempt.error = str(exc)[:500]
            on_attempt(attempt)
            if is_repair:
                reasons.append(f"{provider.name}: output invalid after repair")
                return None
            repair = Repair(
                previous_content=answer.content, instruction=repair_instruction(str(exc))
            )
    return None
