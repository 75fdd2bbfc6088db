"""Tickets reach the triage worker after commit, through Redis and a real worker."""

import pytest

from support.models import Ticket
from support.services import ticket_create
from tests.conftest import wait_for


@pytest.mark.worker
def test_a_new_ticket_is_triaged_by_a_real_worker(celery_worker, demo_tenant):
    ticket, created = ticket_create(subject="Card not arrived", body_text="I am still waiting on my card?",
                                    customer_email="ada@example.com", channel="email", source="email",
                                    external_id="<w1@example.com>")
    assert created
    wait_for(lambda: Ticket.objects.get(pk=ticket.pk).status not in {"new", "triaging"})
    assert Ticket.objects.get(pk=ticket.pk).triage_decisions.filter(is_final=True).count() == 1


@pytest.mark.django_db
def test_a_retried_delivery_returns_the_same_ticket(demo_tenant):
    first, created_first = ticket_create(subject="s", body_text="b", customer_email="a@example.com",
                                         channel="webhook", source="shop", external_id="order-1")
    again, created_again = ticket_create(subject="s", body_text="b", customer_email="a@example.com",
                                         channel="webhook", source="shop", external_id="order-1")
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert Ticket.objects.count() == 1


def test_a_fresh_process_on_the_embedded_stack_triages_the_tickets_it_creates(tmp_path):
    # Given a process that never imported the task modules (a web worker, a management command)
    # on the embedded defaults: SQLite, no Redis, tasks run in-process
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VAR_DIR=str(tmp_path), LLM_CHAIN="local", DJANGO_ENV="development")

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    manage("migrate", "--noinput")
    # When it creates a ticket, the triage task is found by its name and runs
    out = manage("shell", "-c", (
        "from support.services import ticket_create\n"
        "t, _ = ticket_create(subject='Card', body_text='Where is my card?', customer_email='f@example.com',"
        " channel='email', source='email')\n"
        "t.refresh_from_db(); print('STATUS', t.status)"
    ))
    # Then the ticket is not left waiting for a sweeper the embedded stack doesn't run
    assert out.split("STATUS")[-1].strip() == "awaiting_review"
