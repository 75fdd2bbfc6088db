"""SLAs: due times per priority (optionally counted in a team's business hours), escalation of
at-risk tickets and breach records. ``sla_escalate_due`` is the body of the beat job
``triage.tasks.sla_escalate_task``.

At risk: ``at_risk_fraction`` of the first-response time has elapsed (counted in business time
when the team has business hours) and nobody has answered. Escalation raises the priority one
step, mails the team (outbox row, via support.delivery.team_notify), marks the ticket escalated
and records a TicketEvent. Due times are NOT recomputed for the raised priority: the promise was
made at the original priority; the raise is about ordering the queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from support.delivery import team_notify
from support.models import OPEN_STATUSES, PRIORITY_ORDER, Alert, SlaBreach, SlaPolicy, Team, Ticket
from support.services import ticket_event_record

logger = logging.getLogger(__name__)


# --- Business hours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    days: frozenset[int]  # Monday = 0
    start: time
    end: time

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> BusinessHours | None:
        """``{"timezone": "Europe/London", "days": [0,1,2,3,4], "start": "09:00", "end": "17:00"}``.
        Returns None (= round the clock) when unset or unusable, with a warning for the latter."""
        if not raw:
            return None
        try:
            hours = cls(
                zone=ZoneInfo(str(raw.get("timezone") or "UTC")),
                days=frozenset(int(day) for day in raw.get("days", [0, 1, 2, 3, 4])),
                start=time.fromisoformat(str(raw.get("start", "09:00"))),
                end=time.fromisoformat(str(raw.get("end", "17:00"))),
            )
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning("ignoring invalid business_hours %r: %s", raw, exc)
            return None
        if hours.start >= hours.end or not hours.days or not hours.days <= set(range(7)):
            logger.warning("ignoring invalid business_hours %r", raw)
            return None
        return hours

    def _windows(self, moment: datetime) -> Any:
        """Yield the (open, close) windows from the day of ``moment`` onward, aware datetimes."""
        day = moment.astimezone(self.zone).date()
        for _ in range(366 * 2):
            if day.weekday() in self.days:
                yield (datetime.combine(day, self.start, tzinfo=self.zone),
                       datetime.combine(day, self.end, tzinfo=self.zone))
            day += timedelta(days=1)

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of business time after ``start``."""
        remaining = timedelta(minutes=minutes)
        for opens, closes in self._windows(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= available
        raise ValueError("business hours never open")

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """Business minutes in [start, end); negative when end is before start."""
        if end < start:
            return -self.minutes_between(end, start)
        total = timedelta()
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        return total.total_seconds() / 60


def _minutes_between(hours: BusinessHours | None, start: datetime, end: datetime) -> float:
    if hours is None:
        return (end - start).total_seconds() / 60
    return hours.minutes_between(start, end)


def _add_minutes(hours: BusinessHours | None, start: datetime, minutes: float) -> datetime:
    return start + timedelta(minutes=minutes) if hours is None else hours.add(start, minutes)


def _hours_for(team: Team | None) -> BusinessHours | None:
    return BusinessHours.parse(team.business_hours) if team is not None else None


# --- Due times --------------------------------------------------------------------------------


def sla_apply(*, ticket: Ticket) -> None:
    """Set first_response_due_at / resolution_due_at from the priority's SlaPolicy, counted from
    the ticket's creation in the team's business hours when it has some. Saves both fields.
    No SlaPolicy for the priority: both stay empty (no SLA)."""
    policy = SlaPolicy.objects.filter(priority=ticket.priority).first()
    if policy is None:
        first_due = resolution_due = None
    else:
        start = ticket.created_at or timezone.now()
        hours = _hours_for(ticket.team)
        first_due = _add_minutes(hours, start, policy.first_response_minutes)
        resolution_due = _add_minutes(hours, start, policy.resolution_minutes)
    ticket.first_response_due_at = first_due
    ticket.resolution_due_at = resolution_due
    Ticket.objects.filter(pk=ticket.pk).update(first_response_due_at=first_due, resolution_due_at=resolution_due)


def _elapsed_share_reached(*, policy: SlaPolicy, remaining_minutes: float) -> bool:
    elapsed = policy.first_response_minutes - remaining_minutes
    # A microsecond of slack so 0.8 x 480 min is at risk at exactly 384 min despite float error.
    return elapsed >= policy.at_risk_fraction * policy.first_response_minutes - 1e-6


def _priority_raised(priority: str) -> str:
    order = [str(value) for value in PRIORITY_ORDER]
    index = order.index(priority) if priority in order else 1
    return order[min(index + 1, len(order) - 1)]


# --- The beat job -----------------------------------------------------------------------------


def sla_escalate_ticket(*, ticket: Ticket, now: datetime) -> bool:
    """Escalate one at-risk ticket. Exactly one caller wins (conditional update on ``sla_escalated``),
    so two overlapping beat runs send one notification."""
    raised = _priority_raised(ticket.priority)
    with transaction.atomic():
        claimed = Ticket.objects.filter(pk=ticket.pk, sla_escalated=False).update(
            sla_escalated=True, sla_escalated_at=now, priority=raised
        )
        if claimed != 1:
            return False
        ticket_event_record(
            ticket=ticket, verb="sla_escalated", actor_label="system",
            before={"priority": ticket.priority, "sla_escalated": False},
            after={"priority": raised, "sla_escalated": True},
            note=f"First response due {ticket.first_response_due_at:%Y-%m-%d %H:%M %Z}; at risk.",
        )
        previous = ticket.priority
        ticket.priority, ticket.sla_escalated, ticket.sla_escalated_at = raised, True, now
        if ticket.team is not None:  # team_notify records a visible failure when it has no address
            _team_notify(ticket=ticket, previous_priority=previous)
    return True


def _team_notify(*, ticket: Ticket, previous_priority: str) -> None:
    assert ticket.team is not None
    due = ticket.first_response_due_at
    team_notify(
        team=ticket.team,
        subject=f"SLA at risk: {ticket.priority} ticket, first response due {due:%Y-%m-%d %H:%M %Z}",
        body_text=(
            f"Ticket {ticket.reference} \"{ticket.subject}\" has not been answered and its first-response "
            f"SLA is at risk (due {due:%Y-%m-%d %H:%M %Z}).\n"
            f"Priority raised from {previous_priority} to {ticket.priority}.\n"
        ),
        idempotency_key=f"sla-escalate:{ticket.pk}",
        ticket=ticket,
    )


def sla_breach_record(*, ticket: Ticket, kind: str, due_at: datetime) -> bool:
    """Record a breach once per ticket and kind (unique constraint) with a manager Alert."""
    try:
        with transaction.atomic():
            SlaBreach.objects.create(ticket=ticket, kind=kind, due_at=due_at)
            Alert.objects.create(
                kind=Alert.Kind.SLA_BREACH,
                message=f"{ticket.reference}: {SlaBreach.Kind(kind).label} SLA breached (due {due_at:%Y-%m-%d %H:%M %Z})",
                details={"ticket_id": ticket.pk, "kind": kind, "due_at": due_at.isoformat(),
                         "team": ticket.team.slug if ticket.team else None},
                dedupe_key=f"sla_breach:{ticket.pk}:{kind}",
            )
            ticket_event_record(ticket=ticket, verb="sla_breached", after={"kind": kind, "due_at": due_at.isoformat()})
    except IntegrityError:
        return False  # already recorded by an earlier run
    return True


def sla_escalate_due(*, now: datetime | None = None) -> int:
    """Escalate every at-risk open ticket and record breaches. Returns how many it escalated."""
    now = now or timezone.now()
    policies = {policy.priority: policy for policy in SlaPolicy.objects.all()}
    escalated = 0
    # Round-the-clock tickets are at risk exactly when due - now <= (1 - fraction) x minutes: SQL
    # narrows them down per priority. Tickets of teams with business hours are checked in Python
    # (business time left can be much less than wall time left, e.g. over a weekend).
    at_risk_by_wall_clock = Q(pk__in=[])
    for priority, policy in policies.items():
        slack = timedelta(minutes=(1 - policy.at_risk_fraction) * policy.first_response_minutes, seconds=1)
        at_risk_by_wall_clock |= Q(priority=priority, first_response_due_at__lte=now + slack)
    candidates = (
        Ticket.objects.filter(status__in=OPEN_STATUSES, sla_escalated=False, first_responded_at__isnull=True,
                              first_response_due_at__isnull=False)
        .filter(at_risk_by_wall_clock | Q(team__business_hours__isnull=False))
        .select_related("team")
        .only("pk", "subject", "priority", "first_response_due_at", "team__id", "team__slug", "team__name",
              "team__email", "team__business_hours")
        .order_by("first_response_due_at")
    )
    hours_by_team: dict[int | None, BusinessHours | None] = {}
    for ticket in candidates.iterator(chunk_size=2000):
        ticket_policy = policies.get(ticket.priority)
        if ticket_policy is None or ticket.first_response_due_at is None:
            continue
        if ticket.team_id not in hours_by_team:
            hours_by_team[ticket.team_id] = _hours_for(ticket.team)
        remaining = _minutes_between(hours_by_team[ticket.team_id], now, ticket.first_response_due_at)
        if _elapsed_share_reached(policy=ticket_policy, remaining_minutes=remaining):
            escalated += int(sla_escalate_ticket(ticket=ticket, now=now))

    first_response_breached = (
        Ticket.objects.filter(first_response_due_at__lt=now)
        .filter(Q(first_responded_at__isnull=True, status__in=OPEN_STATUSES)
                | Q(first_responded_at__gt=F("first_response_due_at")))
        .exclude(sla_breaches__kind=SlaBreach.Kind.FIRST_RESPONSE)
        .select_related("team")
    )
    for ticket in first_response_breached.iterator(chunk_size=500):
        assert ticket.first_response_due_at is not None
        sla_breach_record(ticket=ticket, kind=SlaBreach.Kind.FIRST_RESPONSE, due_at=ticket.first_response_due_at)

    resolution_breached = (
        Ticket.objects.filter(resolution_due_at__lt=now, resolved_at__isnull=True, status__in=OPEN_STATUSES)
        .exclude(sla_breaches__kind=SlaBreach.Kind.RESOLUTION)
        .select_related("team")
    )
    for ticket in resolution_breached.iterator(chunk_size=500):
        assert ticket.resolution_due_at is not None
        sla_breach_record(ticket=ticket, kind=SlaBreach.Kind.RESOLUTION, due_at=ticket.resolution_due_at)
    return escalated
