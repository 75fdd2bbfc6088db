"""python manage.py eval_retrieval [--questions PATH] [--k 5] [--import-demo]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from triage.kb.evaluation import QUESTIONS_FILE, load_questions, retrieval_evaluate
from triage.kb.models import Chunk
from triage.kb.retrieval import hybrid_enabled
from triage.kb.services import kb_import_demo


class Command(BaseCommand):
    help = "Retrieval quality over the labelled question set: recall@k and MRR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--questions",
            type=Path,
            default=QUESTIONS_FILE,
            help="JSON list of {question, relevant: [article slugs]}.",
        )
        parser.add_argument("--k", type=int, default=5)
        parser.add_argument(
            "--import-demo", action="store_true", help="Import the demo KB first (idempotent)."
        )
        parser.add_argument("--show-misses", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["import_demo"]:
            kb_import_demo()
        if not Chunk.objects.exists():
            raise CommandError("The KB is empty: run import_kb first (or pass --import-demo).")
        questions = load_questions(options["questions"])
        result = retrieval_evaluate(questions=questions, k=options["k"])
        backend = "postgresql full-text" if connection.vendor == "postgresql" else "in-process BM25"
        if hybrid_enabled():
            backend += " + MiniLM embeddings (reciprocal rank fusion)"
        self.stdout.write(f"backend: {backend}")
        self.stdout.write(f"questions: {result.questions}")
        self.stdout.write(f"recall@{result.k}: {result.recall_at_k:.4f}")
        self.stdout.write(f"MRR: {result.mrr:.4f}")
        if options["show_misses"]:
            for miss in result.misses:
                self.stdout.write(f"  miss: {miss}")
