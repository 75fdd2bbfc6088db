"""Warm workers: a worker process loads the models when it starts, before its first ticket."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from support.models import Alert, Ticket
from support.services import ticket_create
from tests.conftest import TEST_QUEUE, wait_for
from tests.triage.test_worker import REPO_ROOT, _test_database_url
from triage import warmup
from triage.classifier import classifier_clear_cache, storage
from triage.models import TriageDecision

DONE = {Ticket.Status.AWAITING_REVIEW, Ticket.Status.AUTO_REPLIED}


def _start_worker(env: dict[str, str], log_path: Path, *, name: str) -> subprocess.Popen[bytes]:
    """A real worker process (thread pool, as in production) logging at INFO into ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "support", "worker", "-P", "threads", "-c", "2",
             "-Q", TEST_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=INFO", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


@pytest.mark.django_db
def test_worker_warm_loads_the_active_classifier(trained_classifier, settings):
    classifier_clear_cache()

    report = warmup.worker_warm()

    assert report.failed == {}
    assert set(report.seconds) >= {"classifier", "knowledge base"}
    assert warmup.last_warm is report
    # The model is in this process's cache: the first ticket does not load it.
    assert any(key[1] == trained_classifier.model_name for key in storage._cache)


@pytest.mark.django_db
def test_a_failed_warm_up_is_logged_as_an_error_and_does_not_raise(tmp_path, settings, caplog):
    # Given an active model whose files are missing
    (tmp_path / "ACTIVE").write_text("ghost\n")
    (tmp_path / "ghost").mkdir()
    (tmp_path / "ghost" / "ACTIVE").write_text("v1\n")
    settings.CLASSIFIER_DIR = tmp_path
    classifier_clear_cache()

    with caplog.at_level(logging.INFO, logger="triage.warmup"):
        report = warmup.worker_warm()

    assert "classifier" in report.failed
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "classifier" in errors[0].getMessage()
    assert any("worker warm in" in r.getMessage() and "failed: classifier" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("pool", "warms"), [("threads", True), ("prefork", False), ("solo", False)])
def test_the_main_process_warms_only_for_pools_that_run_tasks_in_it(pool, warms, settings, monkeypatch):
    # prefork children and the solo pool warm through worker_process_init instead.
    calls: list[str] = []
    monkeypatch.setattr(warmup, "worker_warm", lambda: calls.append("warm"))

    warmup.on_worker_init(sender=SimpleNamespace(pool_cls=pool))

    assert calls == (["warm"] if warms else [])


def test_warm_start_can_be_turned_off(settings, monkeypatch):
    settings.WORKER_WARM_START = False
    calls: list[str] = []
    monkeypatch.setattr(warmup, "worker_warm", lambda: calls.append("warm"))

    warmup.on_worker_init(sender=SimpleNamespace(pool_cls="threads"))
    warmup.on_worker_process_init()

    assert calls == []


@pytest.mark.postgres
@pytest.mark.worker
def test_a_started_worker_has_the_model_loaded_before_its_first_task(
    transactional_db, demo_tenant, trained_classifier_dir, settings, tmp_path
):
    # Given a real worker process (thread pool, as in production) logging at INFO
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from support.celery import app as celery_app

    celery_app.conf.task_always_eager = False
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_QUEUE": TEST_QUEUE,
        "CLASSIFIER_DIR": str(trained_classifier_dir),
        "LLM_CHAIN": "local",
        "OPENAI_API_KEY": "",
    }
    worker = _start_worker(env, log_path, name="warm")
    try:
        # When a ticket arrives as it starts
        ticket, _ = ticket_create(
            subject="Card", body_text="When will my new card arrive?", customer_email="warm@example.com",
            channel="email", source="email",
        )
        wait_for(lambda: Ticket.objects.get(pk=ticket.pk).status in DONE, timeout=120)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        celery_app.conf.task_always_eager = True

    # Then the worker logged its warm-up, with the classifier loaded, before it took the task
    lines = Path(log_path).read_text(errors="replace").splitlines()
    warm = next(i for i, line in enumerate(lines) if "worker warm in" in line)
    received = next(i for i, line in enumerate(lines) if "triage.tasks.triage_ticket_task" in line and "received" in line)
    assert warm < received
    assert "classifier" in lines[warm] and "failed" not in lines[warm]
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert decision.provider == "local"


METRICS_TOKEN = "metrics-token-for-tests"


def _metrics(client: Any, settings: Any) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_warm_up_without_the_encoder_is_an_error_and_one_alert(tmp_path, settings, caplog, client):
    # Given embeddings on "auto" and no encoder where ENCODER_DIR points
    settings.LOCAL_MODEL_EMBEDDINGS = "auto"
    settings.ENCODER_DIR = tmp_path / "no-encoder"
    settings.CLASSIFIER_DIR = tmp_path / "no-model"
    # When two worker processes warm up
    with caplog.at_level(logging.ERROR, logger="triage.warmup"):
        warmup.worker_warm()
        warmup.worker_warm()
    # Then each says so at ERROR, and managers get one alert, on /metrics too
    assert [r.levelno for r in caplog.records if "sentence encoder missing" in r.getMessage()] == [logging.ERROR] * 2
    [alert] = Alert.objects.filter(kind=Alert.Kind.ENCODER_UNAVAILABLE)
    assert "encoder_install" in alert.message
    text = _metrics(client, settings)
    assert 'switchboard_alerts_open{kind="encoder_unavailable"} 1.0' in text
    assert "switchboard_encoder_loaded 0.0" in text


@pytest.mark.django_db
def test_an_installed_encoder_raises_no_alert_and_reads_loaded(settings, client):
    settings.LOCAL_MODEL_EMBEDDINGS = "auto"
    warmup.encoder_check()
    assert not Alert.objects.filter(kind=Alert.Kind.ENCODER_UNAVAILABLE).exists()
    assert "switchboard_encoder_loaded 1.0" in _metrics(client, settings)


@pytest.mark.django_db
def test_managers_see_a_banner_while_the_encoder_alert_is_open(tmp_path, settings, client, manager_user):
    settings.ENCODER_DIR = tmp_path / "no-encoder"
    warmup.encoder_check()
    client.force_login(manager_user)
    page = client.get("/review/dashboard/").content.decode()
    assert 'id="encoder-banner"' in page and "Sentence encoder unavailable" in page
    Alert.objects.update(acknowledged_by=manager_user)
    assert 'id="encoder-banner"' not in client.get("/review/dashboard/").content.decode()


@pytest.mark.postgres
@pytest.mark.worker
def test_a_worker_started_without_the_encoder_raises_an_alert_visible_on_metrics(
    transactional_db, tmp_path, settings, client
):
    # Given a real worker process whose ENCODER_DIR holds no encoder (embeddings on "auto")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_QUEUE": TEST_QUEUE,
        "CLASSIFIER_DIR": str(tmp_path / "no-model"),
        "ENCODER_DIR": str(tmp_path / "no-encoder"),
        "LOCAL_MODEL_EMBEDDINGS": "auto",
        "LLM_CHAIN": "local",
        "OPENAI_API_KEY": "",
    }
    log_path = tmp_path / "worker.log"
    worker = _start_worker(env, log_path, name="noenc")
    try:
        # When it starts
        wait_for(lambda: Alert.objects.filter(kind=Alert.Kind.ENCODER_UNAVAILABLE).exists(), timeout=120)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    # Then the alert is on /metrics and the worker's log has the ERROR
    assert 'switchboard_alerts_open{kind="encoder_unavailable"} 1.0' in _metrics(client, settings)
    assert "ERROR" in log_path.read_text(errors="replace") and "sentence encoder missing" in log_path.read_text(
        errors="replace"
    )
