"""Drift checks on PostgreSQL: a stable replayed stream raises nothing; one intent tripling or
confidence dropping raises exactly one ``drift`` alert per cause and day, with its evidence. The
tests behind the checks are exercised on known samples."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from review.models import DriftCheckResult
from review.monitoring import statistics
from review.monitoring.checks import CHECKS
from review.monitoring.notify import drift_alert_webhook_post
from review.monitoring.services import drift_checks_run
from support.models import Alert
from support.ssrf import CallbackTargetRefused
from tests.review.drift_helpers import CATEGORIES, Stream, history_replay

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

THRESHOLDS = statistics.DriftThresholds(min_samples=100)


def drift_alerts() -> list[Alert]:
    return list(Alert.objects.filter(kind=Alert.Kind.DRIFT).order_by("dedupe_key"))


def test_it_raises_no_alert_on_a_stable_stream(django_capture_on_commit_callbacks):
    now = timezone.now()
    history_replay(now=now, recent=Stream())

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = drift_checks_run(now=now)

    assert drift_alerts() == [] and callbacks == []
    assert len(run.results) == len(CHECKS) == DriftCheckResult.objects.count()
    by_name = {result.check_name: result for result in run.results}
    # The checks with data ran (a statistic under its threshold), the others said "too few".
    for name in ("category_mix", "confidence", "language_mix", "ticket_length", "review_reason_mix",
                 "latency_p95", "fallback_rate", "cost_per_ticket"):
        assert by_name[name].statistic is not None and not by_name[name].breached, name
    assert by_name["override_rate"].statistic is None  # no review outcome in the stream


def test_it_raises_one_category_mix_alert_when_an_intent_triples(django_capture_on_commit_callbacks):
    now = timezone.now()
    weights = dict.fromkeys(CATEGORIES, 1.0) | {"failed_transfer": 3.0}
    history_replay(now=now, recent=Stream(weights=weights))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = drift_checks_run(now=now)

    [alert] = drift_alerts()
    assert [result.check_name for result in run.breached] == ["category_mix"]
    assert alert.dedupe_key == f"drift:category_mix:{now.date().isoformat()}"
    assert alert.details["statistic"] > alert.details["threshold"]
    assert alert.details["p_value"] < 0.001
    top = alert.details["evidence"]["movers"][0]
    assert top["key"] == "failed_transfer" and top["recent_share"] > 2 * top["reference_share"]
    assert alert.details["recent"]["count"] == 200 and alert.details["reference"]["count"] == 600
    assert len(callbacks) == 1  # the notifications, sent after commit


def test_it_raises_one_confidence_alert_when_confidence_drops(django_capture_on_commit_callbacks):
    now = timezone.now()
    history_replay(now=now, recent=Stream(confidence_shift=0.2))

    run = drift_checks_run(now=now)

    [alert] = drift_alerts()
    assert [result.check_name for result in run.breached] == ["confidence"]
    evidence = alert.details["evidence"]
    assert evidence["recent"]["mean"] < evidence["reference"]["mean"] - 0.15
    assert "Confidence distribution drifted" in alert.message


def test_it_raises_the_same_cause_once_a_day(django_capture_on_commit_callbacks):
    now = timezone.now().replace(hour=12)
    history_replay(now=now, recent=Stream(confidence_shift=0.2))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = drift_checks_run(now=now)
        again = drift_checks_run(now=now + timedelta(minutes=30))

    assert len(first.alerts_raised) == 1 and again.alerts_raised == []
    assert again.breached and len(drift_alerts()) == 1
    assert len(callbacks) == 1
    assert DriftCheckResult.objects.filter(check_name="confidence", breached=True).count() == 2


def test_the_command_prints_each_check_and_one_json_object_last(capsys):
    history_replay(now=timezone.now(), recent=Stream(confidence_shift=0.2))

    call_command("drift_check", "--json")

    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    verdicts = {check["check"]: check["verdict"] for check in report["checks"]}
    assert verdicts["confidence"] == "breached" and verdicts["category_mix"] == "ok"
    assert verdicts["override_rate"] == "insufficient"
    assert report["breached"] == 1 and len(report["alerts_raised"]) == 1
    confidence_line = next(line for line in lines if line.startswith("confidence "))
    assert "Kolmogorov-Smirnov" in confidence_line and "threshold" in confidence_line
    assert confidence_line.endswith("BREACHED")


# --- the tests on known samples ---------------------------------------------------------------


def test_too_few_samples_never_breach():
    outcome = statistics.mix_test({"a": 99}, {"b": 99}, THRESHOLDS)

    assert outcome.statistic is None and not outcome.breached


def test_a_rate_that_falls_is_not_drift_and_one_that_rises_is():
    falls = statistics.rate_test(100, 1000, 10, 1000, THRESHOLDS)
    rises = statistics.rate_test(10, 1000, 100, 1000, THRESHOLDS)

    assert falls.statistic is not None and falls.statistic < 0 and not falls.breached
    assert rises.statistic is not None and rises.statistic > rises.threshold and rises.breached
    assert rises.evidence == {"reference_rate": 0.01, "recent_rate": 0.1, "reference_hits": 10, "recent_hits": 100}


def test_a_significant_but_tiny_change_is_not_drift():
    # 50,000 a side: a 0.8 point rise is "significant" (z ≈ 4) but under DRIFT_RATE_MIN_CHANGE.
    outcome = statistics.rate_test(5000, 50000, 5400, 50000, THRESHOLDS)

    assert outcome.statistic is not None and outcome.statistic > outcome.threshold
    assert not outcome.breached


def test_the_p95_ratio_breaches_when_latency_doubles():
    reference = [float(value) for value in range(100, 300)]
    outcome = statistics.ratio_test(reference, [value * 2 for value in reference], THRESHOLDS,
                                    quantile=0.95, floor=1.0)

    assert outcome.statistic == pytest.approx(2.0) and outcome.breached
    assert statistics.ratio_test(reference, reference, THRESHOLDS, quantile=0.95, floor=1.0).breached is False


def test_the_alert_webhook_refuses_a_private_target_that_is_not_allow_listed(settings):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hooks"
    settings.ALERT_WEBHOOK_SECRET = "whsec_" + "c3dpdGNoYm9hcmQtZGV2LWNhbGxiYWNr"
    settings.CALLBACK_ALLOWED_HOSTS = []
    alert = Alert.objects.create(kind=Alert.Kind.DRIFT, message="m", dedupe_key="drift:confidence:2026-01-01")

    with pytest.raises(CallbackTargetRefused, match="loopback"):
        drift_alert_webhook_post(alert_id=alert.pk)
