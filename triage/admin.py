from django.contrib import admin
from django.http import HttpRequest

from triage import models


@admin.register(models.TriageDecision)
class TriageDecisionAdmin(admin.ModelAdmin):
    list_display = ("id", "ticket", "provider", "model", "category_slug", "confidence", "needs_review",
                    "is_final", "cost_usd", "latency_ms", "cache_hit", "created_at")
    list_filter = ("provider", "needs_review", "is_final", "cache_hit")
    raw_id_fields = ("ticket",)

    def has_change_permission(self, request: HttpRequest, obj: models.TriageDecision | None = None) -> bool:
        return False


@admin.register(models.AutomationEvent)
class AutomationEventAdmin(admin.ModelAdmin):
    list_display = ("category", "verb", "actor", "reason", "created_at")
    list_filter = ("verb",)


class _ReadOnly(admin.ModelAdmin):
    """Release rows change only through triage_config and the releases page (an event each)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(models.TriageConfiguration)
class TriageConfigurationAdmin(_ReadOnly):
    list_display = ("name", "state", "prompt", "local_model", "local_model_version", "target_error", "created_at")
    list_filter = ("state",)


@admin.register(models.ConfigurationEvent)
class ConfigurationEventAdmin(_ReadOnly):
    list_display = ("created_at", "verb", "configuration", "previous", "actor", "actor_label", "reason")
    list_filter = ("verb",)


@admin.register(models.PromptVersion)
class PromptVersionAdmin(_ReadOnly):
    list_display = ("version", "name", "source", "created_at")


@admin.register(models.EvalRun)
class EvalRunAdmin(_ReadOnly):
    list_display = ("id", "configuration", "evalset", "passed", "created_at")
