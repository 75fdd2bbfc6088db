"""A replayed decision stream for the drift tests: tickets, their first message and a final AI
decision, written in bulk and dated into the reference or the recent window. Nothing is triaged:
the rows are what the triage pipeline would have stored."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from support.models import Customer, Message, Ticket
from triage.models import TriageDecision

CATEGORIES = ("card_arrival", "lost_or_stolen_card", "failed_transfer", "exchange_rate")
TEXTS = (
    "My card has not arrived yet, it has been a week.",
    "I lost my card yesterday on the bus, please block it straight away before someone uses it.",
    "The transfer to my landlord failed twice.",
    "Which exchange rate do you use when I pay abroad in euros with my card?",
)


@dataclass
class Stream:
    """How one window's traffic is drawn. ``weights`` per category; confidence ~ Beta."""

    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 1.0))
    confidence_alpha: float = 17.0
    confidence_beta: float = 3.0  # mean 0.85
    confidence_shift: float = 0.0


def stream_replay(*, count: int, start: datetime, end: datetime, stream: Stream, seed: int) -> list[int]:
    """Write ``count`` triaged tickets spread evenly over ``[start, end)``; returns decision ids."""
    rng = random.Random(seed)
    customer, _ = Customer.objects.get_or_create(email="drift.stream@customers.example")
    slugs = list(stream.weights)
    weights = [stream.weights[slug] for slug in slugs]
    tickets = Ticket.objects.bulk_create(
        Ticket(subject=f"Stream {seed}-{index}", channel="email", source="email", customer=customer,
               status=Ticket.Status.AWAITING_REVIEW)
        for index in range(count)
    )
    Message.objects.bulk_create(
        Message(ticket=ticket, direction=Message.Direction.INBOUND, body_text=rng.choice(TEXTS))
        for ticket in tickets
    )
    decisions = TriageDecision.objects.bulk_create(
        TriageDecision(
            ticket=ticket,
            provider="local",
            category_slug=rng.choices(slugs, weights)[0],
            confidence=max(0.0, rng.betavariate(stream.confidence_alpha, stream.confidence_beta) - stream.confidence_shift),
            language="es" if rng.random() < 0.1 else "en",
            needs_review=True,
            review_reasons=[rng.choice(["low_confidence", "no_threshold", "high_stakes"])],
            is_final=True,
            succeeded=True,
            latency_ms=rng.randint(200, 800),
            cost_usd=Decimal("0.0004") + Decimal(rng.randint(0, 100)) / Decimal(1_000_000),
        )
        for ticket in tickets
    )
    step = (end - start) / count
    # auto_now_add stamped "now"; date each row into its window, evenly spaced.
    for index, (ticket, decision) in enumerate(zip(tickets, decisions, strict=True)):
        ticket.created_at = decision.created_at = start + step * index
    TriageDecision.objects.bulk_update(decisions, ["created_at"], batch_size=500)
    Ticket.objects.bulk_update(tickets, ["created_at"], batch_size=500)
    return [decision.pk for decision in decisions]


def history_replay(*, now: datetime, recent: Stream, seed: int = 7, reference_count: int = 600,
                   recent_count: int = 200) -> None:
    """A stable reference (the 30 days before the last 24 hours) and a recent day drawn from ``recent``."""
    recent_start = now - timedelta(hours=24)
    stream_replay(count=reference_count, start=recent_start - timedelta(days=30), end=recent_start,
                  stream=Stream(), seed=seed)
    stream_replay(count=recent_count, start=recent_start, end=now - timedelta(minutes=1), stream=recent, seed=seed + 1)
