"""Configuration rows: prompt versions, configurations (exactly one in production), their events."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class PromptVersion(models.Model):
    """One prompt text, frozen: ``version`` is ``<name>-<first 8 hex of sha256>`` as decisions record it."""

    name = models.CharField(max_length=80)
    version = models.CharField(max_length=100, unique=True)
    sha256 = models.CharField(max_length=64)
    text = models.TextField()
    source = models.CharField(max_length=200, blank=True)  # "file:triage/prompts/triage.md", "manager"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "created_at", "id"]

    def __str__(self) -> str:
        return self.version


class TriageConfigurationQuerySet(models.QuerySet["TriageConfiguration"]):
    def production(self) -> TriageConfiguration | None:
        return self.filter(state=TriageConfiguration.State.PRODUCTION).select_related("prompt").first()

    def shadows(self) -> TriageConfigurationQuerySet:
        return self.filter(state=TriageConfiguration.State.SHADOW, shadow_sample__gt=0).select_related("prompt")


class TriageConfiguration(models.Model):
    """Everything that decides what the AI does with a ticket, as one versioned row."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        CANDIDATE = "candidate", "Candidate"
        SHADOW = "shadow", "Shadow"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    name = models.SlugField(max_length=80, unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT)
    prompt = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="configurations")
    provider_chain = models.JSONField(default=list)  # ["openai", "local"]
    llm_model = models.CharField(max_length=120, blank=True)
    local_model = models.CharField(max_length=64, blank=True)  # classifier name, e.g. "banking77"
    local_model_version = models.CharField(max_length=64, blank=True)  # its version directory
    target_error = models.FloatField(default=0.02)
    # {category slug: threshold}: learnt on THIS configuration's own evidence, never copied.
    thresholds = models.JSONField(default=dict, blank=True)
    # How the confidence the thresholds are compared with was calibrated, and on what:
    # {"provider": "local", "model": "...", "method": "...", "threshold": 0.93, ...}. Empty: no
    # evidence, so the configuration sends nothing on its own.
    calibration = models.JSONField(default=dict, blank=True)
    shadow_sample = models.FloatField(default=0.0)  # share of live tickets a shadow also triages
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    objects = TriageConfigurationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="production"), name="triage_one_production_configuration"
            ),
            models.CheckConstraint(
                condition=models.Q(target_error__gt=0) & models.Q(target_error__lt=1),
                name="triage_configuration_target_error_range",
            ),
            models.CheckConstraint(
                condition=models.Q(shadow_sample__gte=0) & models.Q(shadow_sample__lte=1),
                name="triage_configuration_shadow_sample_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def calibrated_provider(self) -> str:
        """The provider whose confidence the thresholds were calibrated on ('' when none)."""
        return str(self.calibration.get("provider", "")) if self.calibration else ""

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "prompt": self.prompt.version,
            "chain": list(self.provider_chain),
            "model": self.llm_model,
            "local_model": f"{self.local_model}@{self.local_model_version}" if self.local_model else "",
            "target_error": self.target_error,
            "thresholds": len(self.thresholds),
            "calibrated": bool(self.calibration),
            "shadow_sample": self.shadow_sample,
        }


class ConfigurationEvent(models.Model):
    """The release log: every creation, promotion, refusal, rollback, shadow and calibration."""

    class Verb(models.TextChoices):
        CREATED = "created", "Created"
        PROMOTED = "promoted", "Promoted"
        REFUSED = "refused", "Promotion refused"
        ROLLED_BACK = "rolled_back", "Rolled back"
        RETIRED = "retired", "Retired"
        SHADOW = "shadow", "Shadow started"
        CALIBRATED = "calibrated", "Calibrated"

    configuration = models.ForeignKey(TriageConfiguration, on_delete=models.PROTECT, related_name="events")
    # The production configuration before this event (promotion, rollback), for the audit trail.
    previous = models.ForeignKey(TriageConfiguration, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    verb = models.CharField(max_length=20, choices=Verb.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)  # "cli:alice", "manager", "train_classifier"
    reason = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.verb} {self.configuration_id}"
