"""Evaluation sets (frozen collections of cases) and runs (a configuration on a set, per case)."""

from __future__ import annotations

from django.db import models

from triage.configuration.models import TriageConfiguration


class EvalSet(models.Model):
    """A frozen, versioned collection of cases: rebuilding a name with other content is refused;
    ``content_hash`` is its version."""

    class Source(models.TextChoices):
        CSV = "csv", "CSV file"
        REVIEWS = "reviews", "Reviewed tickets"
        SUITE = "suite", "Suite shipped in the repository"

    name = models.SlugField(max_length=80, unique=True)
    source = models.CharField(max_length=12, choices=Source.choices)
    origin = models.CharField(max_length=300, blank=True)  # the CSV path, "reviews:90d", "suite:adversarial"
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EvalCase(models.Model):
    class Kind(models.TextChoices):
        ORDINARY = "ordinary", "Ordinary"
        INJECTION = "injection", "Prompt injection"
        PII = "pii", "Personal data"
        INVENTED_FACTS = "invented_facts", "Invites invented facts"
        HIGH_STAKES_LOOKALIKE = "high_stakes_lookalike", "High-stakes look-alike"

    evalset = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="cases")
    position = models.PositiveIntegerField()
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    expected_category = models.CharField(max_length=80, blank=True)  # "" when any category will do
    expected_high_stakes = models.BooleanField(default=False)
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.ORDINARY)
    # Personal data in the text that must never reach an external provider or an unexpected reply.
    pii_values = models.JSONField(default=list, blank=True)
    reviewer_verdict = models.CharField(max_length=20, blank=True)
    sent_reply = models.TextField(blank=True)

    class Meta:
        ordering = ["evalset", "position"]
        constraints = [models.UniqueConstraint(fields=["evalset", "position"], name="eval_case_position_unique")]

    def __str__(self) -> str:
        return f"{self.evalset_id}#{self.position}"


class EvalRun(models.Model):
    """One configuration's whole pipeline over one set, sending nothing and changing no ticket."""

    configuration = models.ForeignKey(TriageConfiguration, on_delete=models.PROTECT, related_name="eval_runs")
    evalset = models.ForeignKey(EvalSet, on_delete=models.PROTECT, related_name="runs")
    evalset_hash = models.CharField(max_length=64)  # the set's version this run saw
    metrics = models.JSONField(default=dict, blank=True)
    passed = models.BooleanField(default=False)
    failures = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.configuration_id} on {self.evalset_id}"


class EvalResult(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    predicted_category = models.CharField(max_length=80, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    correct = models.BooleanField(default=False)
    automated = models.BooleanField(default=False)  # the policy would have sent it without a human
    review_reasons = models.JSONField(default=list, blank=True)
    risk_flags = models.JSONField(default=list, blank=True)
    pii_leak = models.BooleanField(default=False)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    latency_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "case__position"]
        constraints = [models.UniqueConstraint(fields=["run", "case"], name="eval_result_one_per_case")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.case_id}"
