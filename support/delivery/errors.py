"""Delivery outcomes that are not a success."""

from __future__ import annotations

from support.models import OutboundMessage


class DeliveryRetry(Exception):
    """A temporary failure: the row is back to ``pending`` with ``next_attempt_at``.

    ``countdown`` is set when the retry is short enough for the task to hold it (Celery retries
    after that many seconds); None means the sweeper sends the row when it is due."""

    def __init__(self, message: str, *, countdown: int | None = None) -> None:
        super().__init__(message)
        self.countdown = countdown


class PermanentFailure(Exception):
    """Retrying cannot help (a refused callback target, a rejected recipient)."""

    def __init__(self, message: str, *, status: str = OutboundMessage.Status.FAILED) -> None:
        super().__init__(message)
        self.status = status
