# ruff: noqa: E501  (table rows read better unwrapped)
"""Policy / SLA / calibration benchmark: how long the once-a-minute SLA beat job, the threshold
calibration and a policy decision take at volume, in PostgreSQL.

Usage (from the repository root; needs a PostgreSQL server; creates its own database):

    .venv/bin/python bench/policy_sla.py [--database sb_policy_bench] [--tickets 50000]
        [--business-hours-share 0.1] [--repeat 5] [--host 127.0.0.1] [--port 5432] [--user postgres]

It (re)creates the tickets each run: ``--tickets`` open tickets awaiting review spread over the
four priorities with due times already applied, ``--business-hours-share`` of them in a team with
business hours (checked in Python) and the rest round the clock (narrowed in SQL), about 1% at
risk; plus one final TriageDecision and one ReviewOutcome per ticket for calibration. Then it
prints a Markdown table: the first SLA run (which escalates the at-risk tickets), the steady
state (nothing new to escalate) p50/max, calibration over all reviewed decisions, and the cost of
one policy_evaluate call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sb_policy_bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--business-hours-share", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=5)
    return parser.parse_args()


def database_ensure(args: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(host=args.host, port=args.port, user=args.user, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone():
            conn.execute(f'CREATE DATABASE "{args.database}"')


def main() -> None:
    args = parse_args()
    database_ensure(args)
    os.environ["DATABASE_URL"] = f"postgresql://{args.user}@{args.host}:{args.port}/{args.database}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from review.calibration import thresholds_calibrate
    from review.models import ReviewOutcome
    from support.models import Category, Customer, Priority, SlaPolicy, Team, Ticket
    from triage.models import TriageDecision
    from triage.policy import policy_evaluate
    from triage.sla import sla_escalate_due

    # --- data ---
    Ticket.objects.all().delete()
    team, _ = Team.objects.get_or_create(slug="bench-247", defaults={"name": "Round the clock"})
    office, _ = Team.objects.get_or_create(slug="bench-office", defaults={"name": "Office hours"})
    office.business_hours = {"timezone": "Europe/London", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
    office.save()
    categories = [Category.objects.get_or_create(slug=f"bench_{index}", defaults={"name": f"bench {index}", "default_team": team})[0]
                  for index in range(20)]
    minutes = {Priority.LOW: 1440, Priority.NORMAL: 480, Priority.HIGH: 240, Priority.URGENT: 60}
    for priority, first in minutes.items():
        SlaPolicy.objects.update_or_create(priority=priority, defaults={"first_response_minutes": first,
                                                                        "resolution_minutes": first * 9})
    customer, _ = Customer.objects.get_or_create(email="bench@example.com")
    reviewer, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    now = timezone.now()
    priorities = list(minutes)
    started = time.perf_counter()
    batch = 5000
    for offset in range(0, args.tickets, batch):
        rows = []
        for index in range(offset, min(offset + batch, args.tickets)):
            priority = priorities[index % 4]
            # Spread due times from "just due" to "whole window left"; ~1% inside the at-risk tail.
            left = minutes[priority] * (0.15 if index % 100 == 0 else 0.25 + 0.75 * ((index * 7919) % 1000) / 1000)
            in_office = (index % 1000) < args.business_hours_share * 1000
            rows.append(Ticket(subject=f"bench {index}", channel="email", source="bench", customer=customer,
                               status=Ticket.Status.AWAITING_REVIEW, priority=priority,
                               team=office if in_office else team, category=categories[index % 20],
                               first_response_due_at=now + timedelta(minutes=left),
                               resolution_due_at=now + timedelta(minutes=minutes[priority] * 9)))
        tickets = Ticket.objects.bulk_create(rows)
        decisions = TriageDecision.objects.bulk_create([
            TriageDecision(ticket=ticket, provider="local", category_slug=ticket.category.slug,
                           confidence=0.5 + 0.5 * ((ticket.pk * 7919) % 1000) / 1000, is_final=True)
            for ticket in tickets
        ])
        ReviewOutcome.objects.bulk_create([
            ReviewOutcome(ticket=ticket, decision=decision, reviewer=reviewer,
                          verdict="rejected" if (ticket.pk % 97 == 0 and decision.confidence < 0.8) else "approved",
                          ai_category_slug=decision.category_slug, final_category_slug=decision.category_slug,
                          edit_distance=0.05)
            for ticket, decision in zip(tickets, decisions, strict=True)
        ])
    generation = time.perf_counter() - started

    # --- measurements ---
    def timed(function: object) -> tuple[float, int, object]:
        queries_before = len(connection.queries)
        start = time.perf_counter()
        result = function()  # type: ignore[operator]
        return time.perf_counter() - start, len(connection.queries) - queries_before, result

    from django.conf import settings

    settings.DEBUG = True  # count queries
    first_seconds, first_queries, escalated = timed(lambda: sla_escalate_due(now=now))
    steady = [timed(lambda: sla_escalate_due(now=now)) for _ in range(args.repeat)]
    settings.DEBUG = False
    calibration_seconds, _, calibrations = timed(lambda: thresholds_calibrate(target_error=0.02))
    ticket = Ticket.objects.select_related("customer").first()
    category = categories[0]
    category.auto_threshold = 0.9
    calls = 20_000
    start = time.perf_counter()
    for _ in range(calls):
        policy_evaluate(ticket=ticket, category=category, team=team, confidence=0.95, high_stakes_probability=0.01,
                        risk_flags=[], chain_healthy=True)
    policy_us = (time.perf_counter() - start) / calls * 1e6

    calibrated = sum(1 for row in calibrations if row.choice.threshold is not None)  # type: ignore[attr-defined]
    print(f"\n{args.tickets:,} open tickets ({args.business_hours_share:.0%} with business hours), generated in {generation:.1f}s\n")
    print("| measurement | result |")
    print("|---|---|")
    print(f"| sla_escalate_due, first run (escalates {escalated:,}) | {first_seconds * 1000:.0f} ms, {first_queries:,} queries |")
    steady_ms = [seconds * 1000 for seconds, _, _ in steady]
    print(f"| sla_escalate_due, steady state (p50 / max of {args.repeat}) | {statistics.median(steady_ms):.0f} / {max(steady_ms):.0f} ms, {steady[-1][1]} queries |")
    print(f"| thresholds_calibrate over {args.tickets:,} reviewed decisions ({calibrated} of {len(calibrations)} categories calibrated) | {calibration_seconds * 1000:.0f} ms |")  # type: ignore[arg-type]
    print(f"| policy_evaluate, one call | {policy_us:.1f} µs |")


if __name__ == "__main__":
    main()
