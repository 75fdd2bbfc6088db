from django.contrib import admin

from review import models


@admin.register(models.ReviewOutcome)
class ReviewOutcomeAdmin(admin.ModelAdmin):
    list_display = ("ticket", "verdict", "reviewer", "reason_code", "edit_distance", "decided_at")
    list_filter = ("verdict", "reason_code")
    raw_id_fields = ("ticket", "decision")


@admin.register(models.AuditSample)
class AuditSampleAdmin(admin.ModelAdmin):
    list_display = ("ticket", "category_slug", "grade", "graded_by", "created_at")
    list_filter = ("grade",)


@admin.register(models.Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ("name", "updated_at")
    search_fields = ("name", "body")
