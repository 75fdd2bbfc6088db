"""Knowledge-base retrieval: which chunks answer this ticket?

- PostgreSQL: full-text search over a weighted tsvector (article title A, section heading and
  article tags B, text C) with a GIN index (migration kb 0002), ranked with ``ts_rank``.
- Anywhere else (the embedded SQLite default): an in-process BM25 index over the same weighted
  fields, rebuilt when the published chunks change.
- Hybrid (``KB_HYBRID``, on by default when the sentence encoder is installed): the lexical
  ranking fused with cosine similarity of MiniLM embeddings (triage.embeddings) by reciprocal
  rank fusion. The demo KB is small, so chunk vectors live in process memory; a large KB would
  keep them in pgvector instead.

The query is a ticket, not a keyword list, so terms are OR-ed: every chunk sharing a meaningful
word is a candidate and the ranking decides. A ``category_slug`` (the classifier's guess) boosts
chunks of articles that declare they answer that category; it never filters, so a wrong guess
cannot hide the right article.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Max

from triage.embeddings import embeddings_available, get_encoder
from triage.kb.models import Article, Chunk

# Added to a [0, 1]-normalised lexical score: a chunk of the hinted category's articles that
# matches the query at all outranks every other chunk; unmatched ones still get half of it.
CATEGORY_BOOST = 1.0
FIELD_WEIGHTS = {"title": 2.0, "heading": 1.5, "tags": 1.5, "text": 1.0}
RRF_K = 60  # the usual reciprocal-rank-fusion constant
BM25_K1 = 1.2
BM25_B = 0.75
_TOKEN_RE = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """
a about above after again against all am an and any are aren as at be because been before being
below between both but by can cannot could did didn do does doesn doing don down during each few
for from further had hadn has hasn have haven having he her here hers herself him himself his how
i if in into is isn it its itself just ll me more most my myself no nor not now of off on once
only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was
wasn we were weren what when where which while who whom why will with won would you your yours
yourself yourselves hi hello please thanks thank hey im ive id dont cant still get got also
""".split()
)


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: int
    article_slug: str
    article_title: str
    heading: str
    text: str
    score: float


def tokenize(text: str) -> list[str]:
    return [_stem(token) for token in _TOKEN_RE.findall(text.lower()) if token not in STOPWORDS]


def _stem(token: str) -> str:
    """A light suffix stripper: enough to match 'cards'/'card', 'charged'/'charge'."""
    if len(token) <= 3 or token.isdigit():
        return token
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            stem = token[: -len(suffix)] + replacement
            if suffix in ("es",) and not stem.endswith(("s", "x", "z", "ch", "sh")):
                stem = token[:-1]
            return stem
    return token


def kb_search(*, query: str, limit: int = 5, category_slug: str | None = None) -> list[ChunkHit]:
    """The ``limit`` best published chunks for ``query`` (best first)."""
    if limit <= 0 or not tokenize(query):  # nothing but stopwords: no topic to look up
        return []
    pool = max(limit * 4, 20)
    if connection.vendor == "postgresql":
        scored = _postgres_scores(query=query, limit=pool)
    else:
        scored = _bm25_index().scores(query=query, limit=pool)
    if hybrid_enabled():
        scored = _fuse(lexical=scored, dense=_dense_scores(query=query, limit=pool))
    return _rank(scored=scored, limit=limit, category_slug=category_slug)


def hybrid_enabled() -> bool:
    return bool(settings.KB_HYBRID) and embeddings_available()


def _fuse(*, lexical: dict[int, float], dense: dict[int, float]) -> dict[int, float]:
    """Reciprocal rank fusion: each list votes 1/(k + rank), so neither scale dominates and a
    chunk found by both rises. Words catch exact terms ("IBAN", "Apple Pay"); the embedding
    catches paraphrases ("a payment I did not make" vs "do not recognise")."""
    fused: dict[int, float] = {}
    for scores in (lexical, dense):
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        for rank, (chunk_id, _score) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    return fused


def _dense_scores(*, query: str, limit: int) -> dict[int, float]:
    chunk_ids, matrix = _chunk_vectors()
    if not chunk_ids:
        return {}
    similarities = matrix @ get_encoder().encode([query])[0]
    best = np.argsort(-similarities, kind="stable")[:limit]
    return {chunk_ids[i]: float(similarities[i]) for i in best.tolist() if similarities[i] > 0}


_vector_cache: dict[str, tuple[tuple[object, ...], list[int], np.ndarray]] = {}


def _chunk_vectors() -> tuple[list[int], np.ndarray]:
    """Embeddings of the published chunks (heading + text), computed once per KB state and
    process: the demo KB embeds in well under a second, and a chunk is short."""
    key = _published_state()
    with _index_lock:
        cached = _vector_cache.get("default")
        if cached and cached[0] == key:
            return cached[1], cached[2]
    rows = list(
        Chunk.objects.filter(article__status=Article.Status.PUBLISHED)
        .order_by("id")
        .values_list("id", "article__title", "heading", "text")
    )
    ids = [row[0] for row in rows]
    matrix = get_encoder().encode([f"{title}. {heading}. {text}" for _id, title, heading, text in rows])
    with _index_lock:
        _vector_cache["default"] = (key, ids, matrix)
    return ids, matrix


def _rank(*, scored: dict[int, float], limit: int, category_slug: str | None) -> list[ChunkHit]:
    boosted: dict[int, float] = {}
    top = max(scored.values(), default=0.0)
    for chunk_id, score in scored.items():
        boosted[chunk_id] = score / top if top > 0 else 0.0
    if category_slug:
        for chunk_id, categories in _chunk_categories(chunk_ids=list(boosted)).items():
            if category_slug in categories:
                boosted[chunk_id] += CATEGORY_BOOST
        for category_chunk in _chunks_in_category(category_slug=category_slug, limit=limit):
            boosted.setdefault(category_chunk.pk, CATEGORY_BOOST * 0.5)
    best = sorted(boosted.items(), key=lambda item: (-item[1], item[0]))[:limit]
    chunks = Chunk.objects.select_related("article").in_bulk([chunk_id for chunk_id, _ in best])
    hits = []
    for chunk_id, score in best:
        chunk = chunks.get(chunk_id)
        if chunk is None or score <= 0:
            continue
        hits.append(
            ChunkHit(
                chunk_id=chunk.pk,
                article_slug=chunk.article.slug,
                article_title=chunk.article.title,
                heading=chunk.heading,
                text=chunk.text,
                score=round(score, 6),
            )
        )
    return hits


def _chunks_in_category(*, category_slug: str, limit: int) -> list[Chunk]:
    # JSONField __contains is not supported on SQLite: filter in Python (the KB is small).
    article_ids = [
        pk
        for pk, categories in Article.objects.filter(status=Article.Status.PUBLISHED).values_list(
            "pk", "categories"
        )
        if category_slug in (categories or [])
    ]
    return list(
        Chunk.objects.filter(article_id__in=article_ids)
        .only("id")
        .order_by("article_id", "ordinal")[:limit]
    )


def _chunk_categories(*, chunk_ids: list[int]) -> dict[int, list[str]]:
    return {
        chunk_id: categories or []
        for chunk_id, categories in Chunk.objects.filter(pk__in=chunk_ids).values_list(
            "pk", "article__categories"
        )
    }


# --- PostgreSQL ----------------------------------------------------------------------------------


def _postgres_scores(*, query: str, limit: int) -> dict[int, float]:
    # Lexemes come from our own tokenizer (letters and digits only), so they are safe to join
    # into a to_tsquery expression; PostgreSQL then stems them with the english config.
    terms = sorted(set(_TOKEN_RE.findall(query.lower())) - STOPWORDS)
    if not terms:
        return {}
    tsquery = " | ".join(terms)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, ts_rank('{0.2, 0.5, 0.8, 1.0}', c.search_vector, q) AS rank
            FROM kb_chunk AS c
            JOIN kb_article AS a ON a.id = c.article_id,
                 to_tsquery('english', %s) AS q
            WHERE a.status = 'published' AND c.search_vector @@ q
            ORDER BY rank DESC, c.id
            LIMIT %s
            """,
            [tsquery, limit],
        )
        return {int(chunk_id): float(rank) for chunk_id, rank in cursor.fetchall()}


# --- In-process BM25 (SQLite and tests) ---------------------------------------------------------


class Bm25Index:
    """BM25 over weighted fields: a term in the title counts as FIELD_WEIGHTS['title'] terms."""

    def __init__(self, documents: dict[int, Counter[str]]) -> None:
        self.documents = documents
        self.lengths = {doc_id: sum(terms.values()) for doc_id, terms in documents.items()}
        self.average_length = (sum(self.lengths.values()) / len(documents)) if documents else 0.0
        document_frequency: Counter[str] = Counter()
        for terms in documents.values():
            document_frequency.update(terms.keys())
        total = len(documents)
        self.idf = {
            term: math.log(1 + (total - df + 0.5) / (df + 0.5))
            for term, df in document_frequency.items()
        }
        self.postings: dict[str, list[int]] = {}
        for doc_id, terms in documents.items():
            for term in terms:
                self.postings.setdefault(term, []).append(doc_id)

    def scores(self, *, query: str, limit: int) -> dict[int, float]:
        scores: dict[int, float] = {}
        for term in set(tokenize(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for doc_id in self.postings[term]:
                frequency = self.documents[doc_id][term]
                norm = BM25_K1 * (
                    1 - BM25_B + BM25_B * self.lengths[doc_id] / (self.average_length or 1)
                )
                scores[doc_id] = scores.get(doc_id, 0.0) + idf * frequency * (BM25_K1 + 1) / (
                    frequency + norm
                )
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return dict(best)


_index_lock = threading.Lock()
_index_cache: dict[str, tuple[tuple[object, ...], Bm25Index]] = {}


def _published_state() -> tuple[object, ...]:
    """What identifies the published KB: count, newest chunk id, newest article edit."""
    published = Chunk.objects.filter(article__status=Article.Status.PUBLISHED)
    stats = published.aggregate(max_id=Max("id"), updated=Max("article__updated_at"))
    return (
        connection.alias,
        connection.settings_dict.get("NAME"),
        published.count(),
        stats["max_id"],
        stats["updated"],
    )


def _bm25_index() -> Bm25Index:
    """Rebuilt whenever published chunks change (count, newest id, newest article edit)."""
    published = Chunk.objects.filter(article__status=Article.Status.PUBLISHED)
    key = _published_state()
    with _index_lock:
        cached = _index_cache.get("default")
        if cached and cached[0] == key:
            return cached[1]
        documents: dict[int, Counter[str]] = {}
        for chunk_id, title, heading, tags, text in published.values_list(
            "id", "article__title", "heading", "article__tags", "text"
        ):
            terms: Counter[str] = Counter()
            tag_text = " ".join(str(tag) for tag in tags or [])
            fields = (("title", title), ("heading", heading), ("tags", tag_text), ("text", text))
            for field, value in fields:
                for token in tokenize(value or ""):
                    terms[token] += FIELD_WEIGHTS[field]  # type: ignore[assignment]  # float weights
            documents[chunk_id] = terms
        index = Bm25Index(documents)
        _index_cache["default"] = (key, index)
        return index
