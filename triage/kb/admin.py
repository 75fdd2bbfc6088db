from django.contrib import admin

from triage.kb import models


class ChunkInline(admin.TabularInline):
    model = models.Chunk
    extra = 0
    readonly_fields = ("ordinal", "heading", "text")
    can_delete = False


@admin.register(models.Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "status", "version", "updated_at")
    list_filter = ("status",)
    search_fields = ("title", "body_markdown")
    inlines = [ChunkInline]
