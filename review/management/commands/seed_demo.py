from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.demo.seeding import DemoRefusedInProduction, demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo tenant (a fictional bank on BANKING77). Running it twice changes nothing. "
        "Refuses to run when DJANGO_ENV=production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=None, help="How many fresh demo tickets (default 300).")
        parser.add_argument(
            "--history-days",
            type=int,
            default=None,
            help="Days of handled history before today (default 60 without --tickets, else 0).",
        )

    def handle(self, *args: object, **options: Any) -> None:
        try:
            summary = demo_seed(
                ticket_count=options["tickets"], history_days=options["history_days"], progress=True
            )
        except DemoRefusedInProduction as refusal:
            raise CommandError(str(refusal)) from refusal
        self.stdout.write("; ".join(f"{key}: {value}" for key, value in summary.items()))
