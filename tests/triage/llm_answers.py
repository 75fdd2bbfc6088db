"""Scripted model answers for the triage tests (the loopback server plays the model)."""

from __future__ import annotations

import json
import re
from typing import Any

from support.models import Category


def answer(category: str = "card_arrival", **overrides: Any) -> str:
    """A valid answer for ``category`` (team = the category's default team)."""
    team = Category.objects.select_related("default_team").get(slug=category).default_team.slug
    payload: dict[str, Any] = {
        "category": category,
        "priority": "normal",
        "sentiment": "neutral",
        "language": "en",
        "team": team,
        "confidence": 0.97,
        "reply_draft": "Hello [CUSTOMER_NAME],\n\nThank you for your message. Cards arrive within a few working days."
                       "\n\nKind regards,\nSupport",
        "citations": [],
        "risk_flags": [],
        "rationale": "The customer asks when the card arrives.",
    }
    payload.update(overrides)
    return json.dumps(payload)


def system_prompt(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "system")


def user_prompt(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def canary_of(request: dict[str, Any]) -> str:
    match = re.search(r"SBX-[0-9a-f]{20}", system_prompt(request))
    assert match, "the system prompt carries a canary"
    return match.group(0)
