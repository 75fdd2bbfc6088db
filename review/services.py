"""Writes on the human side: claim a ticket, decide on it, and record what was decided.

Every decision (approve, reject, override, escalate, snooze) writes one ``ReviewOutcome`` in the
same transaction as its effect: that row, not free text, is what calibration, audits and drift
analysis read. Claims are leases (``REVIEW_CLAIM_SECONDS``) kept alive by the page's heartbeat,
so a colleague who walks away never holds a ticket hostage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from review.edit_distance import edit_distance_normalised, text_normalise
from review.models import AuditSample, ReviewOutcome
from support.models import AgentProfile, Category, OutboundMessage, Priority, Team, Ticket
from support.services import ticket_event_record
from triage.models import TriageDecision
from triage.sla import sla_apply

logger = logging.getLogger(__name__)

# Most urgent first: the earliest first-response deadline; tickets without an SLA come last.
URGENCY_ORDER = (
    F("first_response_due_at").asc(nulls_last=True),
    F("created_at").asc(),
    F("pk").asc(),
)
SNOOZE_CHOICES_MINUTES = (15, 60, 240, 1440)


class ReviewError(Exception):
    """A decision that cannot be taken; the message is shown to the agent as is."""


class ClaimHeldError(ReviewError):
    def __init__(self, holder: str, until: datetime | None) -> None:
        self.holder = holder
        self.until = until
        super().__init__(f"{holder} is working on this ticket.")


class NotAwaitingReviewError(ReviewError):
    pass


@dataclass(frozen=True)
class ClaimResult:
    ticket: Ticket | None
    released: list[int]


# --- who may take which ticket -------------------------------------------------------------------


def agent_team_ids(*, agent: User) -> list[int]:
    """The teams an agent works for; empty means "no restriction" (e.g. no agent profile)."""
    return list(
        AgentProfile.teams.through.objects.filter(agentprofile__user=agent).values_list(
            "team_id", flat=True
        )
    )


def handleable_q(*, agent: User, team_ids: list[int] | None = None) -> Q:
    """Tickets awaiting review that this agent may work on: their teams (or no team yet), and
    escalated tickets only for managers."""
    query = Q(status=Ticket.Status.AWAITING_REVIEW)
    if team_ids is None:
        team_ids = agent_team_ids(agent=agent)
    if team_ids:
        query &= Q(team_id__in=team_ids) | Q(team__isnull=True)
    if not agent.has_perm("support.view_dashboard"):
        query &= Q(escalated_to_manager=False)
    return query


def claimable_q(*, now: datetime) -> Q:
    """Nobody holds a live lease, and it is not snoozed."""
    unclaimed = Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now)
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)
    return unclaimed & awake


def _claimable(*, agent: User, now: datetime, skip_ticket_id: int | None) -> QuerySet[Ticket]:
    # The agent's own claim counts as claimable: Next ticket from the queue page resumes the
    # ticket they were on when it is still the most urgent one.
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)
    queryset = Ticket.objects.filter(
        handleable_q(agent=agent) & (claimable_q(now=now) | (Q(claimed_by=agent) & awake))
    )
    if skip_ticket_id is not None:
        queryset = queryset.exclude(pk=skip_ticket_id)
    return queryset.order_by(*URGENCY_ORDER)


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.REVIEW_CLAIM_SECONDS)


def _release_others(*, agent: User, keep_ticket_id: int | None) -> list[int]:
    """An agent works one ticket at a time: taking the next one hands back the previous."""
    held = Ticket.objects.filter(claimed_by=agent)
    if keep_ticket_id is not None:
        held = held.exclude(pk=keep_ticket_id)
    ids = list(held.values_list("pk", flat=True))
    if ids:
        Ticket.objects.filter(pk__in=ids, claimed_by=agent).update(
            claimed_by=None, claimed_at=None, claim_expires_at=None
        )
    return ids


def review_claim_next(*, agent: User, skip_ticket_id: int | None = None) -> ClaimResult:
    """Claim the most urgent unclaimed ticket this agent may handle; ``ticket`` is None when the
    queue is empty. Two agents calling this at the same moment never get the same ticket.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED LIMIT 1`` — a row another agent is claiming
    right now is skipped instead of waited for, and a row they claimed a moment ago no longer
    matches the WHERE clause when PostgreSQL re-checks it. SQLite has no SKIP LOCKED (writers are
    serialised anyway): there a conditional UPDATE claims a candidate, and a row count of 0 means
    somebody else was faster, so we try the next candidate.
    """
    now = timezone.now()
    with transaction.atomic():
        ticket: Ticket | None = None
        if connection.features.has_select_for_update_skip_locked:
            ticket = (
                _claimable(agent=agent, now=now, skip_ticket_id=skip_ticket_id)
                .select_for_update(skip_locked=True)
                .first()
            )
            if ticket is not None:
                if ticket.claimed_by_id != agent.pk:  # resuming keeps the original claim time
                    ticket.claimed_at = now
                ticket.claimed_by = agent
                ticket.claim_expires_at = _lease_until(now)
                ticket.save(
                    update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"]
                )
        else:
            candidates = list(
                _claimable(agent=agent, now=now, skip_ticket_id=skip_ticket_id).values_list(
                    "pk", flat=True
                )[:10]
            )
            for candidate in candidates:
                won = Ticket.objects.filter(
                    Q(pk=candidate) & (claimable_q(now=now) | Q(claimed_by=agent)),
                    status=Ticket.Status.AWAITING_REVIEW,
                ).update(
                    claimed_by=agent,
                    claimed_at=now,
                    claim_expires_at=_lease_until(now),
                    updated_at=now,
                )
                if won == 1:
                    ticket = Ticket.objects.get(pk=candidate)
                    break
        released = _release_others(agent=agent, keep_ticket_id=ticket.pk if ticket else None)
        if ticket is not None:
            ticket_event_record(
                ticket=ticket,
                verb="review_claimed",
                actor=agent,
                after={
                    "claim_expires_at": ticket.claim_expires_at.isoformat()
                    if ticket.claim_expires_at
                    else None
                },
            )
    return ClaimResult(ticket=ticket, released=released)


def review_claim(*, ticket_id: int, agent: User) -> Ticket:
    """Claim one given ticket (opened from the queue). Raises ``ClaimHeldError`` when a
    colleague holds a live lease on it."""
    now = timezone.now()
    with transaction.atomic():
        won = Ticket.objects.filter(
            Q(pk=ticket_id)
            & (claimable_q(now=now) | Q(claimed_by=agent))
            & handleable_q(agent=agent)
        ).update(
            claimed_by=agent, claimed_at=now, claim_expires_at=_lease_until(now), updated_at=now
        )
        ticket = Ticket.objects.select_related("claimed_by").get(pk=ticket_id)
        if won != 1:
            if ticket.status != Ticket.Status.AWAITING_REVIEW:
                raise NotAwaitingReviewError("This ticket no longer needs review.")
            if ticket.claimed_by is not None and ticket.claimed_by_id != agent.pk:
                raise ClaimHeldError(ticket.claimed_by.get_username(), ticket.claim_expires_at)
            raise ReviewError("You can't take this ticket (another team's, snoozed or escalated).")
        _release_others(agent=agent, keep_ticket_id=ticket.pk)
        ticket_event_record(ticket=ticket, verb="review_claimed", actor=agent)
    return ticket


def review_heartbeat(*, ticket_id: int, agent: User) -> datetime | None:
    """Extend the agent's lease while the page is open. Returns the new expiry, or None when the
    claim was lost (expired and taken by a colleague, or the ticket was decided)."""
    now = timezone.now()
    until = _lease_until(now)
    extended = Ticket.objects.filter(
        pk=ticket_id, claimed_by=agent, status=Ticket.Status.AWAITING_REVIEW
    ).update(claim_expires_at=until)
    return until if extended == 1 else None


def review_release(*, ticket_id: int, agent: User) -> bool:
    released = Ticket.objects.filter(pk=ticket_id, claimed_by=agent).update(
        claimed_by=None, claimed_at=None, claim_expires_at=None
    )
    if released:
        ticket_event_record(
            ticket=Ticket.objects.get(pk=ticket_id), verb="review_released", actor=agent
        )
    return released == 1


def review_claims_expire(*, now: datetime | None = None) -> int:
    """Clear leases nobody renewed (the beat job ``review.tasks.expire_claims_task``).

    Claiming already treats an expired lease as free; this keeps the queue's "claimed by" column
    honest.
    """
    now = now or timezone.now()
    return Ticket.objects.filter(claimed_by__isnull=False, claim_expires_at__lte=now).update(
        claimed_by=None, claimed_at=None, claim_expires_at=None
    )


# --- decisions -----------------------------------------------------------------------------------


def final_decision_for(*, ticket: Ticket) -> TriageDecision | None:
    return TriageDecision.objects.filter(ticket=ticket, is_final=True).first()


def _lock_for_decision(*, ticket_id: int, agent: User) -> Ticket:
    """Lock the ticket row and check the agent may decide on it. Call inside ``atomic()``.

    The row lock serialises a double click or two tabs: the second request waits, then sees the
    first one's result.
    """
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    if ticket.status != Ticket.Status.AWAITING_REVIEW:
        raise NotAwaitingReviewError("This ticket no longer needs review.")
    now = timezone.now()
    held_by_other = (
        ticket.claimed_by_id is not None
        and ticket.claimed_by_id != agent.pk
        and ticket.claim_expires_at is not None
        and ticket.claim_expires_at > now
    )
    if held_by_other:
        holder = ticket.claimed_by.get_username() if ticket.claimed_by else "someone"
        raise ClaimHeldError(holder, ticket.claim_expires_at)
    if ticket.claimed_by_id != agent.pk:
        # Not (or no longer) claimed by anyone: the agent may act if it is theirs to handle,
        # e.g. their lease lapsed and the expiry job cleared it while nobody else took it.
        if not Ticket.objects.filter(Q(pk=ticket.pk) & handleable_q(agent=agent)).exists():
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
    from support.delivery import outbound_reply_create

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


def review_approve(*, ticket_id: int, agent: User, body_text: str) -> ReviewOutcome:
    """Approve & send: the (possibly edited) reply goes to the outbox in this transaction and is
    delivered after commit. A repeated call for the same ticket returns the first outcome and
    never creates a second ``OutboundMessage``."""
    body_text = text_normalise(body_text)
    if not body_text:
        raise ReviewError("The reply is empty.")
    try:
        with transaction.atomic():
            ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
            decision = final_decision_for(ticket=ticket)
            _send_reply(ticket=ticket, agent=agent, decision=decision, body_text=body_text)
            outcome = _outcome(
                ticket=ticket,
                agent=agent,
                decision=decision,
                verdict=ReviewOutcome.Decision.APPROVED,
                sent_text=body_text,
                edit_distance=edit_distance_normalised(decision.reply_draft, body_text)
                if decision and decision.reply_draft
                else None,
            )
            _mark_replied(ticket)
            ticket_event_record(
                ticket=ticket,
                verb="review_approved",
                actor=agent,
                after={"edit_distance": outcome.edit_distance},
            )
    except NotAwaitingReviewError:
        earlier = _existing_reply_outcome(ticket_id=ticket_id, agent=agent)
        if earlier is not None:
            return earlier
        raise
    return outcome


def _mark_replied(ticket: Ticket) -> None:
    """The human's part is done. ``first_responded_at`` is left to delivery: the first response
    is when the reply actually went out, and a failed delivery puts the ticket back in the queue."""
    ticket.status = Ticket.Status.REPLIED
    _clear_claim(ticket)
    ticket.save(
        update_fields=["status", "claimed_by", "claimed_at", "claim_expires_at", "updated_at"]
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
    own_reply = text_normalise(own_reply)
    try:
        with transaction.atomic():
            ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
            decision = final_decision_for(ticket=ticket)
            if own_reply:
                _send_reply(ticket=ticket, agent=agent, decision=decision, body_text=own_reply)
            outcome = _outcome(
                ticket=ticket,
                agent=agent,
                decision=decision,
                verdict=ReviewOutcome.Decision.REJECTED,
                reason_code=reason_code,
                note=note.strip(),
                sent_text=own_reply,
                edit_distance=edit_distance_normalised(decision.reply_draft, own_reply)
                if own_reply and decision and decision.reply_draft
                else None,
            )
            if own_reply:
                _mark_replied(ticket)
            else:
                ticket.status = Ticket.Status.CLOSED
                ticket.resolved_at = timezone.now()
                _clear_claim(ticket)
                ticket.save(
                    update_fields=[
                        "status",
                        "resolved_at",
                        "claimed_by",
                        "claimed_at",
                        "claim_expires_at",
                        "updated_at",
                    ]
                )
            ticket_event_record(
                ticket=ticket,
                verb="review_rejected",
                actor=agent,
                after={"reason_code": reason_code, "replied": bool(own_reply)},
            )
    except NotAwaitingReviewError:
        earlier = _existing_reply_outcome(ticket_id=ticket_id, agent=agent)
        if earlier is not None and earlier.verdict == ReviewOutcome.Decision.REJECTED:
            return earlier
        raise
    return outcome


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
        decision = final_decision_for(ticket=ticket)
        overrides: dict[str, dict[str, str | None]] = {}
        old_category = ticket.category.slug if ticket.category is not None else None
        old_team = ticket.team.slug if ticket.team is not None else None
        if category is not None and category.pk != ticket.category_id:
            overrides["category"] = {"old": old_category, "new": category.slug}
            ticket.category = category
        if team is not None and team.pk != ticket.team_id:
            overrides["team"] = {"old": old_team, "new": team.slug}
            ticket.team = team
        if priority and priority != ticket.priority:
            overrides["priority"] = {"old": ticket.priority, "new": priority}
            ticket.priority = priority
        if not overrides:
            return None
        ticket.save(update_fields=["category", "team", "priority", "updated_at"])
        if "priority" in overrides:  # a new priority means a new deadline
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


def review_escalate(*, ticket_id: int, agent: User, note: str = "") -> ReviewOutcome:
    """Hand the ticket to a manager: it leaves the agents' queue and shows as escalated."""
    with transaction.atomic():
        ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
        decision = final_decision_for(ticket=ticket)
        outcome = _outcome(
            ticket=ticket,
            agent=agent,
            decision=decision,
            verdict=ReviewOutcome.Decision.ESCALATED,
            note=note.strip(),
        )
        now = timezone.now()
        ticket.escalated = True
        ticket.escalated_at = ticket.escalated_at or now
        ticket.escalated_to_manager = True
        _clear_claim(ticket)
        ticket.save(
            update_fields=[
                "escalated",
                "escalated_at",
                "escalated_to_manager",
                "claimed_by",
                "claimed_at",
                "claim_expires_at",
                "updated_at",
            ]
        )
        ticket_event_record(ticket=ticket, verb="review_escalated", actor=agent, note=note.strip())
    return outcome


def review_snooze(*, ticket_id: int, agent: User, minutes: int, note: str = "") -> ReviewOutcome:
    """Put the ticket aside for a while; it returns to the queue by itself."""
    if minutes not in SNOOZE_CHOICES_MINUTES:
        raise ReviewError("Choose how long to snooze.")
    with transaction.atomic():
        ticket = _lock_for_decision(ticket_id=ticket_id, agent=agent)
        decision = final_decision_for(ticket=ticket)
        outcome = _outcome(
            ticket=ticket,
            agent=agent,
            decision=decision,
            verdict=ReviewOutcome.Decision.SNOOZED,
            note=note.strip(),
        )
        ticket.snoozed_until = timezone.now() + timedelta(minutes=minutes)
        _clear_claim(ticket)
        ticket.save(
            update_fields=[
                "snoozed_until",
                "claimed_by",
                "claimed_at",
                "claim_expires_at",
                "updated_at",
            ]
        )
        ticket_event_record(
            ticket=ticket,
            verb="review_snoozed",
            actor=agent,
            after={"snoozed_until": ticket.snoozed_until.isoformat()},
        )
    return outcome


def review_delivery_retry(*, ticket_id: int, outbound_id: int, agent: User) -> bool:
    """Re-arm a failed or bounced reply (same row, same key); False if it wasn't failed."""
    from support.delivery import outbound_retry

    with transaction.atomic():
        outbound = OutboundMessage.objects.select_related("ticket").get(
            pk=outbound_id, ticket_id=ticket_id
        )
        return outbound_retry(outbound=outbound, actor=agent)


# --- audits and the autonomy brake (the policy code owns the rules) ------------------------------


def review_audit_grade(
    *, sample_id: int, grade: str, reason_code: str, grader: User
) -> AuditSample:
    """Grade an automatically sent reply; the policy code records it and may brake the category."""
    from triage.autonomy import audit_grade_record

    if grade not in AuditSample.Grade.values:
        raise ReviewError("Grade must be correct or incorrect.")
    if grade == AuditSample.Grade.INCORRECT and reason_code not in ReviewOutcome.Reason.values:
        raise ReviewError("Say what was wrong with the reply.")
    if grade == AuditSample.Grade.CORRECT:
        reason_code = ""
    with transaction.atomic():
        sample = AuditSample.objects.select_for_update().get(pk=sample_id)
        if sample.grade:
            raise ReviewError("This reply has already been graded.")
        audit_grade_record(sample=sample, grade=grade, reason_code=reason_code, grader=grader)
    sample.refresh_from_db()
    return sample


def review_automation_resume(*, category_id: int, actor: User, reason: str) -> Category:
    from triage.autonomy import automation_resume

    reason = reason.strip()
    if not reason:
        raise ReviewError("Say why automation may resume.")
    category = Category.objects.get(pk=category_id)
    automation_resume(category=category, actor=actor, reason=reason)
    category.refresh_from_db()
    return category
