"""manage.py eval_build NAME (--csv PATH [--text-column text] [--label-column category] |
--from-reviews [--days N] | --suite adversarial)

It lives in the review app because ``--from-reviews`` reads reviewers' decisions; the CSV and
suite builders are ``triage.evaluation.building``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.evalsets import evalset_build_reviews
from triage.evaluation.building import BuildResult, EvalSetError, evalset_build_csv, evalset_build_suite


class Command(BaseCommand):
    help = "Build a frozen evaluation set from a CSV, from reviewed tickets, or from a shipped suite."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path)
        source.add_argument("--from-reviews", action="store_true")
        source.add_argument("--suite", choices=["adversarial"])
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="category")
        parser.add_argument("--days", type=int, default=90, help="with --from-reviews: how far back (default 90)")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        try:
            result: BuildResult
            if options["csv"] is not None:
                result = evalset_build_csv(name=name, path=options["csv"], text_column=options["text_column"],
                                           label_column=options["label_column"])
            elif options["from_reviews"]:
                if options["days"] < 1:
                    raise CommandError("--days must be at least 1")
                result = evalset_build_reviews(name=name, days=options["days"])
            else:
                result = evalset_build_suite(name=name, suite=options["suite"])
        except EvalSetError as exc:
            raise CommandError(str(exc)) from exc
        evalset = result.evalset
        state = "built" if result.created else "unchanged (already built, same content)"
        self.stdout.write(self.style.SUCCESS(
            f"{evalset.name}: {evalset.cases.count()} cases, version {evalset.content_hash[:12]}, {state}"))
