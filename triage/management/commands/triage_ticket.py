"""``python manage.py triage_ticket TICKET_ID [--json] [--force]``: triage one ticket now.

- A ``new`` ticket is claimed and triaged synchronously (the same pipeline as the worker).
- An already-triaged ticket is not touched: its final decision is printed (exit 0), with a note
  on stderr. ``--force`` re-triages it while nobody has answered the customer yet (status
  awaiting_review, or stuck in triaging); the previous final decision stays in the log.
- ``--json`` prints ONE JSON object (see triage.pipeline.decision_summary).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from support.models import Ticket
from triage import pipeline
from triage.models import TriageDecision


class Command(BaseCommand):
    help = "Triage one ticket synchronously and print the resulting decision."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ticket_id", type=int)
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Re-triage a ticket that was already triaged (not once a reply went out).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ticket_id = options["ticket_id"]
        ticket = Ticket.objects.filter(pk=ticket_id).first()
        if ticket is None:
            raise CommandError(f"ticket {ticket_id} does not exist")
        if options["force"] and ticket.status != Ticket.Status.NEW:
            try:
                pipeline.triage_rerun(ticket_id=ticket_id, actor_label="triage_ticket --force")
            except pipeline.TriageRerunRefused as exc:
                raise CommandError(str(exc)) from exc
        elif ticket.status == Ticket.Status.NEW:
            status = pipeline.triage_run_execute(ticket_id=ticket_id)
            if status.startswith("skipped"):
                self.stderr.write(f"ticket {ticket_id}: {status} (a worker took it first)")
        elif ticket.status == Ticket.Status.TRIAGING:
            raise CommandError(
                f"ticket {ticket_id} is being triaged right now; use --force if it is stuck"
            )
        else:
            self.stderr.write(
                f"ticket {ticket_id} was already triaged; showing its decision (--force re-runs)"
            )
        decision = (
            TriageDecision.objects.select_related("ticket").final().filter(ticket_id=ticket_id).first()
        )
        if decision is None:
            raise CommandError(f"ticket {ticket_id} has no final decision")
        summary = pipeline.decision_summary(decision)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        draft = summary.pop("reply_draft")
        width = max(len(key) for key in summary)
        for key, value in summary.items():
            self.stdout.write(f"{key.ljust(width)}  {value}")
        if draft:
            self.stdout.write("\ndraft:\n" + draft)
