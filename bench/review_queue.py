# ruff: noqa: E501  (SQL and table rows read better unwrapped)
"""Review queue benchmark: server time and SQL query count of the queue and ticket pages with
1,000,000 tickets in PostgreSQL.

Usage (from the repository root; needs a PostgreSQL server, creates its own database):

    .venv/bin/python bench/review_queue.py [--database sb_bench] [--tickets 1000000]
        [--awaiting-every 50] [--repeat 30] [--host 127.0.0.1] [--port 5432] [--user postgres]

It creates the database if missing, migrates it, seeds the demo tenant (teams, 77 categories,
users) and generates the tickets with ``INSERT … SELECT generate_series`` (one inbound message and
one final TriageDecision per ticket; every ``--awaiting-every``-th ticket awaits review, the rest
are replied/closed). Generation runs once; later runs reuse the data. Pages are requested
in-process through Django's test client (server time: URL resolving, middleware, queries,
template rendering; no network), each ``--repeat`` times after a warm-up, and the script prints a
Markdown table: p50/p95/max milliseconds and the number of SQL queries per request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sb_bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument(
        "--awaiting-every", type=int, default=50, help="every Nth ticket awaits review"
    )
    parser.add_argument("--repeat", type=int, default=30)
    return parser.parse_args()


def database_ensure(args: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(
        host=args.host, port=args.port, user=args.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [args.database]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.database}"')


def generate(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from review.demo.seeding import demo_seed

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM support_ticket")
        have = cursor.fetchone()[0]
    if have >= args.tickets:
        print(f"reusing {have:,} tickets in {args.database}", file=sys.stderr)
        return
    started = time.perf_counter()
    demo_seed(ticket_count=0)
    customers = max(1000, args.tickets // 5)
    every = args.awaiting_every
    statements = [
        "TRUNCATE support_ticket, support_customer RESTART IDENTITY CASCADE",
        f"""INSERT INTO support_customer (email, name, vip, created_at)
            SELECT 'customer' || g || '@bench.example', 'Customer ' || g, g % 97 = 0, now()
            FROM generate_series(1, {customers}) g""",
        f"""INSERT INTO support_ticket (subject, channel, status, priority, customer_id, category_id, team_id,
                language, source, external_id, callback_url, metadata, review_reasons, risk_flags, sla_escalated,
                escalated_to_manager, first_response_due_at, triage_attempts, created_at, updated_at)
            SELECT 'Bench ticket ' || g, 'email',
                   CASE WHEN g % {every} = 0 THEN 'awaiting_review'
                        WHEN g % 3 = 0 THEN 'auto_replied' WHEN g % 3 = 1 THEN 'replied' ELSE 'closed' END,
                   (ARRAY['low','normal','high','urgent'])[1 + g % 4],
                   1 + g % {customers},
                   cat.ids[1 + g % array_length(cat.ids, 1)],
                   cat.teams[1 + g % array_length(cat.ids, 1)], 'en', 'bench', 'bench-' || g, '', '{{}}'::jsonb,
                   CASE WHEN g % {every} <> 0 THEN '[]'::jsonb
                        ELSE (ARRAY['["low_confidence"]', '["high_stakes"]', '["injection_suspected", "low_confidence"]',
                                    '["no_calibrated_threshold"]', '["vip_customer", "high_stakes"]'])[1 + (g / {every}) % 5]::jsonb END,
                   '[]'::jsonb, false, false,
                   now() + make_interval(mins => ((g * 7) % 1440) - 120),
                   1, now() - make_interval(secs => {args.tickets} - g), now()
            FROM generate_series(1, {args.tickets}) g,
                 (SELECT array_agg(id ORDER BY id) AS ids, array_agg(default_team_id ORDER BY id) AS teams
                  FROM support_category) cat""",
        """INSERT INTO support_message (ticket_id, direction, author_email, author_name, body_text, body_html,
                body_for_model, headers, message_id, in_reply_to, "references", is_automated, created_at)
            SELECT t.id, 'in', 'customer@bench.example', 'Customer',
                   'Hello, this is bench ticket ' || t.id || '. My card has not arrived yet, can you help?',
                   '', 'bench', '{}'::jsonb, '<bench-' || t.id || '@bench.example>', '', '', false, t.created_at
            FROM support_ticket t""",
        """INSERT INTO triage_triagedecision (ticket_id, attempt, provider, model, prompt_version, input_hash,
                request_redacted, response_redacted, category_slug, priority, sentiment, language, team_slug,
                confidence, high_stakes_probability, reply_draft, citations, risk_flags, flag_details, rationale,
                needs_review, review_reasons, is_final, succeeded, tokens_in, tokens_out, cost_usd, latency_ms,
                cache_hit, fallback_reason, error_class, created_at)
            SELECT t.id, 1, 'openai', 'gpt-4o-mini', 'triage@v1', md5(t.id::text), '', '', c.slug, t.priority,
                   'neutral', 'en', '', ((t.id * 37) % 100) / 100.0, 0.01,
                   'Hello,\n\nThanks for writing. Cards usually arrive within 5 working days.\n\nBest regards',
                   '[]'::jsonb, '[]'::jsonb, '{}'::jsonb, '', t.status = 'awaiting_review', t.review_reasons,
                   true, true, 400, 120, 0.0001, 900, false, '', '', t.created_at
            FROM support_ticket t LEFT JOIN support_category c ON c.id = t.category_id""",
        "VACUUM ANALYZE",
    ]
    connection.ensure_connection()
    connection.connection.autocommit = True  # VACUUM cannot run inside a transaction block
    with connection.cursor() as cursor:
        for sql in statements:
            step = time.perf_counter()
            cursor.execute(sql)
            print(
                f"  {sql.split()[0]} {sql.split()[2] if len(sql.split()) > 2 else ''}: "
                f"{time.perf_counter() - step:.1f}s",
                file=sys.stderr,
            )
    print(
        f"generated {args.tickets:,} tickets in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )


def measure(client: Any, url: str, repeat: int, cold_counts: bool = False) -> dict[str, float]:
    """Time ``repeat`` GETs of ``url``. ``cold_counts`` empties the cache before each request, so
    the per-filter counts (cached 15 s in normal use) are recomputed every time."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = client.get
    for _ in range(3):  # warm-up: template loading, connection, plan caches
        assert call(url).status_code in (200, 302), url
    timings, queries = [], []
    for _ in range(repeat):
        if cold_counts:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = call(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 302), (url, response.status_code)
        queries.append(len(captured))
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[max(0, int(round(0.95 * len(timings))) - 1)],
        "max": timings[-1],
        "queries_min": min(queries),
        "queries_max": max(queries),
    }


def django_on_bench_database(args: argparse.Namespace) -> None:
    """Create the bench database if needed and set Django up on it, without Redis."""
    database_ensure(args)
    os.environ["DATABASE_URL"] = f"postgresql://{args.user}@{args.host}:{args.port}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")
    os.environ.pop("REDIS_URL", None)  # local-memory cache, eager Celery: nothing else is measured
    import django

    django.setup()


def main() -> None:
    args = parse_args()
    django_on_bench_database(args)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from support.models import Ticket

    generate(args)
    total = Ticket.objects.count()
    awaiting = Ticket.objects.filter(status=Ticket.Status.AWAITING_REVIEW).count()
    agent = get_user_model().objects.get(username="agent1")
    Ticket.objects.filter(claimed_by=agent).update(
        claimed_by=None, claimed_at=None, claim_expires_at=None
    )
    client = Client()
    client.force_login(agent)
    some_ticket = (
        Ticket.objects.filter(status=Ticket.Status.AWAITING_REVIEW)
        .order_by("first_response_due_at")
        .first()
    )
    assert some_ticket is not None

    scenarios = [
        # (name, url, htmx, cold counts)
        ("queue, 10 rows", "/review/?limit=10", False, False),
        ("queue, 50 rows (default)", "/review/", False, False),
        ("queue, 200 rows", "/review/?limit=200", False, False),
        ("queue, 10 rows, counts recomputed", "/review/?limit=10", False, True),
        ("queue, 50 rows, counts recomputed", "/review/", False, True),
        ("queue, 200 rows, counts recomputed", "/review/?limit=200", False, True),
        ("queue, htmx refresh of 50 rows", "/review/", True, False),
        ("queue, filter category + priority", "/review/?category=card_arrival&priority=high", False, False),
        ("queue, filter review reason", "/review/?reason=injection_suspected", False, False),
        ("queue, filter SLA breached", "/review/?sla=breached", False, False),
        ("queue, filter confidence low", "/review/?confidence=low", False, False),
        ("queue, page 20 (offset 950)", "/review/?offset=950", False, False),
        ("ticket page", f"/review/t/{some_ticket.pk}/", False, False),
    ]
    print(f"\n{total:,} tickets, {awaiting:,} awaiting review; {args.repeat} requests per row after 3 warm-ups\n")
    print("| request | p50 ms | p95 ms | max ms | SQL queries |")
    print("|---|---:|---:|---:|---:|")
    htmx_client = Client(HTTP_HX_REQUEST="true")
    htmx_client.force_login(agent)
    for name, url, htmx, cold in scenarios:
        result = measure(htmx_client if htmx else client, url, args.repeat, cold_counts=cold)
        queries = (f"{result['queries_min']}" if result["queries_min"] == result["queries_max"]
                   else f"{result['queries_min']}–{result['queries_max']}")
        print(f"| {name} | {result['p50']:.1f} | {result['p95']:.1f} | {result['max']:.1f} | {queries} |",
              flush=True)

    # Next ticket: claim (SELECT … FOR UPDATE SKIP LOCKED) then hand back, so the queue is unchanged.
    from review.services import review_claim_next, review_release

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        claimed = review_claim_next(agent=agent).ticket
        timings.append((time.perf_counter() - started) * 1000)
        assert claimed is not None
        review_release(ticket_id=claimed.pk, agent=agent)
    timings.sort()
    print(
        f"| Next ticket claim (service) | {statistics.median(timings):.1f} | "
        f"{timings[max(0, int(round(0.95 * len(timings))) - 1)]:.1f} | {timings[-1]:.1f} | — |"
    )


if __name__ == "__main__":
    main()
