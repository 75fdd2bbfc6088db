"""python manage.py classify --csv PATH [--model NAME] [--text-column text] --out OUT.csv"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage import classifier

BATCH = 2000


class Command(BaseCommand):
    help = (
        "Classify every row of a CSV with the local model; writes text,label,confidence,automate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--csv", type=Path, required=True)
        parser.add_argument("--model", default=None, help="Model name (default: the active model).")
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["model"]:
                model = classifier.load_classifier(name=options["model"])
            else:
                active = classifier.active_classifier()
                if active is None:
                    raise CommandError("No active model: run train_classifier first.")
                model = active
            texts, _ = classifier.read_csv_rows(
                path=options["csv"], text_column=options["text_column"], label_column=None
            )
        except classifier.ClassifierError as exc:
            raise CommandError(str(exc)) from exc
        automated = 0
        with options["out"].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "confidence", "automate"])
            for batch in classifier.iter_batches(texts, BATCH):
                labels, confidences = model.predict_labels(batch)
                for text, label, confidence in zip(
                    batch, labels, confidences.tolist(), strict=True
                ):
                    automate = confidence >= model.threshold
                    automated += automate
                    writer.writerow(
                        [text, label, f"{confidence:.6f}", "true" if automate else "false"]
                    )
        rate = automated / len(texts) if texts else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(texts)} rows classified with {model.model_version} "
                f"(threshold {model.threshold:.4f}, {rate:.1%} automated) -> {options['out']}"
            )
        )
