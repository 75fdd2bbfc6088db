"""Shared test infrastructure: real PostgreSQL and Redis, a real Celery worker, a loopback
OpenAI-compatible server and an SMTP sink.

Services: tests marked ``postgres`` need DATABASE_URL to name a PostgreSQL database, tests marked
``redis`` (and the Celery worker fixtures) need a reachable REDIS_URL. On a laptop without them
those tests are skipped with one clear summary line; in CI (CI=true or REQUIRE_SERVICES=1) a
missing service is a hard failure, never a skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from support.celery import app as celery_app
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.smtp_sink import SmtpSink

REPO_ROOT = Path(__file__).resolve().parent.parent
# REQUIRE_SERVICES=1 (or CI=true): every service must be up. REQUIRE_SERVICES=redis: Redis must be
# up and the database is deliberately SQLite (CI's second run), so PostgreSQL-only tests skip.
_REQUIRED = os.environ.get("REQUIRE_SERVICES", "")
REQUIRE_SERVICES = _REQUIRED == "1" or (not _REQUIRED and os.environ.get("CI", "").lower() == "true")
REQUIRED_SERVICES = {"postgres", "redis"} if REQUIRE_SERVICES else set(filter(None, _REQUIRED.split(",")))
RUN_ID = uuid.uuid4().hex[:8]
# A queue of our own, so a stray worker from another run never eats this run's tasks.
TEST_QUEUE = f"sbtest-{RUN_ID}"
celery_app.conf.task_default_queue = TEST_QUEUE


def _redis_reachable() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


SERVICES = {"postgres": settings.USING_POSTGRES, "redis": _redis_reachable()}
SERVICE_HINT = {
    "postgres": "PostgreSQL (set DATABASE_URL=postgresql://...)",
    "redis": "Redis (set REDIS_URL=redis://... and start redis-server)",
}
# nodeid -> the services it lacks. Counted in the summary only for tests that were run and
# reported skipped: a test deselected by -k/-m, or collected twice, is not counted.
_lacking: dict[str, tuple[str, ...]] = {}


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name, up in SERVICES.items() if not up and name in REQUIRED_SERVICES]
    if missing:
        raise pytest.UsageError(
            "CI requires real services, missing: " + ", ".join(SERVICE_HINT[name] for name in missing)
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "worker" in item.keywords:
            item.add_marker(pytest.mark.redis)
        missing = tuple(service for service, up in SERVICES.items() if service in item.keywords and not up)
        if missing:
            # One count per test, under everything it lacks: a test needing both services is
            # one skipped test, not two.
            _lacking[item.nodeid] = missing
            hint = " and ".join(SERVICE_HINT[service] for service in missing)
            item.add_marker(pytest.mark.skip(reason=f"needs {hint}"))


def pytest_report_header(config: pytest.Config) -> str:
    state = ", ".join(f"{name}={'up' if up else 'MISSING'}" for name, up in SERVICES.items())
    return f"switchboard services: {state}; required={REQUIRE_SERVICES}"


def skip_summary_lines(lacking: dict[str, tuple[str, ...]], skipped_nodeids: set[str]) -> list[str]:
    """One line per combination of missing services, counting each skipped test once."""
    counts: dict[tuple[str, ...], int] = {}
    for nodeid in skipped_nodeids:
        if nodeid in lacking:
            counts[lacking[nodeid]] = counts.get(lacking[nodeid], 0) + 1
    lines = []
    for services, count in sorted(counts.items()):
        hint = " and ".join(SERVICE_HINT[service] for service in services)
        noun = "test that needs" if count == 1 else "tests that need"
        lines.append(f"SKIPPED {count} {noun} {hint}: not available on this machine.")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = {report.nodeid for report in terminalreporter.stats.get("skipped", [])}
    for line in skip_summary_lines(_lacking, skipped):
        terminalreporter.write_line(line, yellow=True)


# --- Per-test hygiene ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_state(settings: Any) -> Iterator[None]:
    """Each test starts with an empty cache and Celery running tasks in-process.

    With REDIS_URL set the cache is Redis; clearing it flushes this run's Redis database only.
    """
    from django.core.cache import cache

    cache.clear()
    # Real password hashing costs ~0.3 s per demo user; tests check logins, not PBKDF2 strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = True


# --- Users and tenant ---------------------------------------------------------------------------


@pytest.fixture
def roles(db: None) -> dict[str, Any]:
    from support.roles import roles_ensure

    return roles_ensure()


@pytest.fixture
def make_user(roles: dict[str, Any]) -> Callable[..., Any]:
    from django.contrib.auth import get_user_model

    def make(username: str, role: str = "agent", password: str = "pw-for-tests-only") -> Any:
        user = get_user_model().objects.create_user(username=username, password=password,
                                                    email=f"{username}@switchboard.localhost")
        user.is_staff = role in {"manager", "admin"}
        user.is_superuser = role == "admin"
        user.save()
        user.groups.add(roles[role])
        return user

    return make


@pytest.fixture
def agent_user(make_user: Callable[..., Any]) -> Any:
    return make_user("agent-test", "agent")


@pytest.fixture
def manager_user(make_user: Callable[..., Any]) -> Any:
    return make_user("manager-test", "manager")


@pytest.fixture
def demo_tenant(db: None) -> dict[str, int]:
    """Teams, the 77 categories, SLA policies and demo users, without demo tickets."""
    from review.demo.seeding import demo_seed

    return demo_seed(ticket_count=0)


# --- Celery worker ------------------------------------------------------------------------------


@pytest.fixture
def celery_worker(transactional_db: None, settings: Any) -> Iterator[Any]:
    """A real Celery worker (thread pool) in this process, on the real Redis broker.

    Needs committed data, hence ``transactional_db``. Tasks sent during the test go through Redis.
    """
    if not SERVICES["redis"]:
        pytest.fail("celery_worker needs Redis")
    from celery.contrib.testing.worker import start_worker

    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False,
                      shutdown_timeout=20, loglevel="WARNING", queues=[TEST_QUEUE]) as worker:
        yield worker
    celery_app.conf.task_always_eager = True


@pytest.fixture
def celery_worker_process(transactional_db: None, settings: Any) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real worker processes (``celery worker``) that can be SIGKILLed mid-task.

    Returns a factory; every process it started is killed at teardown. The worker talks to the
    test database and this run's queue.
    """
    if not SERVICES["redis"]:
        pytest.fail("celery_worker_process needs Redis")
    from django.db import connection

    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    started: list[subprocess.Popen[bytes]] = []

    def start(extra_env: dict[str, str] | None = None, concurrency: int = 2) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        db = connection.settings_dict
        if settings.USING_POSTGRES:
            env["DATABASE_URL"] = (
                f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            )
        env["CELERY_QUEUE"] = TEST_QUEUE
        env.update(extra_env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "support", "worker", "-P", "threads", "-c", str(concurrency),
             "-Q", TEST_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel=WARNING", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
            cwd=REPO_ROOT, env=env, start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    celery_app.conf.task_always_eager = True


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with a clear message on timeout.

    Used to wait for a worker's result: a bound on waiting, never an assertion about speed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")


# --- External systems at the network boundary ---------------------------------------------------


@pytest.fixture
def fake_llm(settings: Any) -> Iterator[FakeOpenAI]:
    """The loopback OpenAI-compatible server, wired into settings as the first provider."""
    server = FakeOpenAI().start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "sk-test-loopback"
    settings.LLM_MODEL = server.model
    settings.LLM_CHAIN = ["openai", "local"]
    settings.LLM_TIMEOUT_SECONDS = 2.0
    settings.LLM_RETRY_AFTER_CAP_SECONDS = 1.0
    settings.LLM_PRICES = {server.model: {"input": 1.0, "output": 2.0}}
    yield server
    server.stop()


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback; Django's SMTP backend is pointed at it."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    sink.stop()
