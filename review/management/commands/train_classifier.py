"""manage.py train_classifier (--csv PATH | --from-reviews) --name NAME [--target-error 0.02]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.learning import review_training_rows
from triage import classifier
from triage.models import TriageConfiguration


class Command(BaseCommand):
    help = (
        "Train the local classifier from a CSV or from reviewed tickets, pick its automation "
        "threshold on a held-out split, store it under CLASSIFIER_DIR and activate it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path, help="CSV with a text and a label column.")
        source.add_argument(
            "--from-reviews",
            action="store_true",
            help="Reviewed tickets; labels = reviewers' final categories.",
        )
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="category")
        parser.add_argument("--name", required=True, help="Model name, e.g. banking77.")
        parser.add_argument(
            "--target-error",
            type=float,
            default=0.02,
            help="Upper 95%% bound on the error among automated tickets (default 0.02).",
        )
        parser.add_argument(
            "--cv-folds",
            type=int,
            default=5,
            help="Held-out evaluation by k-fold cross-validation (default 5).",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when a model of this name is already stored and active.",
        )
        parser.add_argument("--no-activate", action="store_true", help="Store without activating.")
        parser.add_argument(
            "--no-embeddings",
            action="store_true",
            help="Train the tf-idf model alone (faster; used anyway when the sentence encoder is not installed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        target_error: float = options["target_error"]
        # Once a configuration is in production, the model it runs changes only by promotion
        # (triage_config create --local-model, promote): a new version is stored, never activated.
        production = TriageConfiguration.objects.production()
        activate = not options["no_activate"] and production is None
        if not 0 < target_error < 1:
            raise CommandError("--target-error must be between 0 and 1")
        if not 2 <= options["cv_folds"] <= 20:
            raise CommandError("--cv-folds must be between 2 and 20")
        try:
            if options["if_missing"] and classifier.active_version(name=name):
                if classifier.active_model_name() is None and production is None:
                    classifier.classifier_activate(
                        name=name, version=classifier.active_version(name=name)
                    )
                self.stdout.write(
                    f"Model {name!r} is already active "
                    f"({classifier.active_version(name=name)}); nothing to do."
                )
                return
            if options["csv"] is not None:
                texts, labels = classifier.read_csv_rows(
                    path=options["csv"],
                    text_column=options["text_column"],
                    label_column=options["label_column"],
                )
                source = f"csv:{options['csv'].name}"
            else:
                texts, labels = review_training_rows()
                source = "reviews"
            if not texts:
                raise CommandError("No training rows found.")
            self.stdout.write(
                f"Training {name!r} on {len(texts)} rows, {len(set(labels))} labels..."
            )
            report = classifier.classifier_train(
                texts=texts,
                labels=labels,
                name=name,
                target_error=target_error,
                cv_folds=options["cv_folds"],
                seed=options["seed"],
                activate=activate,
                source=source,
                embeddings=False if options["no_embeddings"] else None,
            )
        except classifier.ClassifierError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"recipe: {report.metadata['recipe']}")
        dropped = report.metadata.get("dropped_labels") or []
        if dropped:
            self.stdout.write(f"Dropped labels with fewer than 5 examples: {', '.join(dropped)}")
        self.stdout.write(
            f"held-out accuracy: {report.heldout_accuracy:.4f} "
            f"({report.metadata['evaluation']}, {report.heldout_rows} rows)"
        )
        self.stdout.write(
            f"threshold: {report.threshold:.4f} (target error {target_error:g}, "
            f"upper bound {report.heldout_error_upper_bound:.4f})"
        )
        self.stdout.write(
            f"expected automation rate: {report.expected_automation_rate:.4f} "
            f"(held-out error among automated {report.heldout_automated_error:.4f})"
        )
        state = "stored and activated" if activate else "stored"
        if production is not None and not options["no_activate"]:
            state += (f" (not activated: configuration {production.name!r} is in production; "
                      f"use triage_config create NAME --from production --local-model {name})")
        self.stdout.write(
            self.style.SUCCESS(f"{report.version} {state} in {report.path} ({report.seconds:.1f}s)")
        )
