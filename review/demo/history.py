"""Sixty days of demo history, so a newcomer's first look at the dashboard tells a story.

Each past day gets a few dozen BANKING77 tickets on three channels, with their final triage
decisions (and a few failed attempts: timeouts, 429s, invalid output), auto-sent replies for the
confident ones, reviewers' verdicts with handling times for the rest, graded audit samples, CSAT
ratings, SLA due dates and a few reopened tickets. The last ``DRIFT_DAYS`` days hold one drift
episode: a card-delivery incident floods the desk with ``DRIFT_LABEL`` tickets (``DRIFT_SURGE_PER_DAY``
a day on top of the usual mix, far more than triple its share) and the model's confidence on them
drops. A surge that size is what a desk of this volume can detect at all: the drift checks want
``DRIFT_MIN_SAMPLES`` tickets in the recent window (docs/drift.md).

Rows are written in bulk (the history is already decided: no triage task is dispatched, no e-mail is
sent), then dated by hand, then rolled up for the dashboard (``review.rollups``). Deterministic
(one seeded random generator) and idempotent (skipped once history exists).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from tqdm import tqdm

from review.demo import tenant as demo
from review.models import AuditSample, ReviewOutcome
from review.rollups import rollup_day_compute
from support.models import Category, CsatRating, Customer, Message, OutboundMessage, Ticket, TicketEvent
from triage.models import TriageDecision

HISTORY_SOURCE = "demo-history"
DEMO_HISTORY_DAYS = 60
TICKETS_PER_DAY = 18
DRIFT_LABEL = "card_arrival"
DRIFT_DAYS = 4
DRIFT_SURGE_PER_DAY = 30
AUTO_CONFIDENCE = 0.85
CHANNELS = (("email", 0.6), ("webhook", 0.3), ("web", 0.1))
FAILURES = (("APITimeoutError", 0.02), ("RateLimitError", 0.03), ("OutputInvalid", 0.015))

M = TypeVar("M", bound=models.Model)


@dataclass
class _Planned:
    ticket: Ticket
    label: str
    auto: bool
    created_at: datetime


def _dated_create(model: type[M], rows: Sequence[M], dated: Sequence[str]) -> list[M]:
    """``bulk_create`` stamps ``auto_now_add`` fields with now; put the history's dates back."""
    wanted = [{name: getattr(row, name) for name in dated} for row in rows]
    created = model.objects.bulk_create(rows, batch_size=1000)  # type: ignore[attr-defined]  # every model has objects
    for row, values in zip(created, wanted, strict=True):
        for name, value in values.items():
            setattr(row, name, value)
    model.objects.bulk_update(created, list(dated), batch_size=1000)  # type: ignore[attr-defined]
    return list(created)


def _choose(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[weight for _, weight in weighted])[0]


def demo_history_seed(*, days: int = DEMO_HISTORY_DAYS, now: datetime | None = None, progress: bool = True) -> int:
    """Write ``days`` days of history before today; returns the tickets written (0 if present)."""
    if days <= 0 or Ticket.objects.filter(source=HISTORY_SOURCE).exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(1977)
    rows = demo.demo_rows(3000)
    by_label: dict[str, list[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(text)
    categories = {category.slug: category for category in Category.objects.all()}
    user_model = get_user_model()
    agents = list(user_model.objects.filter(username__in=("agent1", "agent2")).order_by("username"))
    high_stakes = {demo.category_slug(label) for label in demo.HIGH_STAKES}
    start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)

    customers = _demo_customers()
    planned: list[_Planned] = []
    for offset in tqdm(range(days, 0, -1), desc="demo history", unit="day", disable=not progress):
        day_start = start_of_today - timedelta(days=offset)
        weekend = day_start.weekday() >= 5
        count = int(TICKETS_PER_DAY * (0.6 if weekend else 1.0)) + rng.randint(-3, 3)
        labels = [rng.choice(rows)[1] for _ in range(count)]
        if offset <= DRIFT_DAYS:  # the drift episode: one intent surges
            labels += [DRIFT_LABEL] * DRIFT_SURGE_PER_DAY
        for label in labels:
            created_at = day_start + timedelta(seconds=rng.randint(7 * 3600, 21 * 3600))
            slug = demo.category_slug(label)
            drifting = label == DRIFT_LABEL and offset <= DRIFT_DAYS
            confidence = rng.uniform(0.45, 0.7) if drifting else rng.betavariate(9, 1.2)
            auto = slug not in high_stakes and confidence >= AUTO_CONFIDENCE and rng.random() < 0.7
            ticket = Ticket(
                subject=rng.choice(by_label[label])[:70],
                channel=_choose(rng, CHANNELS),
                status=Ticket.Status.AUTO_REPLIED if auto else Ticket.Status.REPLIED,
                customer=rng.choice(customers),
                category=categories.get(slug),
                team=categories[slug].default_team if slug in categories else None,
                language="en",
                source=HISTORY_SOURCE,
                metadata={"confidence": round(confidence, 3)},
                created_at=created_at,
                first_response_due_at=created_at + timedelta(hours=8),
            )
            planned.append(_Planned(ticket=ticket, label=label, auto=auto, created_at=created_at))
    with transaction.atomic():
        _write(planned, rng=rng, agents=agents, now=now)
    today = timezone.localdate(now)
    for offset in tqdm(range(days + 1), desc="demo roll-ups", unit="day", disable=not progress):
        rollup_day_compute(day=today - timedelta(days=offset), now=now)
    return len(planned)


def _demo_customers() -> list[Customer]:
    emails = [
        f"{first}.{last}@customers.northwind.example".lower()
        for first in demo.FIRST_NAMES for last in demo.LAST_NAMES[:5]
    ]
    Customer.objects.bulk_create([Customer(email=email, name=email.split("@")[0].replace(".", " ").title())
                                  for email in emails], ignore_conflicts=True)
    return list(Customer.objects.filter(email__in=emails).order_by("pk"))


def _write(planned: list[_Planned], *, rng: random.Random, agents: list[Any], now: datetime) -> None:
    for plan in planned:
        if plan.auto:
            plan.ticket.first_responded_at = plan.created_at + timedelta(seconds=rng.randint(20, 90))
        else:
            plan.ticket.first_responded_at = plan.created_at + timedelta(minutes=rng.randint(10, 11 * 60))
        plan.ticket.resolved_at = plan.ticket.first_responded_at
    tickets = _dated_create(Ticket, [plan.ticket for plan in planned], ["created_at"])
    for plan, ticket in zip(planned, tickets, strict=True):
        plan.ticket = ticket
    _dated_create(Message, [
        Message(ticket=plan.ticket, direction=Message.Direction.INBOUND, author_email=plan.ticket.customer.email,
                body_text=f"Hi,\n\n{plan.ticket.subject}\n\nThanks", created_at=plan.created_at)
        for plan in planned
    ], ["created_at"])
    decisions: list[TriageDecision] = []
    for plan in planned:
        confidence = float(plan.ticket.metadata["confidence"])
        for error_class, rate in FAILURES:
            if rng.random() < rate:
                decisions.append(TriageDecision(
                    ticket=plan.ticket, attempt=1, provider="openai", model="gpt-4o-mini", prompt_version="triage-v3",
                    error_class=error_class, succeeded=False, latency_ms=rng.randint(800, 20000),
                    fallback_reason=f"{error_class}: fell back to the local model",
                    created_at=plan.created_at,
                ))
        slug = demo.category_slug(plan.label)
        decisions.append(TriageDecision(
            ticket=plan.ticket, attempt=2, provider="openai", model="gpt-4o-mini", prompt_version="triage-v3",
            category_slug=slug, confidence=confidence, language="en", needs_review=not plan.auto,
            review_reasons=[] if plan.auto else ["low_confidence"], is_final=True, succeeded=True,
            tokens_in=rng.randint(600, 1400), tokens_out=rng.randint(80, 260),
            cost_usd=Decimal(str(round(rng.uniform(0.0004, 0.0025), 6))),
            latency_ms=int(rng.lognormvariate(6.9, 0.45)), created_at=plan.created_at + timedelta(seconds=3),
        ))
    decisions = _dated_create(TriageDecision, decisions, ["created_at"])
    final = {decision.ticket_id: decision for decision in decisions if decision.is_final}
    replies = _dated_create(OutboundMessage, [
        OutboundMessage(
            ticket=plan.ticket, kind=OutboundMessage.Kind.EMAIL, status=OutboundMessage.Status.SENT,
            idempotency_key=f"demo-history:{plan.ticket.pk}", to_address=plan.ticket.customer.email,
            subject=f"Re: {plan.ticket.subject}", body_text="Thanks for writing in; here is what happens next.",
            auto_submitted=plan.auto, sent_at=plan.ticket.first_responded_at,
            created_at=plan.ticket.first_responded_at or plan.created_at,
        )
        for plan in planned
    ], ["created_at"])
    outcomes, audits, ratings, events = [], [], [], []
    for plan, reply in zip(planned, replies, strict=True):
        decision = final[plan.ticket.pk]
        decided_at = plan.ticket.first_responded_at or plan.created_at
        if plan.auto:
            if rng.random() < 0.25:
                wrong = rng.random() < 0.04
                audits.append(AuditSample(
                    ticket=plan.ticket, outbound=reply, decision=decision, category_slug=decision.category_slug,
                    grade=AuditSample.Grade.INCORRECT if wrong else AuditSample.Grade.CORRECT,
                    reason_code=ReviewOutcome.Reason.WRONG_FACTS if wrong else "",
                    graded_by=agents[0] if agents else None, graded_at=decided_at + timedelta(hours=2),
                    created_at=decided_at,
                ))
        elif agents:
            roll = rng.random()
            drifting = plan.label == DRIFT_LABEL and decision.confidence is not None and decision.confidence < 0.7
            verdict = (ReviewOutcome.Decision.OVERRIDDEN if roll < (0.35 if drifting else 0.08)
                       else ReviewOutcome.Decision.REJECTED if roll < 0.14 else ReviewOutcome.Decision.APPROVED)
            final_slug = "card_delivery_estimate" if verdict == ReviewOutcome.Decision.OVERRIDDEN else decision.category_slug
            outcomes.append(ReviewOutcome(
                ticket=plan.ticket, decision=decision, reviewer=rng.choice(agents), verdict=verdict,
                ai_category_slug=decision.category_slug, final_category_slug=final_slug,
                edit_distance=round(rng.uniform(0, 0.3), 3) if rng.random() < 0.4 else 0.0,
                reason_code=ReviewOutcome.Reason.TONE if verdict == ReviewOutcome.Decision.REJECTED else "",
                seconds_to_decision=round(rng.lognormvariate(5.3, 0.6), 1), decided_at=decided_at,
            ))
        if rng.random() < 0.3:
            good = rng.random() < (0.78 if plan.auto else 0.88)
            ratings.append(CsatRating(
                outbound=reply, ticket=plan.ticket, auto_sent=plan.auto, source=CsatRating.Source.EMAIL_LINK,
                rating=CsatRating.Rating.GOOD if good else CsatRating.Rating.BAD,
                created_at=decided_at + timedelta(hours=3), updated_at=decided_at + timedelta(hours=3),
            ))
        if rng.random() < 0.03 and decided_at + timedelta(days=2) < now:
            events.append(TicketEvent(ticket=plan.ticket, verb="reopened", actor_label="intake",
                                      created_at=decided_at + timedelta(days=2)))
    _dated_create(ReviewOutcome, outcomes, ["decided_at"])
    _dated_create(AuditSample, audits, ["created_at"])
    _dated_create(CsatRating, ratings, ["created_at", "updated_at"])
    _dated_create(TicketEvent, events, ["created_at"])
