"""The deployment files and shared fixtures are themselves tested, since nothing else runs them here."""

import subprocess
import sys

import pytest
import yaml
from django.core import mail

from tests.conftest import REPO_ROOT


def test_docker_compose_declares_the_production_stack():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"proxy", "web", "worker", "beat", "postgres", "redis", "mailpit"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A support worker")
    assert services["beat"]["command"].startswith("celery -A support beat")
    for app_service in ("web", "worker", "beat"):
        env = services[app_service]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["REDIS_URL"].startswith("redis://redis")
        assert services[app_service]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_runs_gunicorn_as_an_unprivileged_user():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "USER switchboard" in dockerfile
    assert "gunicorn" in dockerfile


@pytest.mark.django_db
def test_smtp_sink_receives_what_django_sends(smtp_sink):
    mail.send_mail("Hello", "Body", "support@switchboard.localhost", ["customer@example.com"])
    assert [m["Subject"] for m in smtp_sink.messages] == ["Hello"]


def test_fake_llm_answers_through_the_real_openai_sdk(fake_llm):
    import openai

    from tests.fakes.openai_server import Reply

    fake_llm.push(Reply(status=500), Reply(content='{"ok": true}'))
    client = openai.OpenAI(base_url=fake_llm.base_url, api_key="sk-test", max_retries=1)
    answer = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == '{"ok": true}'
    assert len(fake_llm.requests) == 2  # the SDK retried the scripted 500


def test_installed_environment_passes_pip_check():
    # The encoder's files are data fetched by `manage.py encoder_install`, never an installed
    # wheel, so nothing in the environment declares a dependency it lacks (issue 12).
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No broken requirements found" in result.stdout
