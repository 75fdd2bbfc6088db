"""``python manage.py poll_imap``: ingest unseen mail from IMAP_HOST/IMAP_FOLDER once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from support.intake.email_ingest import IngestResult
from support.intake.imap import imap_poll


class Command(BaseCommand):
    help = "Fetch unseen IMAP messages, ingest them, mark each seen only after it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="At most this many messages (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.IMAP_HOST:
            raise CommandError("IMAP_HOST is not set")
        counts: Counter[str] = Counter()

        def report(source: str, result: IngestResult) -> None:
            counts[result.outcome] += 1
            self.stdout.write(f"{source} {result.describe()}")

        try:
            imap_poll(limit=options["limit"], on_result=report)
        except OSError as exc:
            raise CommandError(f"IMAP connection failed: {exc}") from exc
        total = sum(counts.values())
        self.stdout.write(
            f"summary: {total} messages, {counts['created']} created, {counts['threaded']} threaded, "
            f"{counts['ignored']} ignored, {counts['quarantined']} quarantined"
        )
