"""Retrieval quality on the labelled question set (triage/kb/eval/questions.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from triage.kb.retrieval import kb_search

QUESTIONS_FILE = Path(__file__).resolve().parent / "eval" / "questions.json"


@dataclass(frozen=True)
class RetrievalEval:
    questions: int
    recall_at_k: float  # share of questions with a relevant article among the top k chunks
    mrr: float  # mean reciprocal rank of the first chunk from a relevant article (0 when absent)
    k: int
    misses: list[str]


def load_questions(path: Path = QUESTIONS_FILE) -> list[tuple[str, set[str]]]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [(row["question"], set(row["relevant"])) for row in rows]


def retrieval_evaluate(*, questions: list[tuple[str, set[str]]], k: int = 5) -> RetrievalEval:
    found = 0
    reciprocal = 0.0
    misses: list[str] = []
    for question, relevant in questions:
        hits = kb_search(query=question, limit=k)
        rank = next(
            (i for i, hit in enumerate(hits, start=1) if hit.article_slug in relevant), None
        )
        if rank is None:
            misses.append(question)
            continue
        found += 1
        reciprocal += 1.0 / rank
    total = len(questions) or 1
    return RetrievalEval(
        questions=len(questions),
        recall_at_k=found / total,
        mrr=reciprocal / total,
        k=k,
        misses=misses,
    )
