"""The triage worker for real: Celery on Redis, a worker SIGKILLed mid-call, Redis down."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from support.models import OutboundMessage, Ticket
from support.services import dispatch_pending, ticket_create
from tests.conftest import wait_for
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer
from triage.models import TriageDecision
from triage.pipeline import triage_requeue_stuck, triage_run_execute
from triage.tasks import triage_ticket_task

REPO_ROOT = Path(__file__).resolve().parents[2]
DONE = {Ticket.Status.AWAITING_REVIEW, Ticket.Status.AUTO_REPLIED}


def _status(ticket: Ticket) -> str:
    return Ticket.objects.get(pk=ticket.pk).status


def _llm_env(fake_llm) -> dict[str, str]:
    """The worker subprocess talks to the same loopback model as the test."""
    return {
        "OPENAI_BASE_URL": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-test-loopback",
        "LLM_MODEL": fake_llm.model,
        "LLM_CHAIN": "openai",
        "LLM_TIMEOUT_SECONDS": "120",
        "LLM_MAX_RETRIES": "0",
        "LLM_PRICES": json.dumps({fake_llm.model: {"input": 1.0, "output": 2.0}}),
    }


def _test_database_url() -> str:
    db = connection.settings_dict
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.worker
def test_a_real_worker_triages_through_the_openai_provider(celery_worker, demo_tenant, fake_llm):
    fake_llm.default = lambda request: answer("card_arrival")
    ticket, _ = ticket_create(
        subject="Card",
        body_text="When does my card arrive?",
        customer_email="w@example.com",
        channel="email",
        source="email",
    )
    wait_for(lambda: _status(ticket) in DONE, timeout=30)
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert (decision.provider, decision.category_slug) == ("openai", "card_arrival")


@pytest.mark.postgres
@pytest.mark.worker
def test_a_worker_killed_mid_llm_call_leaves_one_decision_and_no_duplicate_reply(
    celery_worker_process, demo_tenant, fake_llm, settings
):
    # Given a worker stuck in a slow LLM call
    fake_llm.push(Reply(delay=60, content=answer("card_arrival")))
    fake_llm.default = lambda request: answer("card_arrival")
    doomed = celery_worker_process(extra_env=_llm_env(fake_llm))
    ticket, _ = ticket_create(
        subject="Card",
        body_text="My card has not arrived yet.",
        customer_email="k@example.com",
        channel="email",
        source="email",
    )
    wait_for(lambda: len(fake_llm.requests) >= 1, timeout=60)
    assert _status(ticket) == Ticket.Status.TRIAGING
    # When it is SIGKILLed in the middle of the call
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    # and the beat job finds the ticket stuck past TRIAGE_STUCK_SECONDS while a second worker runs
    celery_worker_process(extra_env=_llm_env(fake_llm))
    settings.TRIAGE_STUCK_SECONDS = 0
    assert triage_requeue_stuck() == 1
    wait_for(lambda: _status(ticket) in DONE, timeout=60)
    # and the killed task's message is redelivered as well
    twin = triage_ticket_task.apply_async((ticket.pk,), ignore_result=False)
    assert twin.get(timeout=30) == "skipped: not new"
    # Then the ticket was triaged exactly once
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1
    assert OutboundMessage.objects.filter(ticket=ticket).count() <= 1
    assert len(fake_llm.requests) == 2
    assert Ticket.objects.get(pk=ticket.pk).triage_attempts == 2


@pytest.mark.postgres
@pytest.mark.worker
def test_with_redis_down_tickets_wait_and_nothing_is_lost(celery_worker, demo_tenant, fake_llm):
    fake_llm.default = lambda request: answer("card_arrival")
    # Given an intake process whose Redis (broker and cache) is unreachable
    env = dict(os.environ, DATABASE_URL=_test_database_url(), REDIS_URL="redis://127.0.0.1:1/0")
    script = (
        "from support.services import ticket_create; "
        "t, _ = ticket_create(subject='Card', body_text='Card still not here', "
        "customer_email='r@example.com', "
        "channel='email', source='email'); print('TICKET', t.pk)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ticket = Ticket.objects.get(pk=int(out.stdout.split("TICKET")[-1]))
    # Then the ticket is stored and waits, undispatched
    assert ticket.status == Ticket.Status.NEW and ticket.triage_dispatched_at is None
    # When Redis is back, the sweeper sends it and a worker triages it
    assert dispatch_pending(older_than_seconds=0) == 1
    wait_for(lambda: _status(ticket) in DONE, timeout=30)
    assert TriageDecision.objects.filter(ticket=ticket, is_final=True).count() == 1


@pytest.mark.django_db
def test_with_the_cache_down_the_pipeline_still_triages(demo_tenant, fake_llm, settings):
    """Breaker and response cache live in Redis; when it is unreachable they fail open."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    fake_llm.push(Reply(status=500), Reply(content=answer("card_arrival")))
    ticket, _ = ticket_create(
        subject="Card",
        body_text="Where is my card?",
        customer_email="c@example.com",
        channel="email",
        source="email",
    )
    assert triage_run_execute(ticket_id=ticket.pk) == "awaiting_review"
    assert TriageDecision.objects.get(ticket=ticket, is_final=True).provider == "openai"
