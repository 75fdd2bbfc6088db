from django.core.management.base import BaseCommand

from review.demo.seeding import demo_seed


class Command(BaseCommand):
    help = "Create the demo tenant (a fictional bank on BANKING77). Running it twice changes nothing."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--tickets", type=int, default=None, help="How many demo tickets (default 300).")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        summary = demo_seed(ticket_count=options["tickets"])
        for key, value in summary.items():
            self.stdout.write(f"{key}: {value}")
