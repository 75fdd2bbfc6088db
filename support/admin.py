from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from support import models
from support.intake.email_ingest import quarantine_reprocess


class MessageInline(admin.StackedInline):
    model = models.Message
    extra = 0
    fields = ("direction", "author_email", "body_text", "message_id", "is_automated", "created_at")
    readonly_fields = ("created_at",)


class TicketEventInline(admin.TabularInline):
    model = models.TicketEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "actor_label", "verb", "before", "after", "note")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: models.Ticket | None = None) -> bool:
        return False


@admin.register(models.Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "status", "priority", "category", "team", "assignee", "channel", "created_at")
    list_filter = ("status", "priority", "channel", "team", "sla_escalated", "escalated_to_manager")
    search_fields = ("subject", "customer__email", "external_id")
    raw_id_fields = ("customer", "assignee", "claimed_by")
    inlines = [MessageInline, TicketEventInline]
    date_hierarchy = "created_at"


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "email", "automation_policy", "assign_by_load")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "default_team", "high_stakes", "automation_policy", "auto_threshold", "braked")
    list_filter = ("high_stakes", "automation_policy", "braked", "default_team")
    search_fields = ("slug", "name")


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "vip", "created_at")
    list_filter = ("vip",)
    search_fields = ("email", "name")


@admin.register(models.TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ("created_at", "ticket", "actor_label", "verb")
    list_filter = ("verb",)
    readonly_fields = ("ticket", "actor", "actor_label", "verb", "before", "after", "note", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.TicketEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.TicketEvent | None = None) -> bool:
        return False


@admin.register(models.OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "ticket", "kind", "status", "to_address", "attempts", "sent_at")
    list_filter = ("kind", "status", "auto_submitted")
    raw_id_fields = ("ticket", "message", "created_by")


@admin.register(models.WebhookSource)
class WebhookSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "rate_limit_per_minute", "created_at")


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "revoked", "created_at", "last_used_at")
    readonly_fields = ("key_hash", "prefix")


@admin.register(models.InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = ("id", "route", "source_ref", "status", "reason", "ticket", "received_at")
    list_filter = ("status", "route")
    readonly_fields = ("sha256", "message_id", "received_at")
    exclude = ("raw",)
    actions = ["reprocess"]

    @admin.action(description="Reprocess selected quarantined messages")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[models.InboundEmail]) -> None:
        results = quarantine_reprocess(inbound_ids=list(queryset.values_list("pk", flat=True)))
        outcomes = "; ".join(f"#{row.pk} {result.describe()}" for row, result in results) or "nothing quarantined"
        self.message_user(request, f"Reprocessed {len(results)}: {outcomes}")


admin.site.register(models.AgentProfile)
admin.site.register(models.SlaPolicy)
admin.site.register(models.SlaBreach)
admin.site.site_header = "Switchboard administration"


@admin.register(models.Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("kind", "message", "created_at", "acknowledged_by")
    list_filter = ("kind",)
