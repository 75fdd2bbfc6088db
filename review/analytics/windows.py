"""The dashboard's time windows and small statistics shared by its panels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

WINDOW_DAYS = (7, 30, 90)
WINDOW_DAYS_DEFAULT = 30

# Percentiles and medians are computed in Python over at most this many of the newest rows.
SAMPLE_LIMIT = 20_000


def window_days_parse(raw: str | None) -> int:
    """``?days=`` → one of ``WINDOW_DAYS``; anything else → the default (never an error page)."""
    try:
        days = int(raw or "")
    except ValueError:
        return WINDOW_DAYS_DEFAULT
    return days if days in WINDOW_DAYS else WINDOW_DAYS_DEFAULT


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (the same as numpy's default) of unsorted ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Window:
    days: int
    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        """The window's days for the roll-ups: ``days`` local dates ending today."""
        return timezone.localdate(self.end)

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.days - 1)


def window_for(*, days: int, now: datetime | None = None) -> Window:
    end = now or timezone.now()
    return Window(days=days, start=end - timedelta(days=days), end=end)
