"""The provider interface. A provider turns one triage request into raw JSON text; it knows
nothing about tickets, policy or the decision log, and nothing it returns is trusted until
``triage.schemas.triage_output_parse`` has validated it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triage.classifier import Prediction
    from triage.kb.retrieval import ChunkHit


@dataclass(frozen=True)
class TriageRequest:
    """Everything a provider may use. External providers see only the ``*_redacted`` fields."""

    ticket_id: int
    prompt_version: str
    system_prompt: str
    user_prompt_redacted: str
    # Original text, for providers that run on this machine (no redaction needed, no network).
    ticket_text: str
    customer_name: str
    kb_hits: list[ChunkHit] = field(default_factory=list)
    local_prediction: Prediction | None = None
    # Category slug -> default team slug, so a provider can fill in a consistent team.
    category_teams: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Repair:
    """The one repair attempt: the answer we could not use and why."""

    previous_content: str
    instruction: str


@dataclass(frozen=True)
class ProviderAnswer:
    content: str  # raw JSON text, untrusted
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    request_record: str = ""  # what was sent (already redacted for external providers)
    cache_hit: bool = False


class ProviderError(Exception):
    """A call that produced no answer. ``retryable`` errors (429, 5xx, timeouts, connection
    errors, garbage on the wire) are retried with backoff and count towards the circuit breaker.

    ``error_class`` is always the underlying error (``RateLimitError``, ``APITimeoutError``...),
    never the breaker: ``breaker_open`` says the circuit breaker was open when the call ended,
    either because this failure opened it or because the call was skipped (then ``error_class``
    is the failure that opened it)."""

    def __init__(
        self,
        message: str,
        *,
        error_class: str,
        retryable: bool,
        retry_after: float | None = None,
        latency_ms: int = 0,
        request_record: str = "",
        breaker_open: bool = False,
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retryable = retryable
        self.retry_after = retry_after
        self.latency_ms = latency_ms
        self.request_record = request_record
        self.breaker_open = breaker_open


class Provider(ABC):
    name: str = ""
    # Sends data off this machine: redaction, cost, cache, budget and circuit breaker apply.
    external: bool = False

    @property
    @abstractmethod
    def model(self) -> str: ...

    @abstractmethod
    def complete(
        self, request: TriageRequest, *, repair: Repair | None = None
    ) -> ProviderAnswer: ...

    # Shown in the fallback reason when available() is False.
    unavailable_reason: str = "not configured"

    def available(self) -> bool:
        return True
