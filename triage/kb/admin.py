from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from triage.kb import models
from triage.kb.services import kb_article_save_edit


class ChunkInline(admin.TabularInline):
    model = models.Chunk
    extra = 0
    readonly_fields = ("ordinal", "heading", "text")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # chunks are derived from the body on save


class ArticleVersionInline(admin.TabularInline):
    model = models.ArticleVersion
    extra = 0
    fields = ("version", "title", "edited_by", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "status", "version", "updated_at")
    list_filter = ("status",)
    search_fields = ("title", "body_markdown")
    readonly_fields = ("version",)
    inlines = [ArticleVersionInline, ChunkInline]

    def save_model(
        self, request: HttpRequest, obj: models.Article, form: Any, change: bool
    ) -> None:
        # A title/body edit is a new version; every save re-chunks and refreshes the search index.
        kb_article_save_edit(
            article=obj, edited_by=request.user if request.user.is_authenticated else None
        )
