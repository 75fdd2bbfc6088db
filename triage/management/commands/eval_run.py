"""manage.py eval_run --config NAME --evalset NAME [--json]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from triage.configuration.gate import gate_set
from triage.configuration.models import TriageConfiguration
from triage.evaluation.running import eval_run_execute, run_summary


class Command(BaseCommand):
    help = ("Run a configuration's whole pipeline on every case of an evaluation set, sending nothing and "
            "changing no ticket; results are stored per case.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", required=True, help="configuration name")
        parser.add_argument("--evalset", required=True, help="evaluation set name")
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    def handle(self, *args: Any, **options: Any) -> None:
        configuration = TriageConfiguration.objects.select_related("prompt").filter(name=options["config"]).first()
        if configuration is None:
            raise CommandError(f"no configuration {options['config']!r}")
        evalset = gate_set(options["evalset"])  # a committed set is built on first use
        if evalset is None:
            raise CommandError(f"no evaluation set {options['evalset']!r} (eval_build it first)")
        run = eval_run_execute(
            configuration=configuration, evalset=evalset,
            progress=lambda cases, total: tqdm(cases, total=total, desc=f"{configuration.name} on {evalset.name}",
                                               unit="case", file=self.stderr),
        )
        summary = run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
            if not run.passed:  # on stderr: the JSON stays the last line of the output
                raise CommandError(f"run {run.pk} failed gates: {', '.join(run.failures)}")
            return
        for key in ("cases", "accuracy", "macro_f1", "ece", "automated_share", "automated_error",
                    "automated_error_upper", "high_stakes_automated", "injection_automated", "pii_leaks",
                    "cost_usd_per_ticket", "latency_ms_p50", "latency_ms_p95"):
            self.stdout.write(f"{key}: {summary[key]}")
        if not run.passed:
            raise CommandError(f"run {run.pk} failed gates: {', '.join(run.failures)}")
        self.stdout.write(self.style.SUCCESS(f"run {run.pk}: passed"))
