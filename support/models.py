"""The ticket domain: who writes to us, what they wrote, who handles it, and what we sent back.

Past the ~500-line mark on purpose, for now: these are the support app's models (fields,
choices, constraints, the ticket query rules) and Django finds an app's models in this one
module; splitting it into a ``models/`` package is mechanical and waits for the next change here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AutomationPolicy(models.TextChoices):
    ALWAYS_REVIEW = "always_review", "Always review"
    AUTO_SEND_WHEN_CONFIDENT = "auto_send_when_confident", "Auto-send when confident"
    DRAFT_ONLY = "draft_only", "Classify and route only (no draft)"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]


class Team(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    email = models.EmailField(blank=True, help_text="Where SLA escalations are sent.")
    languages = models.JSONField(default=list, blank=True, help_text="ISO 639-1 codes it serves.")
    automation_policy = models.CharField(
        max_length=32, choices=AutomationPolicy.choices, blank=True,
        help_text="Overrides the category's policy for tickets routed to this team when set.",
    )
    # {"timezone": "Europe/London", "days": [0,1,2,3,4], "start": "09:00", "end": "17:00"}
    business_hours = models.JSONField(null=True, blank=True)
    assign_by_load = models.BooleanField(
        default=True, help_text="Assign new tickets to the least-loaded agent; off = pull only."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    teams = models.ManyToManyField(Team, related_name="agents", blank=True)
    languages = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True)
    max_open_tickets = models.PositiveIntegerField(default=25)
    is_available = models.BooleanField(default=True)

    def __str__(self) -> str:
        return str(self.user)

    @classmethod
    def team_ids_of(cls, *, user: User) -> list[int]:
        """The teams a user works for; empty means "no restriction" (e.g. no agent profile)."""
        return list(
            cls.teams.through.objects.filter(agentprofile__user=user).values_list("team_id", flat=True)
        )


class Category(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    default_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="categories")
    high_stakes = models.BooleanField(default=False, help_text="Always reviewed by a human.")
    automation_policy = models.CharField(
        max_length=32, choices=AutomationPolicy.choices, default=AutomationPolicy.ALWAYS_REVIEW
    )
    required_language = models.CharField(max_length=8, blank=True)
    required_skills = models.JSONField(default=list, blank=True)
    # Learnt by calibrate_thresholds; null means "not enough evidence: a human reviews".
    auto_threshold = models.FloatField(null=True, blank=True)
    threshold_evidence = models.JSONField(default=dict, blank=True)
    braked = models.BooleanField(default=False, help_text="Automation paused by the autonomy brake.")
    braked_reason = models.TextField(blank=True)
    braked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.slug


class Customer(models.Model):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    vip = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


# The review queue's order: the earliest first-response deadline first; no SLA last.
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

    def claim_is_live(self, *, now: datetime) -> bool:
        """Somebody holds an unexpired review lease on this ticket."""
        return bool(self.claimed_by_id and self.claim_expires_at and self.claim_expires_at > now)


# Tickets still waiting for their first answer.
OPEN_STATUSES = (Ticket.Status.NEW, Ticket.Status.TRIAGING, Ticket.Status.AWAITING_REVIEW)


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


class OutboundMessage(models.Model):
    """The outbox: one row per reply we owe somebody, written in the transaction that decided it."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        CALLBACK = "callback", "Webhook callback"
        NOTIFICATION = "notification", "Team notification"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="outbound_messages")
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Same key across retries; a second "Approve & send" for the same draft collides here.
    idempotency_key = models.CharField(max_length=120, unique=True)
    to_address = models.CharField(max_length=2000, help_text="E-mail address or callback URL.")
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField()
    email_message_id = models.CharField(max_length=998, blank=True, help_text="Our Message-ID header.")
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    auto_submitted = models.BooleanField(default=False, help_text="Sent without a human.")
    attempts = models.PositiveIntegerField(default=0)
    # Times the sweeper re-armed this row after a later delivery on its channel succeeded.
    auto_retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address} ({self.status})"


class WebhookSource(models.Model):
    """A system allowed to POST tickets. Secrets may also come from WEBHOOK_SECRETS."""

    name = models.SlugField(max_length=80, unique=True)
    secrets = models.TextField(
        blank=True, help_text="One whsec_ secret per line; several are valid at once during a rotation."
    )
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """Every accepted webhook-id, forever: senders retry for days, so a cache would forget."""

    source = models.CharField(max_length=80)
    webhook_id = models.CharField(max_length=255)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="webhook_deliveries")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "webhook_id"], name="webhook_delivery_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.webhook_id} → ticket {self.ticket_id}"


class ApiToken(models.Model):
    """A bearer token for a trusted system. Only a hash is stored; the token is printed once."""

    name = models.SlugField(max_length=80, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class InboundEmail(models.Model):
    """Raw bytes of every e-mail we received, kept so nothing is lost and anything can be replayed."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (automated)"
        QUARANTINED = "quarantined", "Quarantined"

    route = models.CharField(max_length=40, help_text="anymail:<esp>, file, imap")
    source_ref = models.CharField(max_length=500, blank=True, help_text="File name, mbox index or IMAP uid.")
    raw = models.BinaryField()
    sha256 = models.CharField(max_length=64, db_index=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.TextField(blank=True)
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_emails")
    received_at = models.DateTimeField(auto_now_add=True)
    reprocessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.route} {self.source_ref or self.message_id} ({self.status})"


class SlaPolicy(models.Model):
    priority = models.CharField(max_length=10, choices=Priority.choices, unique=True)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    at_risk_fraction = models.FloatField(
        default=0.8, help_text="Escalate when this share of the first-response time has passed."
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.priority}: {self.first_response_minutes}m / {self.resolution_minutes}m"


class SlaBreach(models.Model):
    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        RESOLUTION = "resolution", "Resolution"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_breaches")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "kind"], name="sla_breach_once_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} breach on ticket {self.ticket_id}"


class CsatRating(models.Model):
    """What the customer thought of one reply: good or bad, and an optional comment.

    One row per reply (the latest click wins, so a mail scanner that follows a link first is
    corrected by the customer's own click). ``auto_sent`` says which path wrote the reply.
    """

    class Rating(models.TextChoices):
        GOOD = "good", "Good"
        BAD = "bad", "Bad"

    class Source(models.TextChoices):
        EMAIL_LINK = "email_link", "Link in the reply e-mail"
        API = "api", "Source system API"

    outbound = models.OneToOneField(OutboundMessage, on_delete=models.CASCADE, related_name="csat_rating")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="csat_ratings")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    auto_sent = models.BooleanField(help_text="The rated reply was sent without a human.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CSAT rating"

    def __str__(self) -> str:
        return f"{self.rating} for reply {self.outbound_id}"


class Alert(models.Model):
    """Something a manager must know: budget exceeded, provider down, automation braked, replies
    that could not be delivered. It lives in the lowest layer so every app can raise one; its
    table keeps the name it was created with (``triage_alert``) when it lived in ``triage``."""

    class Kind(models.TextChoices):
        BUDGET_EXCEEDED = "budget_exceeded", "Daily LLM budget exceeded"
        PROVIDER_DOWN = "provider_down", "Provider circuit open"
        AUTOMATION_BRAKED = "automation_braked", "Automation braked"
        SLA_BREACH = "sla_breach", "SLA breached"
        DELIVERY_FAILED = "delivery_failed", "Reply delivery failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True, help_text="One alert per day and cause.")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "triage_alert"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"
