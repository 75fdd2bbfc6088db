"""``python manage.py reprocess_quarantine [ID ...]``: run quarantined e-mail through the pipeline again."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from support.intake.email_ingest import quarantine_reprocess


class Command(BaseCommand):
    help = "Reprocess quarantined InboundEmail rows (all, or the given ids); one line per message."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="InboundEmail ids (default: every quarantined one).")

    def handle(self, *args: Any, **options: Any) -> None:
        counts: Counter[str] = Counter()
        for row, result in quarantine_reprocess(inbound_ids=options["ids"] or None):
            counts[result.outcome] += 1
            self.stdout.write(f"inbound={row.pk} {result.describe()}")
        self.stdout.write(
            f"summary: {sum(counts.values())} messages, {counts['created']} created, {counts['threaded']} threaded, "
            f"{counts['ignored']} ignored, {counts['quarantined']} quarantined"
        )
