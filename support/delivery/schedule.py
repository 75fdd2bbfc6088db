"""When to try again: the attempt schedule derived from ``DELIVERY_RETRY_HORIZON_SECONDS``, and the
channel a row is delivered over (a failure or a success says something about the channel).

Why a horizon: the old schedule (5 attempts, full-jitter backoff from 60 s capped at 900 s) spent
its attempts in a median of 450 s, so a 10-minute SMTP outage failed most replies approved at its
start. The gaps now double from ``DELIVERY_RETRY_BACKOFF_SECONDS`` up to
``DELIVERY_RETRY_BACKOFF_MAX_SECONDS`` and the attempts go on until the horizon is covered: a blip
costs a minute, an outage of a few hours costs at most one capped gap after it ends (less when
another delivery on the channel succeeds first, see ``sweeper.outbound_pull_forward``)."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

from django.conf import settings

from support.models import OutboundMessage

# Delays up to this are held by the Celery task (countdown); longer ones wait in the database for
# the sweeper. A Redis broker redelivers a task still unacked after its visibility timeout (1 h by
# default), so hours-long countdowns don't belong in the queue.
TASK_HELD_MAX_SECONDS = 300
JITTER = 0.1  # each gap is drawn from ±10 % of its nominal value, so retries after an outage spread


def retry_schedule(*, first: int, cap: int, horizon: int) -> list[int]:
    """Nominal gaps (seconds) between attempts: ``first``, doubling, each at most ``cap``, until
    they add up to at least ``horizon``. ``retry_schedule(first=60, cap=1800, horizon=21600)`` is
    60, 120, 240, 480, 960 and eleven gaps of 1800: 16 retries over 6 h 1 min."""
    gaps: list[int] = []
    step = max(first, 1)
    while sum(gaps) < horizon:
        gaps.append(min(step, cap))
        step *= 2
    return gaps


def configured_schedule() -> list[int]:
    return retry_schedule(
        first=settings.DELIVERY_RETRY_BACKOFF_SECONDS,
        cap=settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS,
        horizon=settings.DELIVERY_RETRY_HORIZON_SECONDS,
    )


def delivery_max_attempts() -> int:
    """Attempts before a row is ``failed``: ``DELIVERY_MAX_ATTEMPTS`` when set, else the first
    attempt plus one per gap of the schedule."""
    return settings.DELIVERY_MAX_ATTEMPTS or len(configured_schedule()) + 1


def retry_delay_seconds(*, attempts: int) -> int:
    """Nominal gap after ``attempts`` failed attempts (past the schedule's end: the cap)."""
    gaps = configured_schedule()
    index = max(attempts - 1, 0)
    return gaps[index] if index < len(gaps) else settings.DELIVERY_RETRY_BACKOFF_MAX_SECONDS


def jittered(seconds: int) -> int:
    return max(1, round(seconds * random.uniform(1 - JITTER, 1 + JITTER)))


def delivery_channel(outbound: OutboundMessage) -> str:
    """What a row travels over: every e-mail (replies and team notifications) leaves through the
    one configured e-mail backend; a callback through its receiver's host."""
    if outbound.kind == OutboundMessage.Kind.CALLBACK:
        return f"callback:{(urlsplit(outbound.to_address).hostname or '').lower()}"
    return "email"
