"""Regenerate the draft after an agent corrected the category.

The AI's draft was written for the category it guessed; once an agent corrects the category the
draft usually answers the wrong question. This writes a new draft for the corrected category
with the local drafter (knowledge-base passages of that category; nothing leaves the machine).
It does not touch the AI's ``TriageDecision``: that row is what calibration compares the agent's
correction against, so it must keep the AI's own answer. The caller keeps the new draft for the
agent's Reply box."""

from __future__ import annotations

from django.contrib.auth.models import User

from review.services.errors import ReviewError
from support.models import Message, Ticket
from triage.drafting import local_draft
from triage.kb.retrieval import kb_search


def review_draft_regenerate(*, ticket_id: int, agent: User) -> str:
    """A new draft for the ticket's current category. Raises ``ReviewError`` when the ticket is
    not awaiting review or has no category; ``Ticket.DoesNotExist`` outside the agent's teams."""
    ticket = Ticket.objects.visible_to(agent=agent).select_related("category", "customer").get(pk=ticket_id)
    if ticket.status != Ticket.Status.AWAITING_REVIEW:
        raise ReviewError("This ticket no longer needs review.")
    if ticket.category is None:
        raise ReviewError("Choose a category first.")
    customer_text = "\n\n".join(
        ticket.messages.filter(direction=Message.Direction.INBOUND).values_list("body_text", flat=True)
    )
    text = f"{ticket.subject}\n\n{customer_text}"
    hits = kb_search(query=text, limit=3, category_slug=ticket.category.slug)
    draft = local_draft(
        category_slug=ticket.category.slug,
        customer_name=ticket.customer.name,
        ticket_text=text,
        hits=hits,
    )
    return draft.text
