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
