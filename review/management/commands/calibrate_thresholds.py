"""python manage.py calibrate_thresholds --target-error 0.02 [--days 90] [--min-own 10] [--config NAME] [--dry-run]

Thresholds are stored on the production configuration (or ``--config NAME``), fitted on the
decisions it made; with no configuration in production, on ``Category.auto_threshold`` as before."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from review.calibration import (
    CALIBRATION_WINDOW_DAYS,
    MIN_OWN_SAMPLES_FOR_POOLING,
    thresholds_calibrate,
    thresholds_store,
    thresholds_store_for,
)
from triage.models import TriageConfiguration
from triage.statistics import samples_needed


class Command(BaseCommand):
    help = (
        "Learn each category's auto-send confidence threshold from reviewed AI decisions: the lowest "
        "threshold whose 95% upper bound on the error stays within the target. Categories without "
        "enough evidence get no threshold (human review)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--target-error", type=float, default=None,
                            help="Maximum error rate of automation (default: settings.TARGET_ERROR).")
        parser.add_argument("--days", type=int, default=CALIBRATION_WINDOW_DAYS,
                            help=f"Use reviews from the last N days (default {CALIBRATION_WINDOW_DAYS}).")
        parser.add_argument("--min-own", type=int, default=MIN_OWN_SAMPLES_FOR_POOLING,
                            help="Reviewed decisions a sparse category needs before it may borrow its team's or "
                                 f"the global threshold (default {MIN_OWN_SAMPLES_FOR_POOLING}).")
        parser.add_argument("--config", help="Configuration to calibrate (default: the production one, if any).")
        parser.add_argument("--dry-run", action="store_true", help="Print the table, store nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["target_error"] if options["target_error"] is not None else settings.TARGET_ERROR
        if not 0 < target < 1:
            raise CommandError("--target-error must be between 0 and 1")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        if options["config"]:
            configuration = TriageConfiguration.objects.filter(name=options["config"]).first()
            if configuration is None:
                raise CommandError(f"no configuration {options['config']!r}")
        else:
            configuration = TriageConfiguration.objects.production()
        self.stdout.write(f"calibrating {'configuration ' + configuration.name if configuration else 'settings mode'}")
        calibrations = thresholds_calibrate(
            target_error=target, since=timezone.now() - timedelta(days=options["days"]),
            min_own_samples=options["min_own"], configuration=configuration,
        )
        header = f"{'category':<42} {'team':<10} {'reviewed':>8} {'errors':>6} {'threshold':>9} {'n>=t':>6} {'err>=t':>6} {'upper95':>8}  source"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for row in calibrations:
            choice = row.choice
            threshold = f"{choice.threshold:.4f}" if choice.threshold is not None else "-"
            upper = f"{choice.upper_bound:.4f}" if choice.threshold is not None else "-"
            self.stdout.write(
                f"{row.category:<42} {row.team:<10} {row.own_total:>8} {row.own_errors:>6} {threshold:>9} "
                f"{choice.above if choice.threshold is not None else 0:>6} "
                f"{choice.errors_above if choice.threshold is not None else 0:>6} {upper:>8}  {row.source}"
            )
        calibrated = sum(1 for row in calibrations if row.choice.threshold is not None)
        self.stdout.write(
            f"{calibrated}/{len(calibrations)} categories calibrated at target error {target:.2%} "
            f"(an error-free pool needs >= {samples_needed(target_error=target)} reviewed decisions)."
        )
        if options["dry_run"]:
            self.stdout.write("dry run: nothing stored")
            return
        if configuration is not None:
            changed = thresholds_store_for(configuration=configuration, calibrations=calibrations, target_error=target)
        else:
            changed = thresholds_store(calibrations=calibrations, target_error=target)
        self.stdout.write(self.style.SUCCESS(f"stored; {changed} thresholds changed"))
