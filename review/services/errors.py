"""Decisions that cannot be taken; the message is shown to the agent as is."""

from __future__ import annotations

from datetime import datetime


class ReviewError(Exception):
    """A decision that cannot be taken; the message is shown to the agent as is."""


class ClaimHeldError(ReviewError):
    def __init__(self, holder: str, until: datetime | None) -> None:
        self.holder = holder
        self.until = until
        super().__init__(f"{holder} is working on this ticket.")


class NotAwaitingReviewError(ReviewError):
    pass
