"""Switchboard settings: everything comes from the environment, with safe laptop defaults.

With no variables set you get the embedded stack (SQLite under var/, Celery tasks run in-process,
local-memory cache, the local AI provider, e-mail written to files). DATABASE_URL and REDIS_URL
switch to the real stack; DJANGO_ENV=production insists on the secrets and hardening.
Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
import phonenumbers
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from support.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_json,
    env_list,
    env_pairs,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, production or test, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"


def _required_in_production(name: str, default: str) -> str:
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
    return default


SECRET_KEY = _required_in_production(
    "SECRET_KEY", "dev-only-insecure-key-0123456789-switchboard-not-for-production"
)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "anymail",
    "axes",
    "support",
    "triage",
    "triage.kb",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "support.middleware.ContentSecurityPolicyMiddleware",
    "support.middleware.LoginRequiredMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "support.urls"
WSGI_APPLICATION = "support.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except Exception as exc:  # dj_database_url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "switchboard.sqlite3"),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, result backend and cache -------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
# An unacknowledged task is redelivered after visibility_timeout; it must outlive the longest task,
# or a slow LLM call gets a twin.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=CELERY_TASK_TIME_LIMIT * 2),
    "socket_connect_timeout": 2,
}
# Publishing happens inside request handlers (on commit). With Redis down, fail within about a
# second and leave the row for the sweeper instead of holding the request for the default retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "switchboard")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dispatch-pending-work": {"task": "support.tasks.dispatch_pending_task", "schedule": 30.0},
    "requeue-stuck-triage": {"task": "triage.tasks.requeue_stuck_triage_task", "schedule": 60.0},
    "deliver-due-outbound": {"task": "support.tasks.deliver_due_outbound_task", "schedule": 30.0},
    "escalate-sla-at-risk": {"task": "triage.tasks.sla_escalate_task", "schedule": 60.0},
    "expire-review-claims": {"task": "review.tasks.expire_claims_task", "schedule": crontab(minute="*")},
    "refresh-dashboard-rollups": {
        "task": "review.tasks.rollups_refresh_task",
        "schedule": float(env_int("ROLLUP_REFRESH_SECONDS", 300, minimum=10)),
    },
    "drift-checks": {"task": "review.tasks.drift_check_task", "schedule": crontab(minute="7")},
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "sb"),
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/review/"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# --- Login throttling (django-axes) --------------------------------------------------------------
# AxesStandaloneBackend first: it refuses a locked-out login before ModelBackend checks a password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
_LOCKOUT_FIELDS = {"username", "ip_address", "user_agent"}


def _lockout_parameters(name: str, default: list[str]) -> list[str | list[str]]:
    """``username+ip_address,ip_address`` -> ``[["username", "ip_address"], "ip_address"]``.

    Each comma-separated item is one lockout rule; ``+`` joins fields that must all match.
    """
    rules: list[str | list[str]] = []
    for item in env_list(name, default):
        fields = [field.strip() for field in item.split("+")]
        unknown = [field for field in fields if field not in _LOCKOUT_FIELDS]
        if unknown or not fields:
            raise ImproperlyConfigured(
                f"{name}: unknown lockout field(s) {unknown} in {item!r}; use {sorted(_LOCKOUT_FIELDS)} joined by +"
            )
        rules.append(fields[0] if len(fields) == 1 else fields)
    if not rules:
        raise ImproperlyConfigured(f"{name} must name at least one lockout rule")
    return rules


AXES_ENABLED = env_bool("LOGIN_THROTTLE_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
# Never None: without a cool-off a lock lasts until an admin lifts it, a denial of service for free.
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
# Username and address together by default: a stranger guessing Ada's password from one machine
# cannot lock Ada out of hers. Behind a proxy REMOTE_ADDR is the proxy (we do not trust
# X-Forwarded-For for this), so there the rule degrades to a per-username lock.
AXES_LOCKOUT_PARAMETERS = _lockout_parameters("LOGIN_LOCKOUT_PARAMETERS", ["username+ip_address"])
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Failures during a lockout must not extend it forever (a scripted attacker would keep it shut).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_FORM_FIELD = "username"

# Paths reachable without a session. Intake authenticates by signature, token or provider secret.
PUBLIC_PATH_PREFIXES = (
    "/accounts/login/",
    "/static/",
    "/healthz",
    "/api/",
    "/anymail/",
    "/rate/",  # customers rating a reply: the signed token in the link is the authorisation
    "/metrics",  # authorized in the view: bearer METRICS_TOKEN, or a staff session when unset
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "support.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Ticket intake and status for systems that send Switchboard tickets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- I18N, static, media ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
# Files browsers ask for at the site root without being told (/favicon.ico), served before login.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
if not PRODUCTION:
    # WhiteNoise warns at every start when STATIC_ROOT is missing; in development the finders serve.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- E-mail: outbound -------------------------------------------------------------------------
# CSAT: a signed good/bad rating link under every reply e-mail (support/csat.py).
CSAT_ENABLED = env_bool("CSAT_ENABLED", default=True)
CSAT_LINK_MAX_AGE_DAYS = env_int("CSAT_LINK_MAX_AGE_DAYS", 30, minimum=1)
# Who "we" are in drafted replies ("Thank you for contacting <name>", "<name> Support").
ORGANISATION_NAME = env_str("ORGANISATION_NAME", "Switchboard")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Switchboard Support <support@switchboard.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Addresses that are ours: mail from them is never answered (loop safety).
SUPPORT_ADDRESSES = env_list("SUPPORT_ADDRESSES") or [DEFAULT_FROM_EMAIL]
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
ANYMAIL_ESP = env_str("ANYMAIL_ESP")
ANYMAIL = env_json("ANYMAIL", {})
if not isinstance(ANYMAIL, dict):
    raise ImproperlyConfigured("ANYMAIL must be a JSON object of anymail settings")
if env_str("ANYMAIL_WEBHOOK_SECRET"):
    ANYMAIL["WEBHOOK_SECRET"] = env_str("ANYMAIL_WEBHOOK_SECRET")
if env_str("EMAIL_BACKEND"):
    EMAIL_BACKEND = env_str("EMAIL_BACKEND")
elif ANYMAIL_ESP:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
elif EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "sent-mail")

# --- E-mail: inbound --------------------------------------------------------------------------
IMAP_HOST = env_str("IMAP_HOST")
IMAP_PORT = env_int("IMAP_PORT", 993, minimum=1)
IMAP_SSL = env_bool("IMAP_SSL", True)
IMAP_USER = env_str("IMAP_USER")
IMAP_PASSWORD = env_str("IMAP_PASSWORD")
IMAP_FOLDER = env_str("IMAP_FOLDER", "INBOX")
IMAP_POLL_SECONDS = env_int("IMAP_POLL_SECONDS", 60, minimum=5)
if IMAP_HOST:
    CELERY_BEAT_SCHEDULE["poll-imap"] = {"task": "support.tasks.poll_imap_task", "schedule": float(IMAP_POLL_SECONDS)}
EMAIL_MAX_ATTACHMENT_BYTES = env_int("EMAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=0)
EMAIL_MAX_ATTACHMENTS = env_int("EMAIL_MAX_ATTACHMENTS", 10, minimum=0)
EMAIL_ATTACHMENT_TYPES = env_list(
    "EMAIL_ATTACHMENT_TYPES",
    ["image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain", "text/csv"],
)
EMAIL_SENDER_QUOTA_PER_HOUR = env_int("EMAIL_SENDER_QUOTA_PER_HOUR", 20, minimum=1)
# Sender authentication (support/intake/sender_auth.py, docs/security.md): the authserv-ids whose
# Authentication-Results we believe (our MTA's, the ESP's, the mailbox provider's), and whether a
# message with no trusted verdict goes to a human as sender_unverified (a failing one always does).
EMAIL_AUTHSERV_IDS = env_list("EMAIL_AUTHSERV_IDS")
EMAIL_SENDER_AUTH_REQUIRED = env_bool("EMAIL_SENDER_AUTH_REQUIRED", PRODUCTION)

# --- Webhook intake ---------------------------------------------------------------------------
WEBHOOK_SECRETS = env_pairs("WEBHOOK_SECRETS")
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
WEBHOOK_TOLERANCE_SECONDS = 300
WEBHOOK_RATE_LIMIT_PER_MINUTE = env_int("WEBHOOK_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Outbound callbacks refuse private, loopback and link-local targets unless listed here (SSRF).
CALLBACK_ALLOWED_HOSTS = env_list("CALLBACK_ALLOWED_HOSTS")
CALLBACK_SIGNING_SECRET = env_str("CALLBACK_SIGNING_SECRET", "whsec_" + "c3dpdGNoYm9hcmQtZGV2LWNhbGxiYWNr")
# Outbox delivery (support/delivery/, docs/delivery.md). A reply that can't be delivered is retried
# for DELIVERY_RETRY_HORIZON_SECONDS (an SMTP or receiver outage of a few hours loses nothing): the
# first retry after DELIVERY_RETRY_BACKOFF_SECONDS, each gap twice the previous one, capped at
# DELIVERY_RETRY_BACKOFF_MAX_SECONDS. DELIVERY_MAX_ATTEMPTS = 0 takes as many attempts as that
# schedule needs (17 with the defaults); a number caps the attempts instead (the old behaviour).
# A failed row is re-armed automatically (at most DELIVERY_AUTO_RETRY_LIMIT times, 0 = never)
# once a later delivery on its channel succeeded. Also: the callback HTTP timeout, and how long a
# row may sit in "sending" before the sweeper decides its worker died (> the Celery hard limit).
DELIVERY_RETRY_HORIZON_SECONDS = env_int("DELIVERY_RETRY_HORIZON_SECONDS", 6 * 3600, minimum=1)
DELIVERY_RETRY_BACKOFF_SECONDS = env_int("DELIVERY_RETRY_BACKOFF_SECONDS", 60, minimum=1)
DELIVERY_RETRY_BACKOFF_MAX_SECONDS = env_int("DELIVERY_RETRY_BACKOFF_MAX_SECONDS", 1800, minimum=1)
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 0, minimum=0)
DELIVERY_AUTO_RETRY_LIMIT = env_int("DELIVERY_AUTO_RETRY_LIMIT", 3, minimum=0)
DELIVERY_SENDING_TIMEOUT_SECONDS = env_int(
    "DELIVERY_SENDING_TIMEOUT_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=CELERY_TASK_TIME_LIMIT + 1
)
CALLBACK_TIMEOUT_SECONDS = env_float("CALLBACK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# GET /metrics (review/analytics/metrics.py): when set, scrapers send "Authorization: Bearer <token>";
# when empty only a logged-in staff user may read the page.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Drift checks (review/monitoring/, docs/drift.md) ----------------------------------------------
# Every hour (beat "drift-checks") the last DRIFT_RECENT_HOURS are compared with the
# DRIFT_REFERENCE_DAYS before them. A check needs DRIFT_MIN_SAMPLES on each side, a p-value under
# DRIFT_ALPHA AND an effect over its threshold to breach: with thousands of tickets a tiny, harmless
# shift is "significant", and with a handful a big one is noise.
DRIFT_RECENT_HOURS = env_int("DRIFT_RECENT_HOURS", 24, minimum=1)
DRIFT_REFERENCE_DAYS = env_int("DRIFT_REFERENCE_DAYS", 30, minimum=1)
DRIFT_MIN_SAMPLES = env_int("DRIFT_MIN_SAMPLES", 100, minimum=2)
DRIFT_ALPHA = env_float("DRIFT_ALPHA", 0.001, minimum=1e-12, maximum=0.5)
DRIFT_PSI_THRESHOLD = env_float("DRIFT_PSI_THRESHOLD", 0.1, minimum=0)
DRIFT_MIX_RATIO = env_float("DRIFT_MIX_RATIO", 2.0, minimum=1)
DRIFT_KS_THRESHOLD = env_float("DRIFT_KS_THRESHOLD", 0.1, minimum=0, maximum=1)
DRIFT_RATE_MIN_CHANGE = env_float("DRIFT_RATE_MIN_CHANGE", 0.01, minimum=0, maximum=1)
DRIFT_RATIO_THRESHOLD = env_float("DRIFT_RATIO_THRESHOLD", 1.5, minimum=1)
# A drift alert is e-mailed to every manager and, when set, POSTed (Standard Webhooks signature,
# the SSRF check of callbacks: a private host must be in CALLBACK_ALLOWED_HOSTS) to this URL.
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL")
ALERT_WEBHOOK_SECRET = env_str("ALERT_WEBHOOK_SECRET")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured("ALERT_WEBHOOK_URL is set: ALERT_WEBHOOK_SECRET must be a whsec_<base64> secret")

# --- AI triage ----------------------------------------------------------------------------------
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_CHAIN = env_list("LLM_CHAIN", ["openai", "local"] if OPENAI_API_KEY else ["local"])
_KNOWN_PROVIDERS = {"openai", "local"}
if unknown := set(LLM_CHAIN) - _KNOWN_PROVIDERS:
    raise ImproperlyConfigured(f"LLM_CHAIN names unknown providers: {sorted(unknown)}")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 20.0, minimum=0.1)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_RETRY_AFTER_CAP_SECONDS = env_float("LLM_RETRY_AFTER_CAP_SECONDS", 30.0, minimum=0)
LLM_BREAKER_THRESHOLD = env_int("LLM_BREAKER_THRESHOLD", 5, minimum=1)
LLM_BREAKER_COOLDOWN_SECONDS = env_int("LLM_BREAKER_COOLDOWN_SECONDS", 60, minimum=1)
# USD per million tokens, {"model": {"input": x, "output": y}}.
LLM_PRICES = env_json(
    "LLM_PRICES",
    {
        "gpt-4o-mini": {"input": 0.15, "output": 0.60},
        "gpt-4o": {"input": 2.50, "output": 10.00},
        "gpt-4.1-mini": {"input": 0.40, "output": 1.60},
    },
)
LLM_DAILY_BUDGET_USD = env_float("LLM_DAILY_BUDGET_USD", 20.0, minimum=0)
LLM_CACHE_SECONDS = env_int("LLM_CACHE_SECONDS", 7 * 24 * 3600, minimum=0)
_PII_KINDS = ["email", "phone", "card", "iban", "dob", "address", "account", "sort_code", "person"]
PII_REDACT = env_list("PII_REDACT", _PII_KINDS)
if unknown_pii := sorted(set(PII_REDACT) - set(_PII_KINDS)):
    raise ImproperlyConfigured(f"PII_REDACT: unknown kind(s) {unknown_pii}; known: {', '.join(_PII_KINDS)}")
# National phone formats are recognised for these regions ("+CC" numbers from anywhere).
PII_PHONE_REGIONS = [region.upper() for region in env_list("PII_PHONE_REGIONS", ["GB", "US", "FR", "DE", "ES"])]
if unknown_regions := sorted(set(PII_PHONE_REGIONS) - phonenumbers.SUPPORTED_REGIONS):
    raise ImproperlyConfigured(f"PII_PHONE_REGIONS: unknown region code(s) {unknown_regions} (ISO 3166 alpha-2)")
PROMPT_VERSION = env_str("PROMPT_VERSION", "triage")
URL_ALLOW_LIST = env_list("URL_ALLOW_LIST", ["switchboard.localhost"])
TRIAGE_STUCK_SECONDS = env_int("TRIAGE_STUCK_SECONDS", 600, minimum=30)
CLASSIFIER_DIR = Path(env_str("CLASSIFIER_DIR", str(VAR_DIR / "models")))
# The demo data set (BANKING77, CC BY 4.0), shipped in the repository; see review/demo/banking77.
BANKING77_DIR = Path(env_str("BANKING77_DIR", str(BASE_DIR / "review" / "demo" / "banking77")))
# Fuse keyword retrieval with sentence-embedding similarity when the encoder is installed.
KB_HYBRID = env_bool("KB_HYBRID", True)
# all-MiniLM-L6-v2's files, put there (and checked against their SHA-256) by `manage.py encoder_install`.
ENCODER_DIR = Path(env_str("ENCODER_DIR", str(VAR_DIR / "encoder" / "all-MiniLM-L6-v2")))
# The sentence encoder: "auto" uses it when installed, "on" makes a missing or broken one an error,
# "off" never loads it (the local model is then the tf-idf model alone).
LOCAL_MODEL_EMBEDDINGS = env_choice("LOCAL_MODEL_EMBEDDINGS", "auto", ("auto", "on", "off"))
# BLAS threads per process once the encoder is loaded (0: the BLAS library's default, one per
# core). Concurrency comes from the worker's threads; BLAS threads on top oversubscribe the cores
# and OpenBLAS's spinning threads collapse under contention (bench/embeddings.md: p99 3.7 s -> 0.13 s).
ENCODER_BLAS_THREADS = env_int("ENCODER_BLAS_THREADS", 1, minimum=0)
# Warm workers (triage/warmup.py): a Celery worker process loads the classifier, the encoder and the
# KB retrieval state when it starts, before taking tickets, instead of on its first ticket.
WORKER_WARM_START = env_bool("WORKER_WARM_START", True)

# --- Escalation policy ------------------------------------------------------------------------
AUTO_SEND_ENABLED = env_bool("AUTO_SEND_ENABLED", True)
# Cost per resolved ticket counts human handling time at this rate (USD per hour; docs/dashboard.md).
HUMAN_COST_PER_HOUR = env_float("HUMAN_COST_PER_HOUR", 30.0, minimum=0)
TARGET_ERROR = env_float("TARGET_ERROR", 0.02, minimum=0.0001, maximum=0.5)
# Release safety (docs/releases.md): the evaluation sets a candidate configuration must pass before
# `triage_config promote`, and its cost budget per ticket.
EVAL_GATE_SETS = env_list("EVAL_GATE_SETS", ["banking77-demo", "adversarial"])
EVAL_COST_BUDGET_USD = env_float("EVAL_COST_BUDGET_USD", 0.01, minimum=0.0)
AUDIT_SAMPLE_RATE = env_float("AUDIT_SAMPLE_RATE", 0.05, minimum=0, maximum=1)
# 0.01: no true high-stakes BANKING77 text out of 1,878 fell under it out-of-fold (bench/policy.md).
HIGH_STAKES_PROBABILITY_LIMIT = env_float("HIGH_STAKES_PROBABILITY_LIMIT", 0.01, minimum=0, maximum=1)
REVIEW_CLAIM_SECONDS = env_int("REVIEW_CLAIM_SECONDS", 300, minimum=30)

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Personal data (PII_REDACT's kinds but names) is masked in every log line (triage.pii).
    "filters": {"pii": {"()": "triage.pii.PiiLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["pii"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per task success drowns everything else in the eager embedded mode.
        "celery.app.trace": {"level": "WARNING"},
        "kombu": {"level": "ERROR"},
    },
}

# --- Production hardening ---------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
