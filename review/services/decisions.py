"""Decisions on a ticket: approve & send, reject, override, escalate, snooze, retry a delivery.

Every decision writes one ``ReviewOutcome`` in the same transaction as its effect: that row, not
free text, is what calibration, audits and drift analysis read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from review.edit_distance import edit_distance_normalised, text_normalise
from review.models import ReviewOutcome
from review.services.errors import ClaimHeldError, NotAwaitingReviewError, ReviewError
from support.delivery import outbound_reply_create, outbound_retry
from support.models import Category, OutboundMessage, Priority, Team, Ticket
from support.reasons import (
    REASON_BRAKED,
    REASON_HIGH_STAKES,
    REASON_LOW_CONFIDENCE,
    REASON_NO_CATEGORY,
    REASON_NO_THRESHOLD,
    REASON_POLICY_ALWAYS_REVIEW,
    REASON_POLICY_DRAFT_ONLY,
)
from support.services import ticket_event_record
from triage.models import TriageDecision
from triage.policy import policy_evaluate
from triage.sla import sla_apply

SNOOZE_CHOICES_MINUTES = (15, 60, 240, 1440)
# The review reasons that follow from the category and team (policy, threshold, high stakes):
# re-evaluated when an agent corrects the classification.
CLASSIFICATION_REASONS = frozenset({
    REASON_NO_CATEGORY, REASON_HIGH_STAKES, REASON_POLICY_ALWAYS_REVIEW, REASON_POLICY_DRAFT_ONLY,
    REASON_NO_THRESHOLD, REASON_LOW_CONFIDENCE, REASON_BRAKED,
})


def _lock_for_decision(*, ticket_id: int, agent: User) -> Ticket:
    """Lock the ticket row and check the agent may decide on it. Call inside ``atomic()``.

    The row lock serialises a double click or two tabs: the second request waits, then sees the
    first one's result.
    """
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    if ticket.status != Ticket.Status.AWAITING_REVIEW:
        raise NotAwaitingReviewError("This ticket no longer needs review.")
    if ticket.claimed_by_id != agent.pk and ticket.claim_is_live(now=timezone.now()):
        holder = ticket.claimed_by.get_username() if ticket.claimed_by else "someone"
        raise ClaimHeldError(holder, ticket.claim_expires_at)
    if ticket.claimed_by_id != agent.pk:
        # Not (or no longer) claimed by anyone: the agent may act if it is theirs to handle,
        # e.g. their lease lapsed and the expiry job cleared it while nobody else took it.
        if not Ticket.objects.filter(pk=ticket.pk).handleable_by(agent=agent).exists():
            raise ReviewError("This ticket is not in your queue (another team's, or escalated).")
    return ticket


def _outcome(
    *,
    ticket: Ticket,
    agent: User,
    decision: TriageDecision | None,
    verdict: str,
    **fields: Any,
) -> ReviewOutcome:
    now = timezone.now()
    claimed_at = ticket.claimed_at if ticket.claimed_by_id == agent.pk else None
    fields.setdefault(
        "final_category_slug",
        ticket.category.slug if ticket.category_id and ticket.category else "",
    )
    return ReviewOutcome.objects.create(
        ticket=ticket,
        decision=decision,
        reviewer=agent,
        verdict=verdict,
        ai_category_slug=decision.category_slug if decision else "",
        draft_text=decision.reply_draft if decision else "",
        claimed_at=claimed_at,
        seconds_to_decision=(now - claimed_at).total_seconds() if claimed_at else None,
        **fields,
    )


def _clear_claim(ticket: Ticket) -> None:
    ticket.claimed_by = None
    ticket.claimed_at = None
    ticket.claim_expires_at = None


def reply_idempotency_key(*, ticket: Ticket, decision: TriageDecision | None) -> str:
    """One reply per ticket and judged decision: a double click or a second tab collides here.

    ``review:<ticket>:<decision>``. When delivery of that reply ended ``failed``/``bounced`` the
    ticket comes back for review; a new approval then gets ``…:resend<n>`` (n = replies that
    failed), still deterministic, so a double click on the resend collides too.
    """
    base = f"review:{ticket.pk}:{decision.pk if decision else 'none'}"
    spent = OutboundMessage.objects.filter(
        Q(idempotency_key=base) | Q(idempotency_key__startswith=f"{base}:resend"),
        ticket=ticket,
        status__in=[OutboundMessage.Status.FAILED, OutboundMessage.Status.BOUNCED],
    ).count()
    return base if spent == 0 else f"{base}:resend{spent}"


def _send_reply(
    *, ticket: Ticket, agent: User, decision: TriageDecision | None, body_text: str
) -> OutboundMessage:

    outbound, _created = outbound_reply_create(
        ticket=ticket,
        body_text=body_text,
        created_by=agent,
        auto_submitted=False,
        idempotency_key=reply_idempotency_key(ticket=ticket, decision=decision),
    )
    return outbound


def _existing_reply_outcome(*, ticket_id: int, agent: User) -> ReviewOutcome | None:
    """The outcome of a send that already happened (the first of a double click)."""
    return (
        ReviewOutcome.objects.filter(
            ticket_id=ticket_id,
            reviewer=agent,
            verdict__in=[ReviewOutcome.Decision.APPROVED, ReviewOutcome.Decision.REJECTED],
        )
        .order_by("-decided_at", "-pk")
        .first()
    )


def _answer(
    *, ticket_id: int, agent: User, verdict: str, reply: str, event_verb: str, **outcome_fields: Any
) -> ReviewOutcome:
    """The skeleton of a decision that ends the review (approve, reject): lock, send ``reply``
    when there is one (outbox, same idempotency key for a double click), record the outcome, mark
    the ticket replied, or closed unanswered when there is no reply, and write the event.

    A repeated call (a double click, a second tab) returns the first outcome of the same verdict
    and never creates a second ``OutboundMessage``."""
    try:
        with transaction.atomic():
            ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
            decision = TriageDecision.objects.final_for(ticket_id=ticket.pk)
            if reply:
                _send_reply(ticket=ticket, agent=agent, decision=decision, body_text=reply)
            outcome = _outcome(
                ticket=ticket,
                agent=agent,
                decision=decision,
                verdict=verdict,
                sent_text=reply,
                edit_distance=edit_distance_normalised(decision.reply_draft, reply)
                if reply and decision and decision.reply_draft
                else None,
                **outcome_fields,
            )
            # ``first_responded_at`` is left to delivery: the first response is when the reply
            # actually went out, and a failed delivery puts the ticket back in the queue.
            ticket.status = Ticket.Status.REPLIED if reply else Ticket.Status.CLOSED
            changed = ["status"]
            if not reply:
                ticket.resolved_at = timezone.now()
                changed.append("resolved_at")
            _clear_claim(ticket)
            ticket.save(update_fields=[*changed, "claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
            after: dict[str, Any] = {"edit_distance": outcome.edit_distance, "replied": bool(reply)}
            if outcome.reason_code:
                after["reason_code"] = outcome.reason_code
            ticket_event_record(ticket=ticket, verb=event_verb, actor=agent, after=after)
    except NotAwaitingReviewError:
        earlier = _existing_reply_outcome(ticket_id=ticket_id, agent=agent)
        if earlier is not None and earlier.verdict == verdict:
            return earlier
        raise
    return outcome


def review_approve(*, ticket_id: int, agent: User, body_text: str) -> ReviewOutcome:
    """Approve & send: the (possibly edited) reply goes to the outbox in this transaction and is
    delivered after commit."""
    body_text = text_normalise(body_text)
    if not body_text:
        raise ReviewError("The reply is empty.")
    return _answer(
        ticket_id=ticket_id, agent=agent, verdict=ReviewOutcome.Decision.APPROVED, reply=body_text,
        event_verb="review_approved",
    )


def review_reject(
    *, ticket_id: int, agent: User, reason_code: str, own_reply: str = "", note: str = ""
) -> ReviewOutcome:
    """Reject the AI's draft with a reason code.

    With ``own_reply`` the agent's text is sent instead (same outbox, same idempotency key as an
    approval) and the ticket is replied. Without it the ticket is closed unanswered — for spam,
    injection attempts and tickets that need no answer.
    """
    if reason_code not in ReviewOutcome.Reason.values:
        raise ReviewError("Choose a reason for rejecting the draft.")
    return _answer(
        ticket_id=ticket_id, agent=agent, verdict=ReviewOutcome.Decision.REJECTED, reply=text_normalise(own_reply),
        event_verb="review_rejected", reason_code=reason_code, note=note.strip(),
    )


def review_override(
    *,
    ticket_id: int,
    agent: User,
    category: Category | None = None,
    priority: str | None = None,
    team: Team | None = None,
    note: str = "",
) -> ReviewOutcome | None:
    """Correct the AI's classification. Records each changed field as ``{"old", "new"}``;
    returns None (and writes nothing) when nothing changed. The ticket stays claimed so the
    agent can go on and answer it."""
    if priority is not None and priority not in Priority.values:
        raise ReviewError(f"Unknown priority {priority!r}.")
    with transaction.atomic():
        ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
        decision = TriageDecision.objects.final_for(ticket_id=ticket.pk)
        overrides: dict[str, dict[str, str | None]] = {}
        old_category = ticket.category.slug if ticket.category is not None else None
        old_team = ticket.team.slug if ticket.team is not None else None
        if category is not None and category.pk != ticket.category_id:
            overrides["category"] = {"old": old_category, "new": category.slug}
            ticket.category = category
            if team is None and category.default_team_id is not None:
                team = category.default_team  # a new category routes to its team
        if team is not None and team.pk != ticket.team_id:
            overrides["team"] = {"old": old_team, "new": team.slug}
            ticket.team = team
        if priority and priority != ticket.priority:
            overrides["priority"] = {"old": ticket.priority, "new": priority}
            ticket.priority = priority
        if not overrides:
            return None
        if "category" in overrides or "team" in overrides:
            ticket.review_reasons = reasons_after_reclassify(ticket=ticket, decision=decision)
        ticket.save(update_fields=["category", "team", "priority", "review_reasons", "updated_at"])
        if overrides.keys() & {"priority", "team", "category"}:
            # A new priority or team (business hours) means a new deadline.
            sla_apply(ticket=ticket)
        outcome = _outcome(
            ticket=ticket,
            agent=agent,
            decision=decision,
            verdict=ReviewOutcome.Decision.OVERRIDDEN,
            overrides=overrides,
            final_category_slug=category.slug if category is not None else (old_category or ""),
            reason_code=ReviewOutcome.Reason.WRONG_CATEGORY if "category" in overrides else "",
            note=note.strip(),
        )
        ticket_event_record(
            ticket=ticket,
            verb="review_overridden",
            actor=agent,
            before={k: v["old"] for k, v in overrides.items()},
            after={k: v["new"] for k, v in overrides.items()},
        )
    return outcome


def reasons_after_reclassify(*, ticket: Ticket, decision: TriageDecision | None) -> list[str]:
    """The review reasons once the category or team changed: the policy is evaluated again for the
    new classification; reasons that depend on it and no longer hold are dropped, new ones added,
    and reasons that don't depend on it (a customer reply, a failed delivery, risk flags) kept."""
    verdict = policy_evaluate(
        ticket=ticket,
        category=ticket.category,
        team=ticket.team,
        confidence=decision.confidence if decision else None,
        high_stakes_probability=decision.high_stakes_probability if decision else None,
        risk_flags=[],
        chain_healthy=True,
    )
    kept = [code for code in ticket.review_reasons or [] if code not in CLASSIFICATION_REASONS]
    added = [code for code in verdict.reasons if code in CLASSIFICATION_REASONS]
    return list(dict.fromkeys([*kept, *added]))


def _decide_and_set_aside(
    *, ticket_id: int, agent: User, verdict: str, note: str, changes: dict[str, Any], event_verb: str,
    event_after: Callable[[Ticket], dict[str, Any]] | None = None,
) -> ReviewOutcome:
    """The skeleton of a decision that takes the ticket out of the agent's hands without
    answering it (escalate, snooze): lock, record the outcome, apply ``changes``, release the
    claim, save, and write the event, all in one transaction."""
    with transaction.atomic():
        ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
        decision = TriageDecision.objects.final_for(ticket_id=ticket.pk)
        outcome = _outcome(ticket=ticket, agent=agent, decision=decision, verdict=verdict, note=note.strip())
        for name, value in changes.items():
            setattr(ticket, name, value)
        _clear_claim(ticket)
        ticket.save(update_fields=[*changes, "claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
        ticket_event_record(
            ticket=ticket, verb=event_verb, actor=agent, note=note.strip(),
            after=event_after(ticket) if event_after else None,
        )
    return outcome


def review_escalate(*, ticket_id: int, agent: User, note: str = "") -> ReviewOutcome:
    """Hand the ticket to a manager: it leaves the agents' queue and shows as escalated."""
    return _decide_and_set_aside(
        ticket_id=ticket_id, agent=agent, verdict=ReviewOutcome.Decision.ESCALATED, note=note,
        changes={"escalated_to_manager": True, "escalated_to_manager_at": timezone.now()},
        event_verb="review_escalated",
    )


def review_snooze(*, ticket_id: int, agent: User, minutes: int, note: str = "") -> ReviewOutcome:
    """Put the ticket aside for a while; it returns to the queue by itself."""
    if minutes not in SNOOZE_CHOICES_MINUTES:
        raise ReviewError("Choose how long to snooze.")
    return _decide_and_set_aside(
        ticket_id=ticket_id, agent=agent, verdict=ReviewOutcome.Decision.SNOOZED, note=note,
        changes={"snoozed_until": timezone.now() + timedelta(minutes=minutes)},
        event_verb="review_snoozed",
        event_after=lambda ticket: {"snoozed_until": ticket.snoozed_until.isoformat() if ticket.snoozed_until else None},
    )


def review_delivery_retry(*, ticket_id: int, outbound_id: int, agent: User) -> bool:
    """Re-arm a failed or bounced reply (same row, same key); False if it wasn't failed."""

    with transaction.atomic():
        outbound = OutboundMessage.objects.select_related("ticket").get(
            pk=outbound_id, ticket_id=ticket_id
        )
        return outbound_retry(outbound=outbound, actor=agent)
