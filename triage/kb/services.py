"""Writes to the knowledge base: import, versioning, re-chunking, search index maintenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils.text import slugify

from triage.kb.chunking import chunk_markdown, split_front_matter
from triage.kb.models import Article, ArticleVersion, Chunk
from triage.kb.snapshot import kb_published_changed

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"
SEARCH_CONFIG = "english"


class KbImportError(ValueError):
    """A markdown file that cannot be imported (bad front matter, no title)."""


@dataclass(frozen=True)
class ArticleSource:
    slug: str
    title: str
    body_markdown: str
    tags: list[str]
    categories: list[str]
    status: str


def kb_parse_markdown(*, text: str, default_slug: str) -> ArticleSource:
    """Front matter (title, slug, tags, categories, status) + body. The title falls back to the
    first ``#`` heading."""
    try:
        meta, body = split_front_matter(text)
    except ValueError as exc:
        raise KbImportError(str(exc)) from exc
    body = body.strip() + "\n"
    title = str(meta.get("title") or "").strip()
    if not title:
        for line in body.splitlines():
            if line.startswith("# "):
                title = line[2:].strip()
                break
    if not title:
        raise KbImportError("no title in front matter and no '# ' heading")
    slug = slugify(str(meta.get("slug") or default_slug))[:120]
    if not slug:
        raise KbImportError("empty slug")
    status = str(meta.get("status") or Article.Status.PUBLISHED)
    if status not in Article.Status.values:
        raise KbImportError(f"status must be one of {Article.Status.values}, got {status!r}")
    return ArticleSource(
        slug=slug,
        title=title,
        body_markdown=body,
        tags=_string_list(meta.get("tags")),
        categories=_string_list(meta.get("categories")),
        status=status,
    )


def _string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    raise KbImportError(f"expected a list, got {value!r}")


def kb_article_upsert(
    *,
    source: ArticleSource,
    edited_by: User | None = None,
) -> tuple[Article, bool]:
    """Create or update an article from its source. A changed title or body makes a new version
    (ArticleVersion history) and re-chunks; returns (article, changed)."""
    with transaction.atomic():
        article = Article.objects.select_for_update().filter(slug=source.slug).first()
        if article is None:
            article = Article.objects.create(
                slug=source.slug,
                title=source.title,
                body_markdown=source.body_markdown,
                tags=source.tags,
                categories=source.categories,
                status=source.status,
                version=1,
            )
            _version_record(article=article, edited_by=edited_by)
            kb_article_rechunk(article=article)
            return article, True
        content_changed = (article.title, article.body_markdown) != (
            source.title,
            source.body_markdown,
        )
        meta_changed = (article.tags, article.categories, article.status) != (
            source.tags,
            source.categories,
            source.status,
        )
        if not content_changed and not meta_changed:
            return article, False
        article.title = source.title
        article.body_markdown = source.body_markdown
        article.tags = source.tags
        article.categories = source.categories
        article.status = source.status
        if content_changed:
            article.version += 1
        article.save()
        if content_changed:
            _version_record(article=article, edited_by=edited_by)
        kb_article_rechunk(article=article)
        return article, True


def kb_article_save_edit(*, article: Article, edited_by: User | None) -> Article:
    """An admin edit: bump the version when title/body differ from the last version, re-chunk.
    ``article`` carries the edited field values and is saved here."""
    with transaction.atomic():
        last = article.versions.order_by("-version").first() if article.pk else None
        content_changed = last is None or (last.title, last.body_markdown) != (
            article.title,
            article.body_markdown,
        )
        if article.pk and content_changed and last is not None:
            article.version = last.version + 1
        article.save()
        if content_changed:
            _version_record(article=article, edited_by=edited_by)
        kb_article_rechunk(article=article)
    return article


def _version_record(*, article: Article, edited_by: User | None) -> None:
    ArticleVersion.objects.update_or_create(
        article=article,
        version=article.version,
        defaults={
            "title": article.title,
            "body_markdown": article.body_markdown,
            "edited_by": edited_by,
        },
    )


def kb_article_rechunk(*, article: Article) -> int:
    """Replace the article's chunks (only published articles have chunks: drafts are never
    cited) and refresh their search vectors. Returns the number of chunks. Every process's KB
    snapshot is rebuilt at its next search (triage.kb.snapshot)."""
    kb_published_changed()
    Chunk.objects.filter(article=article).delete()
    if article.status != Article.Status.PUBLISHED:
        return 0
    drafts = chunk_markdown(article.body_markdown)
    Chunk.objects.bulk_create(
        [
            Chunk(article=article, ordinal=ordinal, heading=draft.heading[:300], text=draft.text)
            for ordinal, draft in enumerate(drafts)
        ]
    )
    _search_vector_refresh(article_id=article.pk)
    return len(drafts)


def _search_vector_refresh(*, article_id: int) -> None:
    """Title weighs most (A), then the section heading and the article's tags (B), then the
    text (C)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE kb_chunk AS c SET search_vector =
                setweight(to_tsvector(%s::regconfig, coalesce(a.title, '')), 'A')
                || setweight(to_tsvector(%s::regconfig, coalesce(c.heading, '') || ' ' || coalesce(
                    (SELECT string_agg(tag, ' ') FROM jsonb_array_elements_text(a.tags) AS tag), ''
                )), 'B')
                || setweight(to_tsvector(%s::regconfig, coalesce(c.text, '')), 'C')
            FROM kb_article AS a
            WHERE a.id = c.article_id AND c.article_id = %s
            """,
            [SEARCH_CONFIG, SEARCH_CONFIG, SEARCH_CONFIG, article_id],
        )


def kb_reindex_all() -> int:
    """Rebuild every chunk (after a chunking change). Returns the number of chunks."""
    total = 0
    for article in Article.objects.all():
        with transaction.atomic():
            total += kb_article_rechunk(article=article)
    return total


def kb_import_dir(*, path: Path) -> int:
    """Import every ``*.md`` under ``path`` (front matter + markdown). Returns the number of
    articles created or updated; unchanged files are left alone."""
    path = Path(path)
    if not path.is_dir():
        raise KbImportError(f"{path} is not a directory")
    changed = 0
    for file in sorted(path.rglob("*.md")):
        if file.name.lower() == "readme.md":
            continue
        try:
            source = kb_parse_markdown(
                text=file.read_text(encoding="utf-8"), default_slug=file.stem
            )
        except KbImportError as exc:
            raise KbImportError(f"{file}: {exc}") from exc
        _, was_changed = kb_article_upsert(source=source)
        changed += int(was_changed)
    return changed


def kb_import_demo() -> int:
    """Import the Northwind Bank demo knowledge base shipped in triage/kb/demo/."""
    return kb_import_dir(path=DEMO_DIR)
