"""Issue 13, point 2: the demo tenant and its publicly known password never reach production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from review.checks import demo_credentials_check
from review.demo.seeding import DemoRefusedInProduction, demo_seed
from support.models import Team, Ticket

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_seed_demo_refuses_in_production_and_writes_nothing(settings):
    settings.DJANGO_ENV = "production"

    with pytest.raises(CommandError, match="DJANGO_ENV=production.*createsuperuser"):
        call_command("seed_demo", "--tickets", "3")

    assert not get_user_model().objects.filter(username="admin").exists()
    assert Team.objects.count() == 0 and Ticket.objects.count() == 0


def test_the_seeding_service_itself_refuses_in_production(settings):
    settings.DJANGO_ENV = "production"

    with pytest.raises(DemoRefusedInProduction):
        demo_seed(ticket_count=0)

    assert get_user_model().objects.count() == 0


def test_seed_demo_still_seeds_outside_production(settings):
    settings.DJANGO_ENV = "development"

    call_command("seed_demo", "--tickets", "0")

    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()


@pytest.mark.django_db(transaction=True)
def test_manage_py_seed_demo_exits_non_zero_with_a_clear_message_in_production():
    # Given a production configuration pointed at the test database
    env = dict(os.environ)
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="a-production-secret-for-this-test-only-0123456789-abcdefghij",
        ALLOWED_HOSTS="switchboard.example",
    )
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        pytest.skip("the subprocess needs a database it can share (PostgreSQL)")

    # When the operator runs seed_demo
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--tickets", "1"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    # Then it refuses, says why and what to do, and created no demo admin
    assert result.returncode != 0
    assert "DJANGO_ENV=production" in result.stderr
    assert "createsuperuser" in result.stderr
    assert not get_user_model().objects.filter(username="admin").exists()


def test_check_deploy_fails_while_a_demo_user_keeps_the_demo_password(settings):
    # Given a database seeded on a laptop, then run with DJANGO_ENV=production
    call_command("seed_demo", "--tickets", "0")
    settings.DJANGO_ENV = "production"

    messages = demo_credentials_check()

    assert {message.obj for message in messages} == {"agent1", "agent2", "manager", "admin"}
    assert all(message.id == "review.E001" and "createsuperuser" in message.hint for message in messages)


def test_check_deploy_passes_once_the_demo_passwords_are_changed(settings):
    call_command("seed_demo", "--tickets", "0")
    settings.DJANGO_ENV = "production"
    for user in get_user_model().objects.all():
        user.set_password("a-real-secret-chosen-by-the-operator")
        user.save()

    assert demo_credentials_check() == []
