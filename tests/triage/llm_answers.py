"""Scripted model answers for the triage tests (the loopback server plays the model)."""

from __future__ import annotations

import json
import re
from typing import Any

from review.demo import tenant as demo

# slug -> default team slug of the demo tenant, without the database (the fake server's thread
# and pytest's collection must not touch it).
_TEAMS = {demo.category_slug(label): team for label, team in demo.team_for_label().items()}


def answer(category: str = "card_arrival", **overrides: Any) -> str:
    """A valid answer for ``category`` (team = the category's default team)."""
    team = _TEAMS.get(category, "cards")
    payload: dict[str, Any] = {
        "category": category,
        "priority": "normal",
        "sentiment": "neutral",
        "language": "en",
        "team": team,
        "confidence": 0.97,
        "reply_draft": "Hello [CUSTOMER_NAME],\n\nThank you for your message. "
        "Cards arrive within a few working days."
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

