"""``GET /metrics``: Prometheus text format, read from the database (and Redis) at scrape time.

Web requests run in several gunicorn processes and triage runs in Celery workers, so in-process
counters would each see a slice of the truth. The collector instead asks the shared state on
every scrape with a fixed number of aggregate queries (no per-row work, whatever the row counts):
the "counters" are row counts and sums, which only go up as long as rows are not deleted.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, time

from django.conf import settings
from django.db.models import Count, Min, Q, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from review.models import DriftCheckResult
from review.monitoring.errors import FALLBACK, PROVIDER_CALL, error_type_filters
from support.models import Alert, Category, OutboundMessage, SlaBreach, Ticket
from triage import classifier
from triage.embeddings import encoder_status
from triage.models import TriageDecision
from triage.providers.breaker import breaker_is_open

PREFIX = "switchboard"

# Upper bounds (seconds) of the LLM latency histogram's buckets; +Inf is added.
LATENCY_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)


def _utc_day_start(now: datetime) -> datetime:
    # The same day boundary as the daily budget (triage/budget.py): midnight UTC.
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


class SwitchboardCollector(Collector):
    """Current state of the tickets, triage, delivery, review queue and alerts.

    Ten SQL queries per scrape, one cache read per provider in ``LLM_CHAIN`` and two small
    file reads for the active local model.
    """

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._tickets()
        yield from self._review_queue(now)
        yield from self._decisions()
        yield from self._llm_usage(now)
        yield from self._outbound()
        yield from self._sla_breaches()
        yield from self._alerts()
        yield from self._automation()
        yield from self._providers()
        yield from self._llm_calls()
        yield from self._drift()

    def _tickets(self) -> Iterator[Metric]:
        by_status = {status: 0 for status in Ticket.Status.values}
        by_channel = {channel: 0 for channel in Ticket.Channel.values}
        # One GROUP BY over both columns: at most |statuses| x |channels| rows come back.
        rows = Ticket.objects.order_by().values_list("status", "channel").annotate(n=Count("id"))
        for status, channel, n in rows:
            by_status[status] = by_status.get(status, 0) + n
            by_channel[channel] = by_channel.get(channel, 0) + n
        tickets = GaugeMetricFamily(
            f"{PREFIX}_tickets", "Tickets by current status.", labels=["status"]
        )
        for status, n in sorted(by_status.items()):
            tickets.add_metric([status], n)
        yield tickets
        created = CounterMetricFamily(
            f"{PREFIX}_tickets_created", "Tickets created, by intake channel.", labels=["channel"]
        )
        for channel, n in sorted(by_channel.items()):
            created.add_metric([channel], n)
        yield created

    def _review_queue(self, now: datetime) -> Iterator[Metric]:
        queue = Ticket.objects.awake(now=now).filter(status=Ticket.Status.AWAITING_REVIEW).aggregate(
            depth=Count("id"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_review_queue_depth",
            "Tickets awaiting review and not snoozed.",
            value=queue["depth"],
        )
        oldest = queue["oldest"]
        age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            f"{PREFIX}_review_queue_oldest_age_seconds",
            "Age of the oldest ticket in the review queue (since it was created); 0 when empty.",
            value=age,
        )

    def _decisions(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            f"{PREFIX}_triage_decisions",
            "Final triage decisions, by the provider that answered and whether a human must review.",
            labels=["provider", "needs_review"],
        )
        rows = (
            TriageDecision.objects.final()
            .order_by()
            .values_list("provider", "needs_review")
            .annotate(n=Count("id"))
        )
        for provider, needs_review, n in sorted(rows):
            family.add_metric([provider, "true" if needs_review else "false"], n)
        yield family

    def _llm_usage(self, now: datetime) -> Iterator[Metric]:
        # Every attempt costs, not only the final one: sum over all decision-log rows.
        usage = TriageDecision.objects.aggregate(
            cost=Sum("cost_usd"),
            cost_today=Sum("cost_usd", filter=Q(created_at__gte=_utc_day_start(now))),
            tokens_in=Sum("tokens_in"),
            tokens_out=Sum("tokens_out"),
            cache_hits=Count("id", filter=Q(cache_hit=True)),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_llm_cost_usd", "LLM spend over every triage attempt, USD.",
            value=float(usage["cost"] or 0),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_llm_cost_usd_today",
            "LLM spend since midnight UTC (what the daily budget compares), USD.",
            value=float(usage["cost_today"] or 0),
        )
        tokens = CounterMetricFamily(
            f"{PREFIX}_llm_tokens", "LLM tokens over every triage attempt.", labels=["direction"]
        )
        tokens.add_metric(["in"], usage["tokens_in"] or 0)
        tokens.add_metric(["out"], usage["tokens_out"] or 0)
        yield tokens
        yield CounterMetricFamily(
            f"{PREFIX}_llm_cache_hits", "Triage attempts answered from the response cache.",
            value=usage["cache_hits"],
        )

    def _outbound(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_outbound_messages",
            "Outbound messages (e-mail, callbacks, notifications) by kind and current status.",
            labels=["kind", "status"],
        )
        counts = {
            (kind, status): n
            for kind, status, n in OutboundMessage.objects.order_by()
            .values_list("kind", "status")
            .annotate(n=Count("id"))
        }
        for kind in OutboundMessage.Kind.values:
            for status in OutboundMessage.Status.values:
                counts.setdefault((kind, status), 0)
        for (kind, status), n in sorted(counts.items()):
            family.add_metric([kind, status], n)
        yield family

    def _sla_breaches(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            f"{PREFIX}_sla_breaches", "Recorded SLA breaches, by kind.", labels=["kind"]
        )
        counts = dict.fromkeys(SlaBreach.Kind.values, 0)
        counts.update(SlaBreach.objects.order_by().values_list("kind").annotate(n=Count("id")))
        for kind, n in sorted(counts.items()):
            family.add_metric([kind], n)
        yield family

    def _alerts(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_alerts_open", "Alerts nobody has acknowledged yet, by kind.", labels=["kind"]
        )
        counts = dict.fromkeys(Alert.Kind.values, 0)
        counts.update(
            Alert.objects.filter(acknowledged_by__isnull=True)
            .order_by()
            .values_list("kind")
            .annotate(n=Count("id"))
        )
        for kind, n in sorted(counts.items()):
            family.add_metric([kind], n)
        yield family

    def _automation(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_categories_braked",
            "Categories whose automation the autonomy brake has paused.",
            value=Category.objects.filter(braked=True).count(),
        )

    def _providers(self) -> Iterator[Metric]:
        circuit = GaugeMetricFamily(
            f"{PREFIX}_llm_circuit_open",
            "1 while the provider's circuit breaker is open (calls skipped), else 0. "
            "Reads 0 when Redis is unreachable: the breaker then fails open too.",
            labels=["provider"],
        )
        for provider in settings.LLM_CHAIN:
            circuit.add_metric([provider], 1 if breaker_is_open(provider) else 0)
        yield circuit
        info = GaugeMetricFamily(
            f"{PREFIX}_local_model_info",
            "The active local classifier (always 1); no sample when none is trained.",
            labels=["name", "version"],
        )
        # The two pointer files only: loading the model itself would cost seconds in a web worker.
        name = classifier.active_model_name()
        version = classifier.active_version(name=name) if name else None
        if name and version:
            info.add_metric([name, version], 1)
        yield info
        # The files' state, hashed once per change (then three stat() calls per scrape).
        yield GaugeMetricFamily(
            f"{PREFIX}_encoder_loaded",
            "1 when the sentence encoder is installed and its files are the recorded ones, 0 when it "
            "is off, missing or refused (see the encoder_unavailable alert).",
            value=1 if encoder_status().usable else 0,
        )

    def _llm_calls(self) -> Iterator[Metric]:
        # One GROUP BY provider for both families: the latency histogram's cumulative bucket counts
        # (one filtered COUNT per bucket) and the error counts by type (review/monitoring/errors.py).
        latency = HistogramMetricFamily(
            f"{PREFIX}_llm_latency_seconds",
            "Latency of every provider call (triage attempts, cache hits excluded), by provider.",
            labels=["provider"],
        )
        errors = CounterMetricFamily(
            f"{PREFIX}_llm_errors",
            "Failed provider calls by type (timeout, rate_limit, connection, validation), and "
            "fallbacks: final decisions that are not the first provider's clean answer.",
            labels=["type"],
        )
        timed = PROVIDER_CALL & Q(cache_hit=False)
        buckets = {
            f"le_{index}": Count("pk", filter=timed & Q(latency_ms__lte=bound * 1000))
            for index, bound in enumerate(LATENCY_BUCKETS_SECONDS)
        }
        filters = error_type_filters()
        kinds = [*filters, "fallback"]
        error_counts = {f"error_{kind}": Count("pk", filter=PROVIDER_CALL & q) for kind, q in filters.items()}
        error_counts["error_fallback"] = Count("pk", filter=FALLBACK)
        rows = (
            TriageDecision.objects.order_by()
            .values("provider")
            .annotate(
                timed=Count("pk", filter=timed),
                latency_sum=Sum("latency_ms", filter=timed),
                **buckets,
                **error_counts,
            )
            .values_list("provider", "timed", "latency_sum", *buckets, *error_counts)
            .order_by("provider")
        )
        totals = dict.fromkeys(kinds, 0)
        for provider, timed_calls, latency_sum, *counts in rows:
            cumulative, by_kind = counts[: len(buckets)], counts[len(buckets):]
            for kind, count in zip(kinds, by_kind, strict=True):
                totals[kind] += count
            if timed_calls:
                latency.add_metric(
                    [provider],
                    buckets=[
                        *((str(bound), n) for bound, n in zip(LATENCY_BUCKETS_SECONDS, cumulative, strict=True)),
                        ("+Inf", timed_calls),
                    ],
                    sum_value=(latency_sum or 0) / 1000,
                )
        for kind in kinds:
            errors.add_metric([kind], totals[kind])
        yield latency
        yield errors

    def _drift(self) -> Iterator[Metric]:
        statistic = GaugeMetricFamily(
            f"{PREFIX}_drift_statistic",
            "The latest drift check run's statistic per check (absent when a side had too few samples).",
            labels=["check", "test"],
        )
        threshold = GaugeMetricFamily(
            f"{PREFIX}_drift_threshold", "The threshold each drift check's statistic is compared with.",
            labels=["check"],
        )
        breached = GaugeMetricFamily(
            f"{PREFIX}_drift_breached", "1 when the latest run of the check breached, else 0.", labels=["check"]
        )
        # Every check of a run shares its run_at: the latest run is every row at the newest run_at.
        results = DriftCheckResult.objects.filter(
            run_at=Subquery(DriftCheckResult.objects.order_by("-run_at").values("run_at")[:1])
        ).order_by("check_name")
        for result in results:
            if result.statistic is not None:
                statistic.add_metric([result.check_name, result.test], result.statistic)
            threshold.add_metric([result.check_name], result.threshold)
            breached.add_metric([result.check_name], 1 if result.breached else 0)
        yield statistic
        yield threshold
        yield breached


registry = CollectorRegistry()
registry.register(SwitchboardCollector())


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized() -> HttpResponse:
    response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Scrapers send ``Authorization: Bearer <METRICS_TOKEN>``; with no token configured only a
    staff session may look, so the page is never public by accident."""
    expected = settings.METRICS_TOKEN
    if expected:
        token = _bearer_token(request)
        if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            return _unauthorized()
    elif not request.user.is_authenticated:
        return _unauthorized()
    elif not request.user.is_staff:
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
