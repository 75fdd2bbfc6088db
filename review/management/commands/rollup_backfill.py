from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review.rollups import rollup_backfill


class Command(BaseCommand):
    help = (
        "Recompute the dashboard's daily roll-ups for the last N days (today included). "
        "Safe to run again: each day's rows are replaced."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=90, help="How many days back (default 90).")

    def handle(self, *args: object, **options: Any) -> None:
        rows = rollup_backfill(days=max(1, options["days"]))
        self.stdout.write(f"roll-up rows written: {rows}")
