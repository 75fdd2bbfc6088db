"""Tickets, their messages, attachments and timeline, and the ticket query rules (one home each)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .organisation import AgentProfile, Category, Customer, Priority, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


URGENCY_ORDER = (F("first_response_due_at").asc(nulls_last=True), F("created_at").asc(), F("pk").asc())


def _of_teams_q(team_ids: list[int]) -> Q:
    """A ticket of one of these teams, or one not routed to a team yet."""
    return Q(team_id__in=team_ids) | Q(team__isnull=True)


class TicketQuerySet(models.QuerySet["Ticket"]):
    """The ticket query rules, in one place: services, selectors, views and metrics use these."""

    def awake(self, *, now: datetime) -> TicketQuerySet:
        """Not snoozed (never snoozed, or the snooze ran out)."""
        return self.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))

    def unclaimed(self, *, now: datetime) -> TicketQuerySet:
        """Nobody holds a live review lease (an expired lease counts as free)."""
        return self.filter(Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now))

    def claimable(self, *, now: datetime) -> TicketQuerySet:
        """Free to claim: awake and without a live lease."""
        return self.awake(now=now).unclaimed(now=now)

    def claimable_by(self, *, agent: User, now: datetime) -> TicketQuerySet:
        """What ``agent`` may claim now: awake, and free or already theirs (Next ticket resumes
        the ticket they were on when it is still the most urgent one)."""
        return self.awake(now=now).filter(
            Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now) | Q(claimed_by=agent)
        )

    def most_urgent_first(self) -> TicketQuerySet:
        """The queue's order (``URGENCY_ORDER``)."""
        return self.order_by(*URGENCY_ORDER)

    def visible_to(self, *, agent: User, team_ids: list[int] | None = None) -> TicketQuerySet:
        """What ``agent`` may read, in any status (ticket page, its fragments and actions, audits):
        everything for a manager (``support.view_dashboard``); for an agent, their teams' tickets
        and those with no team yet. ``team_ids`` defaults to the agent's teams; empty means no
        team restriction (e.g. no agent profile), as in ``handleable_by``."""
        if agent.has_perm("support.view_dashboard"):
            return self.all()
        if team_ids is None:
            team_ids = AgentProfile.team_ids_of(user=agent)
        return self.filter(_of_teams_q(team_ids)) if team_ids else self.all()

    def handleable_by(self, *, agent: User, team_ids: list[int] | None = None) -> TicketQuerySet:
        """Awaiting review and this agent's to handle: their teams' tickets (or those with no team
        yet), and tickets escalated to a manager only for managers. ``team_ids`` defaults to the
        agent's teams; empty means no team restriction (e.g. no agent profile)."""
        if team_ids is None:
            team_ids = AgentProfile.team_ids_of(user=agent)
        queryset = self.filter(status=Ticket.Status.AWAITING_REVIEW)
        if team_ids:
            queryset = queryset.filter(_of_teams_q(team_ids))
        if not agent.has_perm("support.view_dashboard"):
            queryset = queryset.filter(escalated_to_manager=False)
        return queryset


class Ticket(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"
        WEB = "web", "Web"

    class Status(models.TextChoices):
        NEW = "new", "New"
        TRIAGING = "triaging", "Triaging"
        AWAITING_REVIEW = "awaiting_review", "Awaiting review"
        AUTO_REPLIED = "auto_replied", "Auto-replied"
        REPLIED = "replied", "Replied"
        PENDING_CUSTOMER = "pending_customer", "Pending on customer"
        ON_HOLD = "on_hold", "On hold"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"

    subject = models.CharField(max_length=500)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW, db_index=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tickets"
    )
    language = models.CharField(max_length=8, blank=True)
    # Where the ticket came from: a webhook source name, "email", "web". external_id is the
    # sender's own id; together they make a retried delivery harmless.
    source = models.CharField(max_length=80)
    external_id = models.CharField(max_length=255, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    review_reasons = models.JSONField(default=list, blank=True)
    risk_flags = models.JSONField(default=list, blank=True)
    # Two different escalations: the SLA job raising an at-risk ticket's priority (once), and an
    # agent handing the ticket to a manager. Neither implies the other.
    sla_escalated = models.BooleanField(default=False)
    sla_escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to_manager = models.BooleanField(default=False)
    escalated_to_manager_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Set while the SLA clock is paused (pending on the customer); resuming moves the due times
    # forward by the paused time (review.services.lifecycle).
    sla_paused_at = models.DateTimeField(null=True, blank=True)

    # Review claim: at most one agent works a ticket at a time; the lease expires if they leave.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="claimed_tickets"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    # Dispatch bookkeeping for the triage job (see support.services.dispatch_pending).
    triage_dispatched_at = models.DateTimeField(null=True, blank=True)
    triage_started_at = models.DateTimeField(null=True, blank=True)
    triage_attempts = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="ticket_unique_source_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "first_response_due_at"], name="ticket_status_due"),
            models.Index(fields=["team", "status"], name="ticket_team_status"),
        ]
        permissions = [
            ("review_ticket", "Can review and answer tickets"),
            ("view_dashboard", "Can view quality dashboards"),
            ("manage_automation", "Can resume braked automation and change policies"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject[:60]}"

    @property
    def reference(self) -> str:
        """The token we put in e-mail subjects so replies thread: ``SB-123``."""
        return f"SB-{self.pk}"

    @property
    def sla_running(self) -> bool:
        """The first-response countdown still means something: unanswered, not done, not paused."""
        return (
            self.status in OPEN_STATUSES
            and self.first_responded_at is None
            and self.sla_paused_at is None
            and self.first_response_due_at is not None
        )

    def sla_resume_fields(self, *, now: datetime) -> dict[str, datetime | None]:
        """The field values that restart a paused SLA clock: each due time moves forward by the
        time spent paused. Empty when the clock is not paused."""
        if self.sla_paused_at is None:
            return {}
        paused_for = max(now - self.sla_paused_at, timedelta(0))
        return {
            "sla_paused_at": None,
            "first_response_due_at": self.first_response_due_at + paused_for
            if self.first_response_due_at
            else None,
            "resolution_due_at": self.resolution_due_at + paused_for if self.resolution_due_at else None,
        }

    def claim_is_live(self, *, now: datetime) -> bool:
        """Somebody holds an unexpired review lease on this ticket."""
        return bool(self.claimed_by_id and self.claim_expires_at and self.claim_expires_at > now)


# Tickets still waiting for their first answer.
OPEN_STATUSES = (Ticket.Status.NEW, Ticket.Status.TRIAGING, Ticket.Status.AWAITING_REVIEW)
# Tickets nobody needs to work on any more; any of them can be reopened.
DONE_STATUSES = (Ticket.Status.SOLVED, Ticket.Status.CLOSED)
# A customer's reply to a ticket in one of these brings it back to a human.
REOPEN_ON_CUSTOMER_REPLY = (
    Ticket.Status.REPLIED,
    Ticket.Status.AUTO_REPLIED,
    Ticket.Status.PENDING_CUSTOMER,
    Ticket.Status.ON_HOLD,
    *DONE_STATUSES,
)


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author_email = models.EmailField(blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    body_text = models.TextField(help_text="The full plain text, as received or sent.")
    body_html = models.TextField(blank=True, help_text="Sanitized HTML (nh3); never the raw HTML.")
    # What the model sees: quoted history and signatures stripped. The original stays in body_text.
    body_for_model = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    is_automated = models.BooleanField(default=False, help_text="Auto-reply, bounce or list mail: never answered.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} message on {self.ticket_id}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveIntegerField()
    file = models.FileField(upload_to="attachments/%Y/%m/", blank=True)
    dropped_reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.filename


class TicketEvent(models.Model):
    """Append-only audit trail. Rows are written by services and never updated."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=80, default="system", help_text="system, ai, intake, or a username")
    verb = models.CharField(max_length=60)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.verb}"
