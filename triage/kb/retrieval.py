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
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection

from triage.embeddings import embeddings_available, get_encoder
from triage.kb.snapshot import KbSnapshot, kb_snapshot, snapshot_documents, snapshot_vectors

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


def kb_search(
    *, query: str, limit: int = 5, category_slug: str | None = None, query_vector: np.ndarray | None = None
) -> list[ChunkHit]:
    """The ``limit`` best published chunks for ``query`` (best first).

    ``query_vector``: the query's sentence embedding when the caller already has it (a triage run
    embeds its ticket once, for the classifier and this search); computed here otherwise, and
    only when retrieval is hybrid. The published chunks come from the process's snapshot
    (triage.kb.snapshot): on PostgreSQL the full-text ranking is the only query.
    """
    if limit <= 0 or not tokenize(query):  # nothing but stopwords: no topic to look up
        return []
    snapshot = kb_snapshot()
    if not snapshot.chunks:
        return []
    pool = max(limit * 4, 20)
    if connection.vendor == "postgresql":
        scored = _postgres_scores(query=query, limit=pool)
    else:
        scored = _bm25_index(snapshot).scores(query=query, limit=pool)
    if hybrid_enabled():
        if query_vector is None:
            query_vector = get_encoder().encode([query])[0]
        scored = _fuse(lexical=scored, dense=_dense_scores(snapshot, query_vector=query_vector, limit=pool))
    return _rank(snapshot, scored=scored, limit=limit, category_slug=category_slug)


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


def _dense_scores(snapshot: KbSnapshot, *, query_vector: np.ndarray, limit: int) -> dict[int, float]:
    """Cosine similarity with every published chunk (vectors embedded once per KB state and
    process: the demo KB embeds in well under a second, and a chunk is short)."""
    chunk_ids, matrix = snapshot_vectors(snapshot, encode=lambda texts: get_encoder().encode(texts))
    if not chunk_ids:
        return {}
    similarities = matrix @ np.asarray(query_vector, dtype=np.float32)
    best = np.argsort(-similarities, kind="stable")[:limit]
    return {chunk_ids[i]: float(similarities[i]) for i in best.tolist() if similarities[i] > 0}


def _rank(snapshot: KbSnapshot, *, scored: dict[int, float], limit: int, category_slug: str | None) -> list[ChunkHit]:
    chunks = snapshot.chunks
    # A lexical hit from the database that the snapshot does not know yet (published a moment
    # ago, before the version moved) is skipped rather than shown half-known.
    scored = {chunk_id: score for chunk_id, score in scored.items() if chunk_id in chunks}
    boosted: dict[int, float] = {}
    top = max(scored.values(), default=0.0)
    for chunk_id, score in scored.items():
        boosted[chunk_id] = score / top if top > 0 else 0.0
    if category_slug:
        for chunk_id in boosted:
            if category_slug in chunks[chunk_id].categories:
                boosted[chunk_id] += CATEGORY_BOOST
        for chunk_id in snapshot.by_category.get(category_slug, [])[:limit]:
            boosted.setdefault(chunk_id, CATEGORY_BOOST * 0.5)
    best = sorted(boosted.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        ChunkHit(
            chunk_id=chunk_id,
            article_slug=chunks[chunk_id].article_slug,
            article_title=chunks[chunk_id].article_title,
            heading=chunks[chunk_id].heading,
            text=chunks[chunk_id].text,
            score=round(score, 6),
        )
        for chunk_id, score in best
        if score > 0
    ]


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


def _bm25_index(snapshot: KbSnapshot) -> Bm25Index:
    """Built once per snapshot (so once per publication and process)."""
    index = snapshot.lexical_index
    if not isinstance(index, Bm25Index):
        index = Bm25Index(snapshot_documents(snapshot, tokenize=tokenize, weights=FIELD_WEIGHTS))
        snapshot.lexical_index = index
    return index
