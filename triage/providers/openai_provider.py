"""The OpenAI-compatible provider: OpenAI, Azure OpenAI (v1 endpoint), vLLM, Ollama, LM Studio.

The only module that imports ``openai``. Structured output through ``response_format`` json_schema
(strict); a server that refuses json_schema with a 400 gets JSON mode instead, remembered per base
URL for the life of the process. The SDK's own retries are off: ``triage.providers.chain`` retries
with backoff, honours Retry-After up to a cap and feeds the shared circuit breaker.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import openai
from django.conf import settings

from triage.providers.base import Provider, ProviderAnswer, ProviderError, Repair, TriageRequest
from triage.schemas import triage_output_json_schema

_clients: dict[tuple[str, str, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()
# Base URLs that answered 400 to json_schema: use JSON mode there from now on.
_json_schema_refused: set[str] = set()


def _client() -> openai.OpenAI:
    key = (
        settings.OPENAI_BASE_URL or "",
        settings.OPENAI_API_KEY,
        float(settings.LLM_TIMEOUT_SECONDS),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = openai.OpenAI(
                base_url=key[0] or None, api_key=key[1] or "missing", timeout=key[2], max_retries=0
            )
            _clients[key] = client
        return client


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from LLM APIs, fall back to our own backoff


def _refuses_json_schema(exc: openai.BadRequestError) -> bool:
    message = str(exc).lower()
    return "response_format" in message or "json_schema" in message or "json schema" in message


class OpenAIProvider(Provider):
    name = "openai"
    external = True

    def __init__(self, model: str = "") -> None:
        self._model = model  # a configuration's model name; "" means LLM_MODEL

    @property
    def model(self) -> str:
        return self._model or str(settings.LLM_MODEL)

    def available(self) -> bool:
        return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)

    def _messages(self, request: TriageRequest, repair: Repair | None) -> list[dict[str, str]]:
        messages = [
            {"role": "system", "content": request.system_prompt},
            {"role": "user", "content": request.user_prompt_redacted},
        ]
        if repair is not None:
            messages += [
                {"role": "assistant", "content": repair.previous_content[:8000]},
                {"role": "user", "content": repair.instruction},
            ]
        return messages

    def complete(self, request: TriageRequest, *, repair: Repair | None = None) -> ProviderAnswer:
        messages = self._messages(request, repair)
        base_url = settings.OPENAI_BASE_URL or "default"
        use_schema = base_url not in _json_schema_refused
        record = json.dumps({"model": self.model, "messages": messages}, ensure_ascii=False)
        started = time.monotonic()
        try:
            try:
                response = self._create(messages, json_schema=use_schema)
            except openai.BadRequestError as exc:
                if not (use_schema and _refuses_json_schema(exc)):
                    raise
                _json_schema_refused.add(base_url)
                response = self._create(messages, json_schema=False)
        except openai.RateLimitError as exc:
            raise ProviderError(
                str(exc),
                error_class="RateLimitError",
                retryable=True,
                retry_after=_retry_after(exc),
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        except openai.APITimeoutError as exc:
            raise ProviderError(
                "timed out",
                error_class="APITimeoutError",
                retryable=True,
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(
                str(exc),
                error_class="APIConnectionError",
                retryable=True,
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        except openai.APIStatusError as exc:
            retryable = exc.status_code >= 500 or exc.status_code in {408, 409}
            raise ProviderError(
                str(exc)[:500],
                error_class=f"{type(exc).__name__}:{exc.status_code}",
                retryable=retryable,
                retry_after=_retry_after(exc),
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        except openai.OpenAIError as exc:
            raise ProviderError(
                str(exc)[:500],
                error_class=type(exc).__name__,
                retryable=False,
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # The body was not a chat completion (a proxy's HTML page, truncated JSON): treat it
            # like a transport fault, the next try usually succeeds.
            raise ProviderError(
                f"malformed response: {exc}"[:500],
                error_class="MalformedResponse",
                retryable=True,
                latency_ms=_ms(started),
                request_record=record,
            ) from exc
        latency = _ms(started)
        try:
            content = response.choices[0].message.content or ""
            usage = response.usage
        except (AttributeError, IndexError, TypeError) as exc:
            raise ProviderError(
                "malformed response: no choices",
                error_class="MalformedResponse",
                retryable=True,
                latency_ms=latency,
                request_record=record,
            ) from exc
        return ProviderAnswer(
            content=content,
            # The configured name, not the dated snapshot the API echoes: it keys LLM_PRICES.
            model=self.model,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_ms=latency,
            request_record=record,
        )

    def _create(self, messages: list[dict[str, str]], *, json_schema: bool) -> Any:
        response_format: dict[str, Any]
        if json_schema:
            response_format = {
                "type": "json_schema",
                "json_schema": {
                    "name": "triage",
                    "strict": True,
                    "schema": triage_output_json_schema(),
                },
            }
        else:
            response_format = {"type": "json_object"}
        # Plain dicts are what the API takes; the SDK's TypedDict overloads cannot see that.
        return _client().chat.completions.create(  # type: ignore[call-overload]
            model=self.model,
            messages=messages,
            response_format=response_format,
            temperature=0,
        )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
