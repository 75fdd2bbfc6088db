"""The hourly drift job end to end, on a real Celery worker over Redis and PostgreSQL: the beat
entry's task finds the drift, raises one alert, every manager gets an e-mail at the SMTP sink and
the alert webhook receives a Standard Webhooks-signed POST on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from celery.schedules import crontab
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from support.celery import app as celery_app
from support.celery import task_enqueue
from support.models import Alert
from tests.conftest import wait_for
from tests.review.drift_helpers import CATEGORIES, Stream, history_replay
from tests.support.delivery_helpers import CallbackReceiver

pytestmark = [pytest.mark.postgres, pytest.mark.worker]

SECRET = "whsec_" + base64.b64encode(b"drift-alert-test-secret-32-bytes").decode()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def test_the_beat_entry_runs_the_drift_task_hourly(settings):
    celery_app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["drift-checks"]

    assert entry["task"] == "review.tasks.drift_check_task" and entry["task"] in celery_app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert len(schedule.minute) == 1 and len(schedule.hour) == 24 and len(schedule.day_of_week) == 7


def test_a_drift_found_by_the_worker_mails_every_manager_and_posts_a_signed_event(
    celery_worker, smtp_sink, receiver, make_user, settings
):
    # Given two managers (and an agent, who is not told), a signed alert webhook on loopback
    # (allow-listed past the SSRF check), and a day in which one intent tripled.
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.ALERT_WEBHOOK_SECRET = SECRET
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    make_user("ana-manager", "manager")
    make_user("bo-manager", "manager")
    make_user("cy-agent", "agent")
    history_replay(now=timezone.now(), recent=Stream(weights=dict.fromkeys(CATEGORIES, 1.0) | {"exchange_rate": 3.0}))

    # When beat fires the hourly entry.
    task_enqueue(settings.CELERY_BEAT_SCHEDULE["drift-checks"]["task"])

    # Then one drift alert, one e-mail per manager, one signed POST.
    wait_for(lambda: len(smtp_sink.messages) >= 2 and receiver.requests, timeout=60)
    [alert] = Alert.objects.filter(kind=Alert.Kind.DRIFT)
    assert alert.details["check"] == "category_mix"
    recipients = sorted(address.addr_spec for message in smtp_sink.messages for address in message["To"].addresses)
    assert recipients == [
        "ana-manager@switchboard.localhost", "bo-manager@switchboard.localhost",
    ]
    mail = smtp_sink.messages[0]
    assert "category_mix" in mail["Subject"]
    assert "exchange_rate" in mail.get_content()  # the evidence: the intent that moved
    [request] = receiver.requests
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "alert.drift" and payload["data"]["id"] == alert.pk
    assert request.headers["webhook-id"] == alert.dedupe_key
    assert json.loads(request.body)["data"]["details"]["evidence"]["movers"][0]["key"] == "exchange_rate"
    with pytest.raises(Exception, match="(?i)signature"):
        Webhook("whsec_" + base64.b64encode(b"some-other-secret-of-32-bytes!!!").decode()).verify(
            request.body, request.headers
        )
