"""Evaluation cases from what reviewers decided (``eval_build NAME --from-reviews``): the raw
ticket text, the reviewer's final category (else the ticket's), the high-stakes flag of that
category, the verdict on the AI's draft and the reply actually sent. Replay is ``eval_run`` on
such a set."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from review.models import ReviewOutcome
from support.models import Category, Message
from triage.evaluation.building import BuildResult, CaseSpec, evalset_store
from triage.evaluation.models import EvalSet


def review_cases(*, days: int) -> list[CaseSpec]:
    since = timezone.now() - timedelta(days=days)
    latest: dict[int, ReviewOutcome] = {}
    for outcome in (ReviewOutcome.objects.filter(decided_at__gte=since).select_related("ticket", "ticket__category")
                    .order_by("decided_at", "id")):
        latest[outcome.ticket_id] = outcome  # the latest review of a ticket wins
    high_stakes = set(Category.objects.filter(high_stakes=True).values_list("slug", flat=True))
    first_message: dict[int, str] = {}
    for ticket_id, body_text in (Message.objects.filter(ticket_id__in=list(latest), direction=Message.Direction.INBOUND)
                                 .order_by("created_at", "id").values_list("ticket_id", "body_text")):
        first_message.setdefault(ticket_id, body_text)
    cases = []
    for ticket_id in sorted(latest):
        outcome = latest[ticket_id]
        ticket = outcome.ticket
        category = outcome.final_category_slug or (ticket.category.slug if ticket.category else "")
        text = first_message.get(ticket_id, "")
        if not text or not category:
            continue
        cases.append(CaseSpec(
            text=text, subject=ticket.subject[:300], expected_category=category,
            expected_high_stakes=category in high_stakes, reviewer_verdict=outcome.verdict,
            sent_reply=outcome.sent_text,
        ))
    return cases


def evalset_build_reviews(*, name: str, days: int) -> BuildResult:
    return evalset_store(name=name, source=EvalSet.Source.REVIEWS, origin=f"reviews:{days}d",
                         cases=review_cases(days=days))
