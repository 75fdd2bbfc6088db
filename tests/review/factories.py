"""Test data for the review side: tickets awaiting review with a final AI decision, made directly
(not through the triage pipeline) so these tests depend only on the review code."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from support.models import Category, Team, Ticket
from support.services import ticket_create
from triage.models import TriageDecision

_sequence = itertools.count(1)

DRAFT = (
    "Hello Ana,\n\nThanks for writing. Cards usually arrive within 5 working days; "
    "yours was posted on Monday.\n\nBest regards,\nSwitchboard Support"
)


def review_catalogue() -> dict[str, Any]:
    """Two teams and three categories, enough for routing and overrides."""
    cards, _ = Team.objects.get_or_create(slug="cards", defaults={"name": "Cards"})
    payments, _ = Team.objects.get_or_create(slug="payments", defaults={"name": "Payments"})
    categories = {}
    for slug, team in [
        ("card_arrival", cards),
        ("lost_or_stolen_card", cards),
        ("failed_transfer", payments),
    ]:
        categories[slug], _ = Category.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("_", " ").capitalize(), "default_team": team}
        )
    return {"teams": {"cards": cards, "payments": payments}, "categories": categories}


def review_ticket_make(
    *,
    subject: str = "Where is my new card?",
    body_text: str = "Hi, I ordered a card two weeks ago and it has not arrived. Ana",
    body_html: str = "",
    draft: str = DRAFT,
    confidence: float | None = 0.42,
    category_slug: str = "card_arrival",
    team_slug: str = "cards",
    priority: str = "normal",
    reasons: list[str] | None = None,
    risk_flags: list[str] | None = None,
    flag_details: dict[str, Any] | None = None,
    citations: list[int] | None = None,
    due_in: timedelta | None = timedelta(hours=4),
    customer_email: str | None = None,
    callback_url: str = "",
    with_decision: bool = True,
) -> Ticket:
    number = next(_sequence)
    message_id = f"<customer-{number}-{timezone.now().timestamp()}@customers.example>"
    with transaction.atomic():
        ticket, _ = ticket_create(
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            customer_email=customer_email or f"ana.{number}@customers.example",
            customer_name="Ana Lima",
            channel="webhook" if callback_url else "email",
            source="email" if not callback_url else "tests",
            external_id=message_id,
            message_id=message_id,
            callback_url=callback_url,
        )
        # Straight to awaiting_review inside the same transaction: the triage task that
        # ticket_create enqueues on commit then finds no "new" ticket and does nothing.
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Ticket.Status.AWAITING_REVIEW,
            review_reasons=reasons if reasons is not None else ["low_confidence"],
            risk_flags=risk_flags or [],
            category=Category.objects.filter(slug=category_slug).first(),
            team=Team.objects.filter(slug=team_slug).first(),
            priority=priority,
            first_response_due_at=timezone.now() + due_in if due_in is not None else None,
        )
        if with_decision:
            TriageDecision.objects.create(
                ticket=ticket,
                provider="openai",
                model="gpt-4o-mini",
                category_slug=category_slug,
                priority=priority,
                confidence=confidence,
                reply_draft=draft,
                citations=citations or [],
                risk_flags=risk_flags or [],
                flag_details=flag_details or {},
                needs_review=True,
                review_reasons=reasons if reasons is not None else ["low_confidence"],
                is_final=True,
                succeeded=True,
            )
    ticket.refresh_from_db()
    return ticket
