"""python manage.py import_kb DIR"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.kb.models import Article, Chunk
from triage.kb.services import KbImportError, kb_import_demo, kb_import_dir, kb_reindex_all


class Command(BaseCommand):
    help = (
        "Import markdown articles with YAML front matter (title, slug, tags, categories, "
        "status) from DIR; changed articles get a new version and are re-chunked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dir", nargs="?", type=Path, help="Directory of *.md files.")
        parser.add_argument(
            "--demo", action="store_true", help="Import the Northwind Bank demo KB."
        )
        parser.add_argument(
            "--reindex",
            action="store_true",
            help="Then re-chunk every article and rebuild the search index (after an upgrade).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["demo"] and options["dir"] is None and not options["reindex"]:
            raise CommandError("Give a DIR, --demo or --reindex.")
        changed = 0
        try:
            if options["demo"]:
                changed += kb_import_demo()
            if options["dir"] is not None:
                changed += kb_import_dir(path=options["dir"])
        except KbImportError as exc:
            raise CommandError(str(exc)) from exc
        if options["reindex"]:
            kb_reindex_all()
        self.stdout.write(
            self.style.SUCCESS(
                f"{changed} articles created or updated; "
                f"the KB has {Article.objects.count()} articles, "
                f"{Chunk.objects.count()} chunks."
            )
        )
