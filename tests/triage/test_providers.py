"""The provider chain through the real openai SDK against the loopback server: retries,
timeouts, malformed and invalid answers, repair, fallback, JSON mode, breaker, budget, cache."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from tenacity import RetryCallState

from support.models import Ticket
from support.services import ticket_create
from tests.conftest import wait_for
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer
from triage.models import Alert, TriageDecision
from triage.pipeline import triage_run_execute
from triage.providers import chain_healthy
from triage.providers.base import ProviderError, TriageRequest
from triage.providers.chain import Attempt, _wait, chain_run

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_local_model(settings, tmp_path):
    settings.CLASSIFIER_DIR = tmp_path / "no-models"


@pytest.fixture
def fast_retries(settings):
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_RETRY_AFTER_CAP_SECONDS = 0.05


_counter = iter(range(10_000))


def _ticket(body: str = "When will my new card arrive?") -> Ticket:
    ticket, _ = ticket_create(
        subject="Card",
        body_text=f"{body} (#{next(_counter)})",
        customer_email="ada@example.com",
        customer_name="Ada",
        channel="email",
        source="email",
    )
    return ticket


def _final(ticket: Ticket) -> TriageDecision:
    return TriageDecision.objects.get(ticket=ticket, is_final=True)


def _failed(ticket: Ticket) -> list[TriageDecision]:
    return list(TriageDecision.objects.filter(ticket=ticket, is_final=False).order_by("attempt"))


def _state(exc: Exception, attempt: int = 1) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt

    def fail() -> None:
        raise exc

    state.set_exception((type(exc), exc, None))
    return state


def test_retry_after_is_honoured_up_to_the_cap(settings):
    settings.LLM_RETRY_AFTER_CAP_SECONDS = 3.0
    assert (
        _wait(
            _state(
                ProviderError("429", error_class="RateLimitError", retryable=True, retry_after=1.5)
            )
        )
        == 1.5
    )
    assert (
        _wait(
            _state(
                ProviderError("429", error_class="RateLimitError", retryable=True, retry_after=120)
            )
        )
        == 3.0
    )
    # Without Retry-After: exponential backoff with jitter, never above the cap
    waits = [
        _wait(_state(ProviderError("500", error_class="x", retryable=True), attempt))
        for attempt in range(1, 9)
    ]
    assert all(0 < wait <= 3.0 for wait in waits)
    assert max(waits[4:]) > max(waits[:1])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fault",
    [
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(status=500),
        Reply(status=503),
        Reply(raw=b"<html><body>502 Bad Gateway</body></html>"),
        Reply(raw=b'{"choices": 3}'),
    ],
    ids=["429", "500", "503", "html-body", "garbage-json"],
)
def test_transient_faults_are_retried_and_the_ticket_is_triaged(
    demo_tenant, fake_llm, fast_retries, fault
):
    fake_llm.push(fault, Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = _final(ticket)
    assert (decision.provider, decision.category_slug) == ("openai", "card_arrival")
    assert len(fake_llm.requests) == 2
    assert _failed(ticket) == []


@pytest.mark.django_db
def test_a_timeout_is_retried(demo_tenant, fake_llm, fast_retries, settings):
    settings.LLM_TIMEOUT_SECONDS = 0.3
    fake_llm.push(Reply(delay=1.0, content=answer()), Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    assert _final(ticket).provider == "openai"
    assert len(fake_llm.requests) == 2


@pytest.mark.django_db
def test_not_json_gets_one_repair_attempt(demo_tenant, fake_llm):
    fake_llm.push(Reply(content="Sure! The category is card_arrival."), Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    assert _final(ticket).provider == "openai"
    [failed] = _failed(ticket)
    assert failed.error_class == "OutputInvalid"
    assert "card_arrival." in failed.response_redacted
    # The repair request shows the model its answer and what was wrong with it
    repair = fake_llm.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! The category is card_arrival."}
    assert "could not be used" in repair[-1]["content"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        answer(confidence=1.7),
        answer(priority="whenever"),
        answer(category="made_up_category"),
        answer(team="no_such_team"),
        answer(citations=[987654]),
        answer(confidence="0.9"),  # strict: a string is not a number
        json.dumps({"category": "card_arrival"}),
    ],
    ids=["confidence", "priority", "category", "team", "citation", "strict-type", "missing-fields"],
)
def test_invalid_output_twice_moves_to_the_next_provider(
    demo_tenant, fake_llm, trained_classifier, bad
):
    fake_llm.push(Reply(content=bad), Reply(content=bad))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = _final(ticket)
    assert decision.provider == "local"
    assert "openai: output invalid after repair" in decision.fallback_reason
    assert [row.error_class for row in _failed(ticket)] == ["OutputInvalid", "OutputInvalid"]
    assert len(fake_llm.requests) == 2


@pytest.mark.django_db
def test_when_every_provider_fails_a_human_gets_it_as_ai_unavailable(
    demo_tenant, fake_llm, no_local_model, settings
):
    settings.LLM_MAX_RETRIES = 0
    fake_llm.push(Reply(status=500))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.AWAITING_REVIEW
    assert ticket.review_reasons == ["ai_unavailable"]
    decision = _final(ticket)
    assert decision.provider == "none"
    assert "openai: InternalServerError:500" in decision.fallback_reason
    assert "local: no trained model" in decision.fallback_reason
    assert [row.provider for row in _failed(ticket)] == ["openai"]


@pytest.mark.django_db
def test_a_server_refusing_json_schema_gets_json_mode(demo_tenant, fake_llm):
    fake_llm.push(Reply(reject_json_schema=True), Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    assert _final(ticket).provider == "openai"
    first, second = (request["response_format"] for request in fake_llm.requests)
    assert first["type"] == "json_schema" and first["json_schema"]["strict"] is True
    assert second == {"type": "json_object"}
    # in JSON mode the model only knows the shape from the system prompt
    system = fake_llm.requests[1]["messages"][0]["content"]
    assert '"reply_draft"' in system and '"risk_flags"' in system


@pytest.mark.django_db
def test_cost_comes_from_usage_and_the_price_table(demo_tenant, fake_llm):
    fake_llm.push(Reply(content=answer(), prompt_tokens=1000, completion_tokens=500))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    decision = _final(ticket)
    # fake-model costs 1 USD / M input and 2 USD / M output tokens (fake_llm fixture)
    assert (decision.tokens_in, decision.tokens_out) == (1000, 500)
    assert decision.cost_usd == Decimal("0.002")


@pytest.mark.django_db
def test_an_identical_request_is_a_cache_hit_with_zero_cost(demo_tenant, fake_llm):
    fake_llm.default = lambda request: answer()
    first, _ = ticket_create(
        subject="Card",
        body_text="Where is my card?",
        customer_email="a@example.com",
        customer_name="Ann",
        channel="email",
        source="email",
    )
    # Same words, other spacing and case, another customer:
    # the normalised redacted request is identical
    second, _ = ticket_create(
        subject="Card",
        body_text="where is  my CARD?",
        customer_email="b@example.com",
        customer_name="Bob",
        channel="email",
        source="email",
    )
    triage_run_execute(ticket_id=first.pk)
    triage_run_execute(ticket_id=second.pk)
    assert len(fake_llm.requests) == 1
    hit = _final(second)
    assert (hit.cache_hit, hit.cost_usd, hit.tokens_in) == (True, 0, 0)
    assert _final(first).cache_hit is False and _final(first).cost_usd > 0
    # and the cached draft is addressed to the right customer
    assert "Bob" in hit.reply_draft and "Ann" not in hit.reply_draft


@pytest.mark.django_db
def test_the_daily_budget_routes_to_local_and_raises_one_alert(
    demo_tenant, fake_llm, trained_classifier, settings
):
    settings.LLM_DAILY_BUDGET_USD = 0.0001  # one fake-model call (0.0002 USD) exceeds it
    fake_llm.default = lambda request: answer()
    first, second, third = _ticket(), _ticket(), _ticket()
    triage_run_execute(ticket_id=first.pk)
    assert _final(first).provider == "openai"
    assert chain_healthy() is False
    triage_run_execute(ticket_id=second.pk)
    triage_run_execute(ticket_id=third.pk)
    assert len(fake_llm.requests) == 1
    for ticket in (second, third):
        decision = _final(ticket)
        assert decision.provider == "local"
        assert decision.fallback_reason == "openai: budget_exceeded"
        assert "provider_degraded" in decision.review_reasons
    assert Alert.objects.filter(kind=Alert.Kind.BUDGET_EXCEEDED).count() == 1


@pytest.mark.django_db
def test_the_circuit_breaker_opens_after_consecutive_failures(
    demo_tenant, fake_llm, no_local_model, settings
):
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_BREAKER_THRESHOLD = 2
    fake_llm.default = lambda request: "{}"
    fake_llm.push(Reply(status=500), Reply(status=500))
    tickets = [_ticket(), _ticket(), _ticket()]
    for ticket in tickets:
        triage_run_execute(ticket_id=ticket.pk)
    # Two failures open it: the third ticket never reaches the provider
    assert len(fake_llm.requests) == 2
    assert "openai: circuit_open" in _final(tickets[2]).fallback_reason
    assert chain_healthy() is False
    assert Alert.objects.filter(kind=Alert.Kind.PROVIDER_DOWN).count() == 1
    assert all(Ticket.objects.get(pk=t.pk).status == Ticket.Status.AWAITING_REVIEW for t in tickets)


@pytest.mark.django_db
def test_a_success_closes_the_breaker_after_the_cooldown(
    demo_tenant, fake_llm, no_local_model, settings
):
    from django.core.cache import cache

    from triage.providers.breaker import breaker_is_open, breaker_record_failure

    settings.LLM_BREAKER_THRESHOLD = 1
    assert breaker_record_failure("openai") is True
    assert breaker_is_open("openai")
    cache.delete("llm:breaker:openai:open_until")  # the cooldown is over (half-open)
    fake_llm.push(Reply(content=answer()))
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    assert _final(ticket).provider == "openai"
    assert cache.get("llm:breaker:openai:failures") is None


@pytest.mark.redis
@pytest.mark.django_db
def test_the_breaker_state_is_shared_by_every_worker_process(settings):
    """Another process (a second worker) sees the breaker this one opened, through Redis."""
    from triage.providers.breaker import breaker_record_failure

    settings.LLM_BREAKER_THRESHOLD = 1
    breaker_record_failure("openai")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="support.settings")
    probe = (
        "import django; django.setup(); from triage.providers.breaker import breaker_is_open; "
        "print(breaker_is_open('openai'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


def _request(text: str = "u") -> TriageRequest:
    return TriageRequest(
        ticket_id=1,
        prompt_version="t-1",
        system_prompt="s",
        user_prompt_redacted=text,
        ticket_text=text,
        customer_name="",
    )


def test_the_sdk_error_carries_retry_after_and_is_retryable(fake_llm):
    from triage.providers.openai_provider import OpenAIProvider

    fake_llm.push(Reply(status=429, headers={"Retry-After": "7"}))
    with pytest.raises(ProviderError) as caught:
        OpenAIProvider().complete(_request())
    assert (caught.value.error_class, caught.value.retryable, caught.value.retry_after) == (
        "RateLimitError",
        True,
        7.0,
    )


def test_the_json_schema_sent_is_in_the_strict_subset():
    from triage.schemas import TriageOutput, triage_output_json_schema

    schema = triage_output_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(TriageOutput.model_fields)
    assert "minimum" not in json.dumps(schema) and "pattern" not in json.dumps(schema)


# --- Honest error classes: the decision log says what failed, and whether the breaker was open ---


@dataclass(frozen=True)
class Fault:
    error_class: str
    arrange: str  # "429" | "closed-port" | "hang"


FAULTS = [
    Fault("RateLimitError", "429"),
    Fault("APIConnectionError", "closed-port"),
    Fault("APITimeoutError", "hang"),
]


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the probe is closed


@pytest.fixture
def storm(fake_llm, fast_retries, no_local_model, settings):
    """A provider that fails every call the given way; the breaker opens on the 3rd failure.

    With one retry per call, ticket 1 fails twice (breaker still closed), ticket 2's first failure
    opens it (its retry is dropped) and ticket 3 is skipped without a call."""
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_BREAKER_THRESHOLD = 3

    def arrange(fault: Fault) -> None:
        if fault.arrange == "429":
            fake_llm.push(*[Reply(status=429, headers={"Retry-After": "0"})] * 10)
        elif fault.arrange == "closed-port":
            settings.OPENAI_BASE_URL = _closed_port_url()
        else:
            settings.LLM_TIMEOUT_SECONDS = 0.2
            fake_llm.push(*[Reply(delay=0.6, content=answer())] * 10)

    return arrange


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.arrange for fault in FAULTS])
def test_the_decision_log_of_a_storm_names_the_real_error(demo_tenant, fake_llm, storm, fault):
    storm(fault)
    tickets = [_ticket(), _ticket(), _ticket()]
    for ticket in tickets:
        triage_run_execute(ticket_id=ticket.pk)

    rows = [row for ticket in tickets for row in _failed(ticket)]
    assert [row.error_class for row in rows] == [fault.error_class] * 3  # never "CircuitOpen"
    closed, opened, skipped = (row.fallback_reason for row in rows)
    assert "circuit" not in closed
    assert opened.startswith("this failure opened the circuit breaker")
    assert skipped.startswith("circuit breaker open, call skipped; opened after 3 consecutive")
    assert f"by {fault.error_class}" in skipped
    assert f"openai: circuit_open ({fault.error_class})" in _final(tickets[2]).fallback_reason
    # 2 tries, then 1 (the breaker opened: no retry), then none
    if fault.arrange != "closed-port":
        assert len(fake_llm.requests) == 3
    alert = Alert.objects.get(kind=Alert.Kind.PROVIDER_DOWN)
    assert alert.details["error_class"] == fault.error_class


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.arrange for fault in FAULTS])
def test_each_failed_attempt_says_whether_the_breaker_was_open(fake_llm, storm, fault):
    from triage.providers.openai_provider import OpenAIProvider

    storm(fault)
    attempts: list[Attempt] = []
    for number in range(3):
        chain_run(
            providers=[OpenAIProvider()],
            request=_request(f"ticket {number}"),
            validate=lambda content: pytest.fail("no call may succeed"),
            repair_instruction=str,
            on_attempt=attempts.append,
        )
    assert [(a.error_class, a.breaker_open) for a in attempts] == [
        (fault.error_class, False),
        (fault.error_class, True),
        (fault.error_class, True),
    ]
    # the skipped call made no request
    assert (attempts[2].latency_ms, attempts[2].request_record) == (0, "")
    assert attempts[1].request_record != ""


@pytest.mark.django_db
def test_the_decision_log_row_records_breaker_open(demo_tenant, fake_llm, storm):
    storm(FAULTS[0])
    tickets = [_ticket(), _ticket(), _ticket()]
    for ticket in tickets:
        triage_run_execute(ticket_id=ticket.pk)
    rows = [row for ticket in tickets for row in _failed(ticket)]
    assert [(row.error_class, row.breaker_open) for row in rows] == [
        ("RateLimitError", False),
        ("RateLimitError", True),
        ("RateLimitError", True),
    ]


@pytest.mark.django_db
def test_a_breaker_opened_by_another_worker_is_explained(demo_tenant, fake_llm, no_local_model, settings):
    from triage.providers.breaker import breaker_record_failure

    settings.LLM_BREAKER_THRESHOLD = 1
    breaker_record_failure("openai", error_class="APITimeoutError", error="timed out")
    ticket = _ticket()
    triage_run_execute(ticket_id=ticket.pk)
    [row] = _failed(ticket)
    assert row.error_class == "APITimeoutError"
    assert row.fallback_reason.endswith("by APITimeoutError: timed out")
    assert fake_llm.requests == []


@pytest.mark.django_db
def test_retries_stop_with_the_real_error_when_another_worker_opens_the_breaker(fake_llm, settings):
    from django.core.cache import cache

    from triage.providers.openai_provider import OpenAIProvider

    settings.LLM_MAX_RETRIES = 2
    fake_llm.push(*[Reply(status=429, headers={"Retry-After": "0.5"})] * 3)

    def another_worker_opens_the_breaker() -> None:
        # While this call backs off after its first 429, another worker's failure opens it.
        wait_for(lambda: fake_llm.requests, timeout=10)
        tripped = {"failures": 5, "error_class": "APIConnectionError", "error": "refused"}
        cache.set_many(
            {"llm:breaker:openai:open_until": time.time() + 60, "llm:breaker:openai:tripped_by": tripped},
            timeout=60,
        )

    other = threading.Thread(target=another_worker_opens_the_breaker)
    other.start()
    attempts: list[Attempt] = []
    chain_run(
        providers=[OpenAIProvider()],
        request=_request(),
        validate=lambda content: pytest.fail("no call may succeed"),
        repair_instruction=str,
        on_attempt=attempts.append,
    )
    other.join(timeout=10)
    [attempt] = attempts
    # this call's own error, not the other worker's, and no further tries
    assert (attempt.error_class, attempt.breaker_open) == ("RateLimitError", True)
    assert attempt.error.startswith("circuit breaker opened, retries stopped")
    assert len(fake_llm.requests) == 1
