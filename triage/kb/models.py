"""Knowledge-base articles and the chunks that drafts cite."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=300)
    body_markdown = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="Category slugs it answers.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PUBLISHED)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ArticleVersion(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    body_markdown = models.TextField()
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["article", "version"], name="article_version_unique")]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.version}"


class Chunk(models.Model):
    """A heading-aware slice of a published article; its id is what a draft cites."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=300, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["article", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["article", "ordinal"], name="chunk_unique_ordinal")]

    def __str__(self) -> str:
        return f"{self.article.slug}#{self.ordinal}"
