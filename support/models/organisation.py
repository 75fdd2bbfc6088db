"""Who handles tickets and how they are sorted: teams, agents, categories, customers, priorities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

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
