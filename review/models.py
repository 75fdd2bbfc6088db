"""What reviewers decided: the ground truth that calibration, audits and drift analysis read."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from support.models import OutboundMessage, Ticket
from triage.models import TriageDecision


class ReviewOutcome(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved & sent"
        REJECTED = "rejected", "Rejected"
        OVERRIDDEN = "overridden", "Overrode classification"
        ESCALATED = "escalated", "Escalated to a manager"
        SNOOZED = "snoozed", "Snoozed"

    class Reason(models.TextChoices):
        WRONG_CATEGORY = "wrong_category", "Wrong category"
        WRONG_FACTS = "wrong_facts", "Wrong facts"
        TONE = "tone", "Tone"
        POLICY = "policy", "Policy"
        HALLUCINATION = "hallucination", "Hallucination"
        INJECTION = "injection", "Injection"
        OTHER = "other", "Other"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="review_outcomes")
    decision = models.ForeignKey(
        TriageDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_outcomes"
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_outcomes")
    verdict = models.CharField(max_length=12, choices=Decision.choices)
    # {"category": {"old": "card_arrival", "new": "lost_or_stolen_card"}, ...}
    overrides = models.JSONField(default=dict, blank=True)
    ai_category_slug = models.CharField(max_length=80, blank=True)
    final_category_slug = models.CharField(max_length=80, blank=True)
    draft_text = models.TextField(blank=True)
    sent_text = models.TextField(blank=True)
    edit_distance = models.FloatField(null=True, blank=True, help_text="Normalised 0..1, draft vs sent.")
    reason_code = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)
    seconds_to_decision = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.verdict} on ticket {self.ticket_id} by {self.reviewer}"


class AuditSample(models.Model):
    """An automatically sent reply picked for a human to grade after the fact."""

    class Grade(models.TextChoices):
        CORRECT = "correct", "Correct"
        INCORRECT = "incorrect", "Incorrect"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="audit_samples")
    outbound = models.OneToOneField(OutboundMessage, on_delete=models.CASCADE, related_name="audit_sample")
    decision = models.ForeignKey(TriageDecision, null=True, blank=True, on_delete=models.SET_NULL)
    category_slug = models.CharField(max_length=80, db_index=True)
    grade = models.CharField(max_length=10, choices=Grade.choices, blank=True)
    reason_code = models.CharField(max_length=20, choices=ReviewOutcome.Reason.choices, blank=True)
    graded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    graded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"audit of ticket {self.ticket_id}: {self.grade or 'ungraded'}"


class DailyRollup(models.Model):
    """One pre-aggregated slice of a day (or of one hour of today) for the manager dashboard.

    Written only by ``review.rollups`` (beat job, backfill command); read by ``review.analytics``.
    ``dimension`` says what ``key`` is: ``total`` (key ""), ``channel``, ``category`` (a slug),
    ``agent`` (a user id), ``path`` (``auto`` / ``human``), ``model`` (provider|model|prompt version),
    ``reason`` (a review reason code) or ``reject_reason`` (a reviewer's reason code). ``hour`` is -1 for the whole day; the
    hourly rows exist for today only (total dimension). Columns that make no sense for a dimension
    stay 0. Definitions of every column: docs/dashboard.md.
    """

    class Dimension(models.TextChoices):
        TOTAL = "total", "Everything"
        CHANNEL = "channel", "Channel"
        CATEGORY = "category", "Category"
        AGENT = "agent", "Agent"
        PATH = "path", "Reply path"
        MODEL = "model", "Provider | model | prompt version"
        REASON = "reason", "Review reason"
        REJECT_REASON = "reject_reason", "Reject reason"

    WHOLE_DAY = -1

    day = models.DateField()
    hour = models.SmallIntegerField(default=WHOLE_DAY)
    dimension = models.CharField(max_length=16, choices=Dimension.choices)
    key = models.CharField(max_length=200, blank=True)

    tickets = models.PositiveIntegerField(default=0)
    triaged = models.PositiveIntegerField(default=0)
    auto_sent = models.PositiveIntegerField(default=0)
    for_review = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    errors_timeout = models.PositiveIntegerField(default=0)
    errors_rate_limit = models.PositiveIntegerField(default=0)
    errors_validation = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    latency_p50 = models.FloatField(null=True, blank=True)
    latency_p95 = models.FloatField(null=True, blank=True)
    latency_p99 = models.FloatField(null=True, blank=True)
    decisions = models.PositiveIntegerField(default=0)
    judged = models.PositiveIntegerField(default=0)
    agreed = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    edited = models.PositiveIntegerField(default=0)
    # Approved drafts' edit distances counted per step of review.rollups.EDIT_BUCKET (0.01).
    edit_histogram = models.JSONField(default=list, blank=True)
    handled = models.PositiveIntegerField(default=0)
    handling_seconds = models.FloatField(default=0)
    # Counts of handling times per bucket of review.rollups.HANDLING_BUCKETS (a median over any
    # window merges these; medians themselves do not add up).
    handling_histogram = models.JSONField(default=list, blank=True)
    audited = models.PositiveIntegerField(default=0)
    audit_incorrect = models.PositiveIntegerField(default=0)
    csat_good = models.PositiveIntegerField(default=0)
    csat_bad = models.PositiveIntegerField(default=0)
    sla_due = models.PositiveIntegerField(default=0)
    sla_met = models.PositiveIntegerField(default=0)
    backlog = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "hour", "dimension", "key"], name="review_rollup_one_slice"),
        ]
        indexes = [models.Index(fields=["dimension", "day"], name="review_rollup_dim_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour} {self.dimension}:{self.key}"


class TicketNote(models.Model):
    """An internal note on a ticket: for colleagues only, never sent to the customer (no outbox
    row, no ``Message``). Shown in the ticket's timeline."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ticket_notes")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note on ticket {self.ticket_id} by {self.author_id}"


class Mention(models.Model):
    """``@username`` in a note: the colleague's in-app list (/review/mentions/) and one e-mail."""

    note = models.ForeignKey(TicketNote, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["note", "user"], name="mention_unique_note_user")]
        indexes = [models.Index(fields=["user", "read_at"], name="mention_user_unread")]

    def __str__(self) -> str:
        return f"mention of {self.user_id} in note {self.note_id}"


class Macro(models.Model):
    """A shared canned reply. ``body`` may hold the variables ``review.macros.MACRO_VARIABLES``
    (``{customer_name}``, ``{ticket_reference}``, ``{agent_name}``), filled in by the server when an
    agent inserts it into a reply."""

    name = models.CharField(max_length=120, unique=True)
    body = models.TextField(
        help_text="Variables: {customer_name}, {ticket_reference}, {agent_name}."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DriftCheckResult(models.Model):
    """One drift check's verdict at one run (review/monitoring/, docs/drift.md). Append-only: the
    dashboard plots ``statistic`` over ``run_at`` against ``threshold``, /metrics shows the latest."""

    run_at = models.DateTimeField(db_index=True, help_text="When the run started; shared by every check of the run.")
    check_name = models.CharField(max_length=40)
    test = models.CharField(max_length=80, help_text="The statistical test, e.g. 'PSI + chi-square'.")
    statistic = models.FloatField(null=True, blank=True, help_text="None when a side had too few samples.")
    threshold = models.FloatField()
    p_value = models.FloatField(null=True, blank=True)
    breached = models.BooleanField(default=False)
    reference_start = models.DateTimeField()
    reference_end = models.DateTimeField()
    recent_start = models.DateTimeField()
    recent_end = models.DateTimeField()
    reference_count = models.PositiveIntegerField(default=0)
    recent_count = models.PositiveIntegerField(default=0)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run_at", "check_name"]
        constraints = [
            models.UniqueConstraint(fields=["run_at", "check_name"], name="review_drift_one_result_per_check_and_run"),
        ]
        indexes = [models.Index(fields=["check_name", "run_at"], name="review_drift_check_run_idx")]

    def __str__(self) -> str:
        verdict = "BREACHED" if self.breached else "ok"
        return f"{self.check_name}@{self.run_at:%Y-%m-%d %H:%M}: {self.statistic} vs {self.threshold} {verdict}"
