import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from support import env
from tests.conftest import REPO_ROOT


def test_env_int_rejects_a_typo(monkeypatch):
    monkeypatch.setenv("SB_TEST_INT", "12x")
    with pytest.raises(ImproperlyConfigured, match="SB_TEST_INT must be an integer"):
        env.env_int("SB_TEST_INT", 1)


def test_env_bool_rejects_an_unknown_word(monkeypatch):
    monkeypatch.setenv("SB_TEST_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env.env_bool("SB_TEST_BOOL")


def test_env_pairs_keeps_every_secret_of_a_rotating_source(monkeypatch):
    monkeypatch.setenv("SB_TEST_PAIRS", "shop=whsec_a, shop=whsec_b,crm=whsec_c")
    assert env.env_pairs("SB_TEST_PAIRS") == {"shop": ["whsec_a", "whsec_b"], "crm": ["whsec_c"]}


def test_env_pairs_names_the_bad_item(monkeypatch):
    monkeypatch.setenv("SB_TEST_PAIRS", "shop")
    with pytest.raises(ImproperlyConfigured, match="'shop'"):
        env.env_pairs("SB_TEST_PAIRS")


def _manage(*args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    clean.update(env_vars)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_ENV="production", SECRET_KEY="x" * 20 + "-production-secret-key-for-the-deploy-check-0123",
        ALLOWED_HOSTS="support.example.com",
        EMAIL_AUTHSERV_IDS="mx.support.example.com",  # else support.W001: no sender could be verified
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_match_the_models():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOGIN_LOCKOUT_PARAMETERS", "username+address", "unknown lockout field"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT must be at least 1"),
        ("PII_REDACT", "email,postcode", "PII_REDACT: unknown kind"),
        ("PII_PHONE_REGIONS", "GB,UK", "PII_PHONE_REGIONS: unknown region"),
    ],
)
def test_security_settings_fail_loudly_on_a_bad_value(variable, value, message):
    result = _manage("check", **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr
