"""What the system learns from its reviewers: training rows for the local model.

Thresholds learnt from reviews live in ``review.calibration``; audits and the brake in
``review.autonomy``.
"""

from __future__ import annotations

from review.models import ReviewOutcome
from support.models import Message, Ticket
from triage.classifier import ticket_text


def review_training_rows() -> tuple[list[str], list[str]]:
    """Reviewed tickets as training rows: the text the model would see (subject + first inbound
    message), labelled with the reviewer's final category, else the ticket's final category."""
    final_by_ticket: dict[int, str] = {}
    # Newest first: the latest review wins.
    for ticket_id, slug in (
        ReviewOutcome.objects.exclude(final_category_slug="")
        .order_by("-decided_at", "-id")
        .values_list("ticket_id", "final_category_slug")
    ):
        final_by_ticket.setdefault(ticket_id, slug)
    reviewed_ids = set(ReviewOutcome.objects.values_list("ticket_id", flat=True))
    tickets = (
        Ticket.objects.filter(pk__in=reviewed_ids)
        .select_related("category")
        .only("id", "subject", "category__slug")
    )
    first_message: dict[int, str] = {}
    for ticket_id, body_for_model, body_text in (
        Message.objects.filter(ticket_id__in=reviewed_ids, direction=Message.Direction.INBOUND)
        .order_by("created_at", "id")
        .values_list("ticket_id", "body_for_model", "body_text")
    ):
        first_message.setdefault(ticket_id, body_for_model or body_text)
    texts: list[str] = []
    labels: list[str] = []
    for ticket in tickets:
        label = final_by_ticket.get(ticket.pk) or (ticket.category.slug if ticket.category else "")
        text = ticket_text(subject=ticket.subject, body=first_message.get(ticket.pk, ""))
        if label and text:
            texts.append(text)
            labels.append(label)
    return texts, labels
