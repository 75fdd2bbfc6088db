"""The published knowledge base, held in process memory between publications.

The KB changes when someone publishes or edits an article (minutes to weeks apart) and is read
by every triage run, so reading it from the database per ticket (its state, the chunks' texts,
categories and embeddings) was most of a KB search's cost (issue 16). A process keeps one
``KbSnapshot``; each search checks one small version key in the shared cache (Redis in
production: one GET), and the snapshot is rebuilt when the version moved:

- ``kb_published_changed()`` (called by every write in ``triage.kb.services``) sets a new version,
  at once and again when the transaction commits, so no process can keep a snapshot built from
  the uncommitted state under the new version;
- a missing version (cache flushed or evicted) is a new version too;
- every ``KB_SNAPSHOT_REVALIDATE_SECONDS`` the snapshot also compares the database's published
  state (two aggregate queries), which catches a write that bypassed the services (a raw SQL fix,
  an admin delete).

Chunk vectors are computed lazily (hybrid retrieval only) and reused across rebuilds by text:
publishing one article embeds that article's chunks, not the whole KB.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max

from triage.kb.models import Article, Chunk

VERSION_KEY = "kb:published-version"
# A safety net for writes that bypass the services; the version key is what makes a publication
# visible to the next triage.
KB_SNAPSHOT_REVALIDATE_SECONDS = 60.0


@dataclass(frozen=True)
class PublishedChunk:
    id: int
    article_id: int
    ordinal: int
    article_slug: str
    article_title: str
    heading: str
    text: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]

    @property
    def embedding_text(self) -> str:
        return f"{self.article_title}. {self.heading}. {self.text}"


@dataclass
class KbSnapshot:
    version: str
    state: tuple[object, ...]  # the database's published state it was built from
    built_at: float  # time.monotonic()
    chunks: dict[int, PublishedChunk]  # by id, in id order
    by_category: dict[str, list[int]]  # category slug -> chunk ids in (article, ordinal) order
    # Filled lazily, under _lock: the BM25 index (SQLite) and the chunk vectors (hybrid).
    lexical_index: object | None = None
    vectors: tuple[list[int], np.ndarray] | None = None
    _vector_by_text: dict[str, np.ndarray] = field(default_factory=dict)


_lock = threading.Lock()
_snapshots: dict[tuple[object, ...], KbSnapshot] = {}


def _database_key() -> tuple[object, ...]:
    return (connection.alias, connection.settings_dict.get("NAME"))


def kb_published_changed() -> None:
    """Tell every process the published KB changed. Call inside the writing transaction."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None))


def _current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or ""
    return str(version)


def published_state() -> tuple[object, ...]:
    """What identifies the published KB in the database: count, newest chunk id, newest edit."""
    published = Chunk.objects.filter(article__status=Article.Status.PUBLISHED)
    stats = published.aggregate(max_id=Max("id"), updated=Max("article__updated_at"))
    return (published.count(), stats["max_id"], stats["updated"])


def kb_snapshot() -> KbSnapshot:
    """The published KB as of the latest publication: one cache read when nothing changed."""
    key = _database_key()
    version = _current_version()
    snapshot = _snapshots.get(key)
    if snapshot is not None and snapshot.version == version:
        if time.monotonic() - snapshot.built_at < KB_SNAPSHOT_REVALIDATE_SECONDS:
            return snapshot
        state = published_state()
        if state == snapshot.state:
            snapshot.built_at = time.monotonic()
            return snapshot
    with _lock:
        snapshot = _build(version=version, previous=_snapshots.get(key))
        _snapshots[key] = snapshot
    return snapshot


def _build(*, version: str, previous: KbSnapshot | None) -> KbSnapshot:
    state = published_state()
    rows = (
        Chunk.objects.filter(article__status=Article.Status.PUBLISHED)
        .order_by("id")
        .values_list(
            "id", "article_id", "ordinal", "article__slug", "article__title", "heading", "text",
            "article__tags", "article__categories",
        )
    )
    chunks: dict[int, PublishedChunk] = {}
    for chunk_id, article_id, ordinal, slug, title, heading, text, tags, categories in rows:
        chunks[chunk_id] = PublishedChunk(
            id=chunk_id, article_id=article_id, ordinal=ordinal, article_slug=slug, article_title=title,
            heading=heading, text=text, tags=tuple(str(tag) for tag in tags or []),
            categories=tuple(str(slug) for slug in categories or []),
        )
    by_category: dict[str, list[int]] = {}
    for chunk in sorted(chunks.values(), key=lambda c: (c.article_id, c.ordinal)):
        for category in chunk.categories:
            by_category.setdefault(category, []).append(chunk.id)
    snapshot = KbSnapshot(version=version, state=state, built_at=time.monotonic(), chunks=chunks,
                          by_category=by_category)
    if previous is not None:  # unchanged chunk texts keep their vectors
        snapshot._vector_by_text = previous._vector_by_text
    return snapshot


def snapshot_vectors(snapshot: KbSnapshot, *, encode: Callable[[list[str]], np.ndarray]) -> tuple[list[int], np.ndarray]:
    """The chunks' unit vectors (rows in id order), embedding only texts not seen before.
    ``encode`` is ``MiniLMEncoder.encode``."""
    if snapshot.vectors is not None:
        return snapshot.vectors
    with _lock:
        if snapshot.vectors is None:
            known = snapshot._vector_by_text
            texts = {chunk.id: chunk.embedding_text for chunk in snapshot.chunks.values()}
            missing = sorted({text for text in texts.values() if text not in known})
            if missing:
                for text, vector in zip(missing, encode(missing), strict=True):
                    known[text] = vector
            ids = list(texts)
            matrix = (np.stack([known[texts[i]] for i in ids]) if ids else np.zeros((0, 384), dtype=np.float32))
            # Forget texts no longer published.
            snapshot._vector_by_text = {texts[i]: known[texts[i]] for i in ids}
            snapshot.vectors = (ids, matrix.astype(np.float32, copy=False))
    return snapshot.vectors


def snapshot_documents(snapshot: KbSnapshot, *, tokenize: Callable[[str], list[str]], weights: dict[str, float]) -> dict[int, Counter[str]]:
    """Weighted term counts per chunk, for the in-process BM25 index."""
    documents: dict[int, Counter[str]] = {}
    for chunk in snapshot.chunks.values():
        terms: Counter[str] = Counter()
        fields = (("title", chunk.article_title), ("heading", chunk.heading), ("tags", " ".join(chunk.tags)),
                  ("text", chunk.text))
        for name, value in fields:
            for token in tokenize(value or ""):
                terms[token] += weights[name]  # type: ignore[assignment]  # float weights
        documents[chunk.id] = terms
    return documents


def kb_snapshot_clear() -> None:
    """Forget every snapshot in this process (tests)."""
    with _lock:
        _snapshots.clear()
