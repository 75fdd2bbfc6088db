"""Delivery outcomes that are not a success."""

from __future__ import annotations

from support.models import OutboundMessage


class DeliveryRetry(Exception):
    """A temporary failure: the row is back to ``pending`` and the task should retry."""


class PermanentFailure(Exception):
    """Retrying cannot help (a refused callback target, a rejected recipient)."""

    def __init__(self, message: str, *, status: str = OutboundMessage.Status.FAILED) -> None:
        super().__init__(message)
        self.status = status
