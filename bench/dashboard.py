# ruff: noqa: E501  (SQL and table rows read better unwrapped)
"""Manager dashboard benchmark: server time and SQL query count of /review/dashboard/ (with its
trend charts and tables) at 1,000,000 triage decisions in PostgreSQL.

Usage (from the repository root; needs a PostgreSQL server, creates its own database):

    .venv/bin/python bench/dashboard.py [--database sb_bench_dashboard] [--tickets 1000000]
        [--days 180] [--repeat 20] [--host 127.0.0.1] [--port 5432] [--user postgres]

It creates the database if missing, migrates it, seeds the demo tenant (teams, 77 categories,
users; no demo tickets or history) and generates the history with ``INSERT … SELECT
generate_series``, spread evenly over ``--days`` days: one ticket and one final TriageDecision
per ticket, an auto-sent reply for every third ticket, a reviewer's verdict for every other
ticket, audit grades, CSAT ratings. Then it rolls every day up with ``rollup_backfill`` (the
same code as the beat job and the command). Generation runs once; later runs reuse the data.
Pages are requested in-process through Django's test client (server time: middleware, queries,
template rendering; no network), ``--repeat`` times per row after 3 warm-ups; it prints a
Markdown table (p50/p95/max ms, SQL queries per request) and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from review_queue import django_on_bench_database, measure  # noqa: E402  (after the path is set)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sb_bench_dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--repeat", type=int, default=20)
    return parser.parse_args()


def generate(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from review.demo.seeding import demo_seed
    from review.rollups import rollup_backfill

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM triage_triagedecision")
        have = cursor.fetchone()[0]
    if have >= args.tickets:
        print(f"reusing {have:,} decisions in {args.database}", file=sys.stderr)
        return
    started = time.perf_counter()
    demo_seed(ticket_count=0, history_days=0)
    customers = max(1000, args.tickets // 5)
    spread = args.days * 86400 / args.tickets  # seconds between two tickets
    statements = [
        "TRUNCATE support_ticket, support_customer, review_dailyrollup RESTART IDENTITY CASCADE",
        f"""INSERT INTO support_customer (email, name, vip, created_at)
            SELECT 'customer' || g || '@bench.example', 'Customer ' || g, false, now()
            FROM generate_series(1, {customers}) g""",
        f"""INSERT INTO support_ticket (subject, channel, status, priority, customer_id, category_id, team_id,
                language, source, external_id, callback_url, metadata, review_reasons, risk_flags, sla_escalated,
                escalated_to_manager, first_response_due_at, first_responded_at, triage_attempts, created_at, updated_at)
            SELECT 'Bench ticket ' || g, (ARRAY['email','email','webhook','web'])[1 + g % 4],
                   CASE WHEN g % 3 = 0 THEN 'auto_replied' ELSE 'replied' END, 'normal',
                   1 + g % {customers}, cat.ids[1 + g % array_length(cat.ids, 1)],
                   cat.teams[1 + g % array_length(cat.ids, 1)], 'en', 'bench', 'bench-' || g, '', '{{}}'::jsonb,
                   '[]'::jsonb, '[]'::jsonb, false, false,
                   created + interval '8 hours', created + make_interval(mins => (g * 13) % 600), 1, created, created
            FROM (SELECT g, now() - make_interval(secs => ({args.tickets} - g) * {spread}) AS created
                  FROM generate_series(1, {args.tickets}) g) s,
                 (SELECT array_agg(id ORDER BY id) AS ids, array_agg(default_team_id ORDER BY id) AS teams
                  FROM support_category) cat""",
        """INSERT INTO triage_triagedecision (ticket_id, attempt, provider, model, prompt_version, input_hash,
                request_redacted, response_redacted, category_slug, priority, sentiment, language, team_slug,
                confidence, high_stakes_probability, reply_draft, citations, risk_flags, flag_details, rationale,
                needs_review, review_reasons, is_final, succeeded, tokens_in, tokens_out, cost_usd, latency_ms,
                cache_hit, fallback_reason, error_class, breaker_open, created_at)
            SELECT t.id, 1, 'openai', 'gpt-4o-mini', 'triage@v1', md5(t.id::text), '', '', c.slug, t.priority,
                   'neutral', 'en', '', ((t.id * 37) % 100) / 100.0, 0.01, 'Hello', '[]'::jsonb, '[]'::jsonb,
                   '{}'::jsonb, '', t.status <> 'auto_replied', '[]'::jsonb, true, true, 400, 120, 0.0001,
                   300 + (t.id * 7919) % 2500, false, CASE WHEN t.id % 50 = 0 THEN 'RateLimitError' ELSE '' END,
                   CASE WHEN t.id % 50 = 0 THEN 'RateLimitError' ELSE '' END, false, t.created_at
            FROM support_ticket t LEFT JOIN support_category c ON c.id = t.category_id""",
        """INSERT INTO support_outboundmessage (ticket_id, kind, status, idempotency_key, to_address, subject, body_text,
                email_message_id, in_reply_to, "references", auto_submitted, attempts, auto_retries, last_error,
                sent_at, created_at, updated_at)
            SELECT t.id, 'email', 'sent', 'bench:' || t.id, 'customer@bench.example', 'Re', 'Hello', '', '', '',
                   t.status = 'auto_replied', 1, 0, '', t.first_responded_at, t.first_responded_at, t.first_responded_at
            FROM support_ticket t""",
        """INSERT INTO review_reviewoutcome (ticket_id, decision_id, reviewer_id, verdict, overrides, ai_category_slug,
                final_category_slug, draft_text, sent_text, edit_distance, reason_code, note, decided_at, seconds_to_decision)
            SELECT d.ticket_id, d.id, u.id, CASE WHEN d.id % 10 = 0 THEN 'rejected' ELSE 'approved' END, '{}'::jsonb,
                   d.category_slug, CASE WHEN d.id % 17 = 0 THEN 'card_arrival' ELSE d.category_slug END, '', '',
                   (d.id % 5) / 10.0, '', '', d.created_at + interval '20 minutes', 60 + d.id % 900
            FROM triage_triagedecision d, (SELECT id FROM auth_user WHERE username = 'agent1') u
            WHERE d.needs_review AND d.id % 2 = 0""",
        """INSERT INTO review_auditsample (ticket_id, outbound_id, decision_id, category_slug, grade, reason_code,
                graded_at, created_at)
            SELECT o.ticket_id, o.id, NULL, 'card_arrival', CASE WHEN o.id % 40 = 0 THEN 'incorrect' ELSE 'correct' END,
                   '', o.created_at + interval '2 hours', o.created_at
            FROM support_outboundmessage o WHERE o.auto_submitted AND o.id % 10 = 0""",
        """INSERT INTO support_csatrating (outbound_id, ticket_id, rating, comment, source, auto_sent, created_at, updated_at)
            SELECT o.id, o.ticket_id, CASE WHEN o.id % 7 = 0 THEN 'bad' ELSE 'good' END, '', 'email_link',
                   o.auto_submitted, o.created_at + interval '3 hours', o.created_at + interval '3 hours'
            FROM support_outboundmessage o WHERE o.id % 4 = 0""",
        "VACUUM ANALYZE",
    ]
    connection.ensure_connection()
    connection.connection.autocommit = True  # VACUUM cannot run inside a transaction block
    with connection.cursor() as cursor:
        for sql in statements:
            step = time.perf_counter()
            cursor.execute(sql)
            print(f"  {' '.join(sql.split()[:3])}: {time.perf_counter() - step:.1f}s", file=sys.stderr, flush=True)
    step = time.perf_counter()
    rows = rollup_backfill(days=args.days + 1)
    print(f"  rollup_backfill --days {args.days + 1}: {rows:,} rows in {time.perf_counter() - step:.0f}s", file=sys.stderr)
    print(f"generated {args.tickets:,} tickets in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def panel_timings() -> str:
    """Where the page's time goes: each builder of ``dashboard_build`` alone."""
    import statistics

    from review.analytics import dashboard, tables, trends
    from review.analytics.drift import drift_history
    from review.analytics.windows import Window, window_for

    def drift(*, window: Window) -> object:
        return drift_history(days=window.days)

    window = window_for(days=90)
    builders = {
        "volume": dashboard.volume_panel, "quality": dashboard.quality_panel, "cost": dashboard.cost_panel,
        "drift": drift, "trends": trends.trends_build, "categories": tables.category_table,
        "agents": tables.agent_table, "paths": tables.path_table,
    }
    parts = []
    for name, build in builders.items():
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            build(window=window)
            samples.append((time.perf_counter() - started) * 1000)
        parts.append(f"{name} {statistics.median(samples):.0f}")
    return ", ".join(parts)


def main() -> None:
    args = parse_args()
    django_on_bench_database(args)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from review.models import DailyRollup
    from review.rollups import rollups_refresh
    from triage.models import TriageDecision

    generate(args)
    step = time.perf_counter()
    rollups_refresh()
    refresh_ms = (time.perf_counter() - step) * 1000
    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    print(f"\n{TriageDecision.objects.count():,} decisions over {args.days} days, "
          f"{DailyRollup.objects.count():,} roll-up rows; {args.repeat} requests per row after 3 warm-ups\n")
    print("| request | p50 ms | p95 ms | max ms | SQL queries |")
    print("|---|---:|---:|---:|---:|")
    for name, url in [
        ("dashboard, 7 days", "/review/dashboard/?days=7"),
        ("dashboard, 30 days", "/review/dashboard/?days=30"),
        ("dashboard, 90 days", "/review/dashboard/?days=90"),
        ("CSV export, per category, 90 days", "/review/dashboard/categories.csv?days=90"),
        ("CSV export, trends, 90 days", "/review/dashboard/trends.csv?days=90"),
    ]:
        result = measure(client, url, args.repeat)
        queries = (f"{result['queries_min']}" if result["queries_min"] == result["queries_max"]
                   else f"{result['queries_min']}–{result['queries_max']}")
        print(f"| {name} | {result['p50']:.1f} | {result['p95']:.1f} | {result['max']:.1f} | {queries} |", flush=True)
    print("\nper panel, 90 days (median of 5 calls, ms):", panel_timings(), flush=True)
    print(f"\nbeat job (rollups_refresh: today, yesterday, day -8): {refresh_ms:.0f} ms")
    print(f"uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
