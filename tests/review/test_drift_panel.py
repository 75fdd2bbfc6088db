"""The drift panel on the dashboard (stored check results over time, as SVG and as a table) and
the drift and LLM series on /metrics."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from review.analytics.drift import drift_history
from review.models import DriftCheckResult
from support.models import Customer, Ticket
from triage.models import TriageDecision

pytestmark = pytest.mark.django_db

TOKEN = "drift-scrape-token"


def store_run(run_at: Any, **statistics: tuple[float | None, bool]) -> None:
    DriftCheckResult.objects.bulk_create(
        DriftCheckResult(
            run_at=run_at, check_name=name, test="Kolmogorov-Smirnov", statistic=statistic, threshold=0.1,
            p_value=0.5, breached=breached, reference_start=run_at - timedelta(days=31),
            reference_end=run_at - timedelta(days=1), recent_start=run_at - timedelta(days=1), recent_end=run_at,
            reference_count=500, recent_count=100,
        )
        for name, (statistic, breached) in statistics.items()
    )


def test_it_keeps_one_point_per_check_and_day_the_largest_statistic():
    now = timezone.now()
    for hours_ago, value in [(50, 0.02), (49, 0.05), (2, 0.30), (1, 0.04)]:
        store_run(now - timedelta(hours=hours_ago), confidence=(value, value > 0.1), category_mix=(None, False))

    history = drift_history(days=7, now=now)

    by_name = {series.check_name: series for series in history.series}
    assert [series.check_name for series in history.series] == ["category_mix", "confidence"]
    confidence = by_name["confidence"]
    assert [(day.runs, day.statistic, day.breaches) for day in confidence.days][-1] == (2, 0.30, 1)
    assert confidence.days[0].statistic == 0.05 and confidence.latest is confidence.days[-1]
    # The breached day sits above the threshold line (SVG y grows downwards).
    assert confidence.days[-1].y is not None and confidence.days[-1].y < confidence.threshold_y
    assert by_name["category_mix"].polyline == ""  # too few samples every time: nothing to draw


def test_the_dashboard_draws_each_check_as_svg_with_its_numbers_in_a_table(client, manager_user):
    now = timezone.now()
    store_run(now - timedelta(days=1), confidence=(0.05, False))
    store_run(now - timedelta(hours=1), confidence=(0.25, True))
    client.force_login(manager_user)

    response = client.get(reverse("review:dashboard"), {"days": 7})

    page = response.content.decode()
    panel = page[page.index('id="drift-checks"'):]
    assert 'id="drift-confidence"' in panel and "<svg" in panel and "<polyline" in panel
    assert "Confidence distribution" in panel and "Drift" in panel
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", panel))
    assert "0.250 0.100 1" in text and "0.050 0.100 0" in text
    assert "<script" not in panel and "style=" not in panel


def test_the_dashboard_costs_the_same_queries_whatever_the_number_of_runs(client, manager_user):
    client.force_login(manager_user)
    now = timezone.now()
    store_run(now - timedelta(hours=1), confidence=(0.05, False))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("review:dashboard"))
    for hours_ago in range(2, 100):
        store_run(now - timedelta(hours=hours_ago), confidence=(0.05, False), category_mix=(0.01, False))
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("review:dashboard"))

    assert len(many.captured_queries) == len(few.captured_queries)


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_show_llm_latency_errors_by_type_and_the_latest_drift_run(client, settings):
    settings.METRICS_TOKEN = TOKEN
    customer = Customer.objects.create(email="drift-metrics@example.com")
    ticket = Ticket.objects.create(subject="x", channel="email", customer=customer, source="tests")
    other = Ticket.objects.create(subject="y", channel="email", customer=customer, source="tests")
    for latency_ms, error_class in [(80, ""), (300, "APITimeoutError"), (1200, "RateLimitError"),
                                    (40, "APIStatusError:429"), (90, "OutputInvalid")]:
        TriageDecision.objects.create(ticket=ticket, provider="openai", latency_ms=latency_ms, error_class=error_class)
    TriageDecision.objects.create(ticket=ticket, provider="local", latency_ms=20, is_final=True, succeeded=True,
                                  fallback_reason="openai: timeout")
    TriageDecision.objects.create(ticket=other, provider="none", is_final=True, fallback_reason="no provider answered")
    now = timezone.now()
    store_run(now - timedelta(hours=2), confidence=(0.5, True))
    store_run(now - timedelta(hours=1), confidence=(0.04, False), category_mix=(None, False))

    samples = scrape(client)

    bucket = "switchboard_llm_latency_seconds_bucket"
    assert samples[(bucket, (("le", "0.1"), ("provider", "openai")))] == 3
    assert samples[(bucket, (("le", "+Inf"), ("provider", "openai")))] == 5
    assert samples[("switchboard_llm_latency_seconds_sum", (("provider", "openai"),))] == pytest.approx(1.71)
    assert not any(labels == (("le", "+Inf"), ("provider", "none")) for _name, labels in samples)
    errors = {dict(labels)["type"]: value for (name, labels), value in samples.items()
              if name == "switchboard_llm_errors_total"}
    assert errors == {"timeout": 1, "rate_limit": 2, "connection": 0, "validation": 1, "fallback": 2}
    assert samples[("switchboard_drift_statistic", (("check", "confidence"), ("test", "Kolmogorov-Smirnov")))] == 0.04
    assert samples[("switchboard_drift_breached", (("check", "confidence"),))] == 0
    assert samples[("switchboard_drift_threshold", (("check", "category_mix"),))] == 0.1
    assert not any(name == "switchboard_drift_statistic" and ("check", "category_mix") in labels
                   for name, labels in samples)
