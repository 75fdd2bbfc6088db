"""The dashboard's roll-ups and what the manager reads from them: trend charts, the per-category,
per-agent and per-path tables, cost per resolved ticket, CSAT, the CSV exports, and a query count
that does not grow with history. History is written as plain rows dated by hand, then rolled up by
the real writer (``review.rollups``), as the beat job does."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from review.models import DailyRollup, ReviewOutcome
from review.rollups import rollup_backfill, rollup_day_compute, rollups_refresh
from support.models import Category, CsatRating, OutboundMessage, Team, Ticket, TicketEvent
from tests.review.test_dashboard import _ago, _audit, _auto_reply, _text, _triaged

pytestmark = pytest.mark.django_db

URL = "/review/dashboard/"
Dim = DailyRollup.Dimension


@pytest.fixture
def manager_client(client: Any, manager_user: Any) -> Any:
    client.force_login(manager_user)
    return client


@pytest.fixture
def cards(db: None) -> Category:
    team = Team.objects.create(slug="cards", name="Cards")
    return Category.objects.create(slug="card_arrival", name="Card arrival", default_team=team, auto_threshold=0.9)


def _categorised(category: Category, *, days_ago: float, **fields: Any) -> Any:
    decision = _triaged(days_ago=days_ago, category_slug=category.slug, **fields)
    Ticket.objects.filter(pk=decision.ticket_id).update(category=category)
    decision.ticket.refresh_from_db()
    return decision


def _answered(ticket: Ticket, *, days_ago: float) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(first_responded_at=_ago(days_ago), status=Ticket.Status.REPLIED)


def _approved(decision: Any, reviewer: Any, *, days_ago: float, seconds: float, edit: float | None = None,
              final: str | None = None) -> ReviewOutcome:
    outcome = ReviewOutcome.objects.create(
        ticket=decision.ticket, decision=decision, reviewer=reviewer, verdict=ReviewOutcome.Decision.APPROVED,
        ai_category_slug=decision.category_slug, final_category_slug=final or decision.category_slug,
        edit_distance=edit, seconds_to_decision=seconds,
    )
    ReviewOutcome.objects.filter(pk=outcome.pk).update(decided_at=_ago(days_ago))
    return outcome


def _human_reply(ticket: Ticket) -> OutboundMessage:
    return OutboundMessage.objects.create(
        ticket=ticket, kind=OutboundMessage.Kind.EMAIL, idempotency_key=f"human:{ticket.pk}",
        to_address=ticket.customer.email, body_text="Here you go.", status=OutboundMessage.Status.SENT,
    )


def _rate(outbound: OutboundMessage, rating: str, *, days_ago: float) -> None:
    row = CsatRating.objects.create(outbound=outbound, ticket=outbound.ticket, rating=rating,
                                    source=CsatRating.Source.EMAIL_LINK, auto_sent=outbound.auto_submitted)
    CsatRating.objects.filter(pk=row.pk).update(updated_at=_ago(days_ago), created_at=_ago(days_ago))


def _day(days_ago: float) -> Any:
    return timezone.localdate(_ago(days_ago))


def _slice(day: Any, dimension: str, key: str = "") -> DailyRollup:
    return DailyRollup.objects.get(day=day, hour=DailyRollup.WHOLE_DAY, dimension=dimension, key=key)


# --- the writer ----------------------------------------------------------------------------------


def test_it_rolls_a_day_up_by_total_channel_category_agent_and_path(cards: Category, agent_user: Any) -> None:
    # Given one auto-sent ticket and one human-approved ticket, two days ago
    auto = _categorised(cards, days_ago=2, needs_review=False, cost_usd=Decimal("0.01"), latency_ms=100)
    _auto_reply(auto.ticket)
    OutboundMessage.objects.filter(ticket=auto.ticket).update(created_at=_ago(2))
    human = _categorised(cards, days_ago=2, cost_usd=Decimal("0.03"), latency_ms=300)
    _approved(human, agent_user, days_ago=2, seconds=120, edit=0.2)
    _triaged(days_ago=2, is_final=False, error_class="RateLimitError", cost_usd=Decimal("0"))

    rollup_day_compute(day=_day(2))

    total = _slice(_day(2), Dim.TOTAL)
    assert (total.tickets, total.triaged, total.auto_sent, total.attempts) == (3, 2, 1, 3)
    assert total.cost_usd == Decimal("0.04") and total.errors_rate_limit == 1
    assert total.latency_p50 == 100 and total.latency_p99 is not None
    assert _slice(_day(2), Dim.CHANNEL, "email").tickets == 3
    category = _slice(_day(2), Dim.CATEGORY, "card_arrival")
    assert (category.tickets, category.judged, category.agreed, category.auto_sent) == (2, 1, 1, 1)
    agent = _slice(_day(2), Dim.AGENT, str(agent_user.pk))
    assert (agent.decisions, agent.approved, agent.edited, agent.handling_seconds) == (1, 1, 1, 120.0)
    assert _slice(_day(2), Dim.PATH, "auto").cost_usd == Decimal("0.01")


def test_recomputing_a_day_replaces_its_rows(cards: Category) -> None:
    _categorised(cards, days_ago=1)
    first = rollup_day_compute(day=_day(1))
    _categorised(cards, days_ago=1)

    second = rollup_day_compute(day=_day(1))

    assert first == second == DailyRollup.objects.filter(day=_day(1)).count()
    assert _slice(_day(1), Dim.TOTAL).tickets == 2


def test_the_refresh_recomputes_today_and_yesterday_and_leaves_older_days_frozen(cards: Category) -> None:
    for days_ago in (0.01, 1, 3):
        _categorised(cards, days_ago=days_ago)
    rollup_backfill(days=5)
    for days_ago in (0.01, 1, 3):
        _categorised(cards, days_ago=days_ago)

    rollups_refresh()

    assert _slice(timezone.localdate(), Dim.TOTAL).tickets == 2
    assert _slice(_day(1), Dim.TOTAL).tickets == 2
    assert _slice(_day(3), Dim.TOTAL).tickets == 1  # frozen until a backfill
    assert DailyRollup.objects.filter(day=timezone.localdate(), hour__gte=0, dimension=Dim.TOTAL).exists()


def test_a_ticket_reopened_within_seven_days_is_answered_but_not_resolved(cards: Category) -> None:
    kept, reopened = _categorised(cards, days_ago=20), _categorised(cards, days_ago=20)
    for decision in (kept, reopened):
        _answered(decision.ticket, days_ago=19)
    event = TicketEvent.objects.create(ticket=reopened.ticket, verb="reopened", actor_label="intake")
    TicketEvent.objects.filter(pk=event.pk).update(created_at=_ago(16))

    rollup_day_compute(day=_day(19))

    total = _slice(_day(19), Dim.TOTAL)
    assert (total.answered, total.resolved) == (2, 1)


def test_sla_attainment_counts_first_responses_due_that_day(cards: Category) -> None:
    on_time, late = _categorised(cards, days_ago=3).ticket, _categorised(cards, days_ago=3).ticket
    Ticket.objects.filter(pk__in=[on_time.pk, late.pk]).update(first_response_due_at=_ago(2.5))
    Ticket.objects.filter(pk=on_time.pk).update(first_responded_at=_ago(2.9))
    Ticket.objects.filter(pk=late.pk).update(first_responded_at=_ago(2.4))

    rollup_day_compute(day=_day(2.5))

    total = _slice(_day(2.5), Dim.TOTAL)
    assert (total.sla_due, total.sla_met) == (2, 1)


# --- what the manager reads ----------------------------------------------------------------------


def _story(cards: Category, agent: Any) -> None:
    """Two auto-sent tickets (one rated good) and one approved after 30 minutes (rated bad)."""
    for days_ago in (3, 2):
        auto = _categorised(cards, days_ago=days_ago, needs_review=False, cost_usd=Decimal("0.02"))
        reply = _auto_reply(auto.ticket)
        _answered(auto.ticket, days_ago=days_ago)
        if days_ago == 3:
            _rate(reply, CsatRating.Rating.GOOD, days_ago=2)
    human = _categorised(cards, days_ago=2, cost_usd=Decimal("0.04"))
    _approved(human, agent, days_ago=2, seconds=1800)
    _answered(human.ticket, days_ago=2)
    _rate(_human_reply(human.ticket), CsatRating.Rating.BAD, days_ago=1)
    _audit("card_arrival", "incorrect", days_ago=2)
    rollup_backfill(days=10)


def test_cost_per_resolved_ticket_adds_human_time_at_the_hourly_rate(
    manager_client: Any, cards: Category, agent_user: Any, settings: Any
) -> None:
    settings.HUMAN_COST_PER_HOUR = 40.0
    _story(cards, agent_user)

    page = manager_client.get(URL, {"days": "7"}).content.decode()

    paths = _table(page, "paths-table")
    # auto: 0.04 USD / 2 resolved; human: (0.04 + 0.5 h × 40) / 1
    assert "Auto-sent 2 2 0.0400 0 0.0200 100.0% 1" in paths
    assert "Human-approved 1 1 0.0400 0.50 20.0400 0.0% 1" in paths
    assert "All replies 3 3 0.0800 0.50 6.6933 50.0% 2" in paths


def test_the_category_and_agent_tables_show_quality_threshold_and_csat(
    manager_client: Any, cards: Category, agent_user: Any
) -> None:
    Category.objects.filter(pk=cards.pk).update(braked=True)
    _story(cards, agent_user)

    page = manager_client.get(URL, {"days": "7"}).content.decode()

    categories = _table(page, "categories-table")
    # 3 tickets, 2 auto-sent; the audited ticket has no category of its own
    assert "card_arrival 3 66.7% 100.0% 0.0% 100.0% 0.90 Braked 50.0%" in categories
    agents = _table(page, "agents-table")
    assert f"{agent_user.username} 1 1800 s 0.0% 0.0% 0.0%" in agents


def test_trend_charts_are_svg_with_their_numbers_in_a_table_and_no_inline_style(
    manager_client: Any, cards: Category, agent_user: Any
) -> None:
    _story(cards, agent_user)

    response = manager_client.get(URL, {"days": "7"})
    page = response.content.decode()

    for chart_id in ("trend-volume", "trend-automation", "trend-agreement", "trend-audited-error", "trend-cost",
                     "trend-latency", "trend-errors", "trend-sla", "trend-backlog", "trend-csat", "trend-today"):
        figure = re.search(rf'<figure class="chart" id="{chart_id}">.*?</figure>', page, re.S)
        assert figure, chart_id
        assert "<details>" in figure.group(0) and "<table" in figure.group(0)
    assert page.count("<polyline") >= 5
    assert '<line class="band-bar"' in page  # the audited error's confidence interval
    assert " style=" not in page and "<script>" not in page
    assert "style-src 'self'" in response["Content-Security-Policy"]
    volume = re.search(r'<figure class="chart" id="trend-volume">.*?</figure>', page, re.S)
    assert volume and f"{_day(2).isoformat()} 2" in _text(_Html(volume.group(0)))


def test_each_table_exports_as_a_csv_attachment_with_the_page_numbers(
    manager_client: Any, cards: Category, agent_user: Any
) -> None:
    _story(cards, agent_user)

    for slug in ("categories", "agents", "paths", "trends"):
        response = manager_client.get(f"/review/dashboard/{slug}.csv", {"days": "7"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert response["Content-Disposition"] == f'attachment; filename="switchboard-{slug}-7d.csv"'
    rows = list(csv.reader(io.StringIO(manager_client.get("/review/dashboard/paths.csv?days=7").content.decode())))
    assert rows[0][:3] == ["Path", "Answered", "Resolved"]
    assert rows[3][0] == "All replies" and rows[3][1:3] == ["3", "3"]
    trend_rows = list(csv.reader(io.StringIO(manager_client.get("/review/dashboard/trends.csv?days=7").content.decode())))
    assert len(trend_rows) == 1 + 7


def test_an_unknown_table_is_a_404_and_agents_cannot_export(client: Any, manager_client: Any, agent_user: Any) -> None:
    assert manager_client.get("/review/dashboard/secrets.csv").status_code == 404
    client.force_login(agent_user)
    assert client.get("/review/dashboard/categories.csv").status_code == 403


def _history(agent: Any, *, tickets_per_day: int, days: int, categories: int) -> None:
    team, _ = Team.objects.get_or_create(slug="cards", defaults={"name": "Cards"})
    for index in range(categories):
        category, _ = Category.objects.get_or_create(slug=f"category_{index}", defaults={"name": "c", "default_team": team})
        for day in range(days):
            for _ in range(tickets_per_day):
                decision = _categorised(category, days_ago=day + 0.5)
                _approved(decision, agent, days_ago=day + 0.5, seconds=60)
                _rate(_human_reply(decision.ticket), CsatRating.Rating.GOOD, days_ago=day + 0.4)
    rollup_backfill(days=days + 1)


def test_the_dashboard_query_count_is_fixed_whatever_the_days_or_tickets(
    manager_client: Any, agent_user: Any, make_user: Any
) -> None:
    _history(agent_user, tickets_per_day=1, days=2, categories=1)
    with CaptureQueriesContext(connection) as small:
        assert manager_client.get(URL, {"days": "90"}).status_code == 200

    _history(make_user("agent_two"), tickets_per_day=3, days=25, categories=4)
    with CaptureQueriesContext(connection) as large:
        assert manager_client.get(URL, {"days": "90"}).status_code == 200

    assert DailyRollup.objects.count() > 100
    assert len(large.captured_queries) == len(small.captured_queries)


class _Html:
    """Lets ``_text`` (which reads ``response.content``) read a fragment."""

    def __init__(self, html: str) -> None:
        self.content = html.encode()


def _table(page: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert match, f"no table #{table_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))).strip()


def test_the_seven_day_window_starts_six_days_before_today(manager_client: Any) -> None:
    rows = list(csv.reader(io.StringIO(manager_client.get("/review/dashboard/trends.csv?days=7").content.decode())))

    assert rows[1][0] == (timezone.localdate() - timedelta(days=6)).isoformat()
    assert rows[-1][0] == timezone.localdate().isoformat()


def test_a_missing_day_breaks_the_line_and_a_lone_point_becomes_a_dot() -> None:
    from review.analytics.charts import Chart, Series

    chart = Chart("c", "Chart", "percent", ["d1", "d2", "d3", "d4", "d5"],
                  [Series("s", [0.5, 1.0, None, 0.25, None])]).layout()

    series = chart.series[0]
    assert len(series.segments) == 1 and len(series.segments[0].split()) == 2
    assert len(series.dots) == 1
    assert chart.y_ticks[-1].label == "100.0%" and chart.y_ticks[0].label == "0.0%"
    assert chart.table_rows[2] == ["d3", "—"]
