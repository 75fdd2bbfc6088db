"""Daily trend charts over the chosen window, read from the roll-ups (``review.rollups``).

Two queries whatever the history: the window's whole-day rows of the total and channel
dimensions (at most days × (1 + channels) rows) and today's hourly rows. Definitions:
docs/dashboard.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings

from review.analytics.charts import Chart, Series, ratio, ratios
from review.analytics.windows import Window
from review.models import DailyRollup
from triage.statistics import error_upper_bounds

Dim = DailyRollup.Dimension

TOTAL_FIELDS = (
    "tickets", "triaged", "auto_sent", "attempts", "cost_usd", "errors_timeout", "errors_rate_limit",
    "errors_validation", "fallbacks", "latency_p50", "latency_p95", "latency_p99", "judged", "agreed",
    "handling_seconds", "audited", "audit_incorrect", "csat_good", "csat_bad", "sla_due", "sla_met",
    "backlog", "resolved",
)


def handling_cost(handling_seconds: float) -> Decimal:
    """Human handling time priced at ``HUMAN_COST_PER_HOUR``."""
    return Decimal(str(handling_seconds)) / Decimal(3600) * Decimal(str(settings.HUMAN_COST_PER_HOUR))


def cost_per_resolved(*, cost_usd: Decimal, handling_seconds: float, resolved: int) -> float | None:
    if not resolved:
        return None
    return float((Decimal(cost_usd) + handling_cost(handling_seconds)) / resolved)


@dataclass
class Trends:
    days: list[date]
    charts: list[Chart]
    today: Chart


def _error_bounds(errors: list[float], totals: list[float]) -> tuple[list[float | None], list[float | None]]:
    """Per day, the one-sided Clopper-Pearson bounds of triage/statistics.py, in two vectorised
    calls: a lower bound on the error is one minus the upper bound on the correct share
    (Beta quantiles are symmetric), and is 0 without errors, like ``error_lower_bound``."""
    import numpy as np

    error_array, total_array = np.array(errors), np.array(totals)
    upper = error_upper_bounds(errors=error_array, totals=total_array)
    lower = 1.0 - error_upper_bounds(errors=total_array - error_array, totals=total_array)
    lower[error_array <= 0] = 0.0
    return (
        [float(value) if total else None for value, total in zip(lower, totals, strict=True)],
        [float(value) if total else None for value, total in zip(upper, totals, strict=True)],
    )


def _window_days(window: Window) -> list[date]:
    return [window.last_day - timedelta(days=offset) for offset in range(window.days - 1, -1, -1)]


def trends_build(*, window: Window) -> Trends:
    days = _window_days(window)
    labels = [day.isoformat() for day in days]
    rows = DailyRollup.objects.filter(
        day__gte=days[0], day__lte=days[-1], hour=DailyRollup.WHOLE_DAY, dimension__in=(Dim.TOTAL, Dim.CHANNEL)
    ).values("day", "dimension", "key", *TOTAL_FIELDS)
    totals: dict[date, dict[str, object]] = {}
    channels: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        if row["dimension"] == Dim.TOTAL:
            totals[row["day"]] = row
        else:
            channels[row["key"]][row["day"]] = int(row["tickets"])

    def column(name: str) -> list[float]:
        return [float(totals[day][name] or 0) if day in totals else 0.0 for day in days]  # type: ignore[arg-type]

    def optional(name: str) -> list[float | None]:
        values: list[float | None] = []
        for day in days:
            value = totals.get(day, {}).get(name)
            values.append(float(value) if value is not None else None)  # type: ignore[arg-type]
        return values

    tickets, triaged, attempts = column("tickets"), column("triaged"), column("attempts")
    audited, incorrect = column("audited"), column("audit_incorrect")
    good, bad = column("csat_good"), column("csat_bad")
    cost = column("cost_usd")
    handling, resolved = column("handling_seconds"), column("resolved")
    lower, upper = _error_bounds(incorrect, audited)
    charts = [
        Chart("trend-volume", "Tickets by channel", "count", labels,
              [Series(channel or "unknown", [float(per_day.get(day, 0)) for day in days])
               for channel, per_day in sorted(channels.items())] or [Series("All", tickets)]),
        Chart("trend-automation", "Automation share (auto-sent ÷ tickets)", "percent", labels,
              [Series("Automation share", ratios(column("auto_sent"), tickets))]),
        Chart("trend-agreement", "Reviewer agreement", "percent", labels,
              [Series("Agreement", ratios(column("agreed"), column("judged")))]),
        Chart("trend-audited-error", "Audited error of auto-sent replies", "percent", labels,
              [Series("Audited error", ratios(incorrect, audited))], band_lower=lower, band_upper=upper,
              note="Band: one-sided 95% Clopper-Pearson bounds (triage/statistics.py)."),
        Chart("trend-cost", "Cost per ticket and per resolved ticket (USD)", "usd", labels,
              [Series("Per ticket (LLM)", ratios(cost, triaged)),
               Series("Per resolved (LLM + human)", [
                   cost_per_resolved(cost_usd=Decimal(str(c)), handling_seconds=h, resolved=int(r))
                   for c, h, r in zip(cost, handling, resolved, strict=True)])]),
        Chart("trend-latency", "LLM latency (ms)", "ms", labels,
              [Series("p50", optional("latency_p50")), Series("p95", optional("latency_p95")),
               Series("p99", optional("latency_p99"))]),
        Chart("trend-errors", "Error rates by type (share of attempts)", "percent", labels,
              [Series("Timeout", ratios(column("errors_timeout"), attempts)),
               Series("429 rate limit", ratios(column("errors_rate_limit"), attempts)),
               Series("Validation", ratios(column("errors_validation"), attempts)),
               Series("Fallback", ratios(column("fallbacks"), attempts))]),
        Chart("trend-sla", "SLA attainment (first response on time)", "percent", labels,
              [Series("Attainment", ratios(column("sla_met"), column("sla_due")))]),
        Chart("trend-backlog", "Backlog (unanswered open tickets at day end)", "count", labels,
              [Series("Backlog", column("backlog"))]),
        Chart("trend-csat", "CSAT (good ÷ rated)", "percent", labels,
              [Series("CSAT", [ratio(g, g + b) for g, b in zip(good, bad, strict=True)])]),
    ]
    return Trends(days=days, charts=[chart.layout() for chart in charts], today=_today_chart(window))


def _today_chart(window: Window) -> Chart:
    today = window.last_day
    per_hour = dict(
        DailyRollup.objects.filter(day=today, dimension=Dim.TOTAL, hour__gte=0).values_list("hour", "tickets")
    )
    hours = list(range(24))
    return Chart("trend-today", "Today by hour: tickets in", "count", [f"{hour:02d}:00" for hour in hours],
                 [Series("Tickets", [float(per_hour.get(hour, 0)) for hour in hours])]).layout()
