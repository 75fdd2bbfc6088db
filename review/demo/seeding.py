"""The demo tenant seeding service. Idempotent: every row is keyed by a natural key."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from review.demo import tenant as demo
from review.demo.history import DEMO_HISTORY_DAYS, DRIFT_DAYS, demo_history_seed
from review.monitoring.services import drift_checks_run
from support.models import AgentProfile, Alert, AutomationPolicy, Category, Priority, SlaPolicy, Team
from support.roles import roles_ensure
from support.services import ticket_create
from triage.kb.services import kb_import_demo

# The drift panel of a fresh demo shows this many daily runs of the checks.
DRIFT_PANEL_DAYS = 7

SLA_DEFAULTS = {
    Priority.URGENT: (60, 8 * 60),
    Priority.HIGH: (4 * 60, 24 * 60),
    Priority.NORMAL: (8 * 60, 3 * 24 * 60),
    Priority.LOW: (24 * 60, 7 * 24 * 60),
}


class DemoRefusedInProduction(Exception):
    """The demo tenant (and its well-known password) must never reach a production database."""


def demo_refuse_in_production() -> None:
    """Raise ``DemoRefusedInProduction`` when ``DJANGO_ENV=production``. Every path that writes
    demo data or a demo credential calls this first."""
    if settings.DJANGO_ENV == "production":
        raise DemoRefusedInProduction(
            "Refusing to seed demo data: DJANGO_ENV=production. The demo users (admin, manager, "
            "agents) share a publicly known password. Create an administrator with "
            "`python manage.py createsuperuser` instead."
        )


def _demo_users() -> int:
    demo_refuse_in_production()
    groups = roles_ensure()
    User = get_user_model()
    created = 0
    for username, role in demo.USERS:
        user, was_created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@switchboard.localhost"}
        )
        if was_created:
            user.set_password(demo.DEMO_PASSWORD)
            created += 1
        user.is_staff = role in {"manager", "admin"}
        user.is_superuser = role == "admin"
        user.save()
        user.groups.set([groups[role]])
    return created


def _demo_teams_and_categories() -> tuple[int, int]:
    teams = {}
    for spec in demo.TEAMS:
        team, _ = Team.objects.update_or_create(
            slug=spec.slug,
            defaults={"name": spec.name, "email": f"{spec.slug}-team@switchboard.localhost", "languages": ["en"]},
        )
        teams[spec.slug] = team
    team_for = demo.team_for_label()
    for label in demo.labels():
        slug = demo.category_slug(label)
        high_stakes = label in demo.HIGH_STAKES
        Category.objects.update_or_create(
            slug=slug,
            defaults={
                "name": label.replace("_", " ").rstrip("?").capitalize(),
                "default_team": teams[team_for[label]],
                "high_stakes": high_stakes,
                "automation_policy": AutomationPolicy.ALWAYS_REVIEW
                if high_stakes
                else AutomationPolicy.AUTO_SEND_WHEN_CONFIDENT,
            },
        )
    User = get_user_model()
    for username in ("agent1", "agent2", "manager"):
        profile, _ = AgentProfile.objects.get_or_create(user=User.objects.get(username=username))
        profile.teams.set(teams.values())
    for priority, (first, resolution) in SLA_DEFAULTS.items():
        SlaPolicy.objects.get_or_create(
            priority=priority, defaults={"first_response_minutes": first, "resolution_minutes": resolution}
        )
    return len(teams), Category.objects.count()


def _demo_tickets(count: int, *, progress: bool = False) -> int:
    created = 0
    rows = demo.demo_rows(count)
    for index, (text, _label) in enumerate(tqdm(rows, desc="demo tickets", unit="ticket", disable=not progress)):
        first = demo.FIRST_NAMES[index % len(demo.FIRST_NAMES)]
        last = demo.LAST_NAMES[(index // len(demo.FIRST_NAMES)) % len(demo.LAST_NAMES)]
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        message_id = f"<demo-{index}-{digest}@customers.northwind.example>"
        _ticket, was_created = ticket_create(
            subject=text[:70],
            body_text=f"Hi,\n\n{text}\n\nThanks,\n{first}",
            customer_email=f"{first}.{last}.{index % 97}@customers.northwind.example".lower(),
            customer_name=f"{first} {last}",
            channel="email",
            source="email",
            external_id=message_id,
            message_id=message_id,
            headers={"From": f"{first} {last} <{first.lower()}@customers.northwind.example>"},
            actor_label="seed_demo",
        )
        created += int(was_created)
    return created


def demo_seed(
    *, ticket_count: int | None = None, history_days: int | None = None, progress: bool = False
) -> dict[str, int]:
    """Seed the demo tenant; raises ``DemoRefusedInProduction`` when ``DJANGO_ENV=production``.

    ``ticket_count`` fresh tickets arrive today (the worker triages them). ``history_days`` of
    already-handled history come before them (review/demo/history.py); by default 60 days for the
    full demo (no ``ticket_count`` given) and none when a caller asks for a number of tickets."""
    demo_refuse_in_production()
    with transaction.atomic():
        users = _demo_users()
        teams, categories = _demo_teams_and_categories()
    articles = _demo_kb()
    if history_days is None:
        history_days = DEMO_HISTORY_DAYS if ticket_count is None else 0
    history = demo_history_seed(days=history_days, progress=progress)
    tickets = _demo_tickets(ticket_count if ticket_count is not None else demo.DEMO_TICKET_COUNT, progress=progress)
    drift_alert = demo_drift_alert_raise() if history else False
    return {"users created": users, "teams": teams, "categories": categories,
            "kb articles": articles, "history tickets created": history, "tickets created": tickets,
            "drift alert raised": int(drift_alert)}


def demo_drift_alert_raise() -> bool:
    """Run the drift checks (review.monitoring) as the hourly beat job would have on each of the
    last ``DRIFT_PANEL_DAYS`` days, so the dashboard's drift panel has a line to show, and raise
    the alert of the history's drift episode (``review.demo.history.DRIFT_LABEL`` triples over
    its last days and its confidence drops). True when a drift alert is open afterwards."""
    now = timezone.now()
    # The demo desk gets ~18 tickets a day, too few for a one-day recent window to reach
    # DRIFT_MIN_SAMPLES; a small desk sets DRIFT_RECENT_HOURS to span a few days, as here.
    for days_ago in range(DRIFT_PANEL_DAYS - 1, -1, -1):
        drift_checks_run(now=now - timedelta(days=days_ago), recent_hours=24 * DRIFT_DAYS)
    return Alert.objects.filter(kind=Alert.Kind.DRIFT, acknowledged_by__isnull=True).exists()


def _demo_kb() -> int:
    """Import the demo knowledge base shipped in triage/kb/demo/ (see triage.kb.services)."""
    return kb_import_demo()
