"""The demo tells a story: sixty days of handled history, rolled up, so the dashboard a newcomer
opens first is populated, with one drift episode at the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from review.demo.history import DRIFT_DAYS, DRIFT_LABEL, HISTORY_SOURCE
from review.demo.seeding import DRIFT_PANEL_DAYS, demo_seed
from review.models import DailyRollup, DriftCheckResult, ReviewOutcome
from support.models import Alert, CsatRating, OutboundMessage, Ticket

pytestmark = pytest.mark.django_db

Dim = DailyRollup.Dimension


@pytest.fixture
def seeded(db: None) -> dict[str, int]:
    return demo_seed(ticket_count=0, history_days=60)


def test_it_spreads_handled_history_over_sixty_days_and_seeds_it_once(seeded: dict[str, int]) -> None:
    history = Ticket.objects.filter(source=HISTORY_SOURCE)
    oldest = history.order_by("created_at").first()

    assert seeded["history tickets created"] == history.count() > 600
    assert oldest is not None and (timezone.now() - oldest.created_at).days >= 59
    assert ReviewOutcome.objects.exists() and CsatRating.objects.exists()
    assert OutboundMessage.objects.filter(auto_submitted=True).exists()
    assert not history.filter(status=Ticket.Status.NEW).exists()  # never sent to the triage worker
    assert demo_seed(ticket_count=0, history_days=60)["history tickets created"] == 0


def test_its_drift_episode_triples_one_intent_in_the_last_days(seeded: dict[str, int]) -> None:
    today = timezone.localdate()
    per_day = dict(
        DailyRollup.objects.filter(dimension=Dim.CATEGORY, key=DRIFT_LABEL, hour=DailyRollup.WHOLE_DAY)
        .values_list("day", "tickets")
    )
    recent = [per_day.get(today - timedelta(days=offset), 0) for offset in range(1, DRIFT_DAYS + 1)]
    before = [per_day.get(today - timedelta(days=offset), 0) for offset in range(DRIFT_DAYS + 1, 61)]

    assert sum(recent) / len(recent) >= 3 * sum(before) / len(before)


def test_the_dashboard_a_newcomer_opens_is_populated(seeded: dict[str, int], client: Any, manager_user: Any) -> None:
    client.force_login(manager_user)

    page = client.get("/review/dashboard/", {"days": "30"}).content.decode()

    totals = DailyRollup.objects.filter(dimension=Dim.TOTAL, hour=DailyRollup.WHOLE_DAY).aggregate(
        audited=Sum("audited"), rated=Sum("csat_good"), resolved=Sum("resolved")
    )
    assert all(value for value in totals.values())
    assert "No data in this window yet" not in page
    assert page.count("<polyline") >= 10
    assert "agent1" in page and DRIFT_LABEL in page


def test_a_newcomer_finds_an_open_drift_alert_for_the_episode(seeded: dict[str, int]) -> None:
    # The seeding runs the drift checks as the hourly job would have over the last days.
    alerts = Alert.objects.filter(kind=Alert.Kind.DRIFT, acknowledged_by__isnull=True)

    assert seeded["drift alert raised"] == 1
    assert alerts.exists()
    assert DriftCheckResult.objects.values("run_at").distinct().count() == DRIFT_PANEL_DAYS
    assert any(DRIFT_LABEL in str(alert.details) or DRIFT_LABEL in alert.message for alert in alerts)
