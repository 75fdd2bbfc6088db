from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.review.factories import review_catalogue, review_ticket_make


@pytest.fixture
def catalogue(db: None) -> dict[str, Any]:
    return review_catalogue()


@pytest.fixture
def make_review_ticket(catalogue: dict[str, Any]) -> Callable[..., Any]:
    return review_ticket_make

