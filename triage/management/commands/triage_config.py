"""manage.py triage_config list | create | promote | rollback | shadow | init (docs/releases.md)"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from triage.configuration import services
from triage.configuration.gate import gate_evaluate
from triage.configuration.models import TriageConfiguration
from triage.evaluation.models import EvalCase


def _progress(cases: Iterable[EvalCase], total: int) -> Iterable[EvalCase]:
    return tqdm(cases, total=total, desc="evaluating", unit="case")


class Command(BaseCommand):
    help = "Triage configurations: list, create a draft, promote through the gate, roll back, shadow."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every configuration and its state")
        create = sub.add_parser("create", help="a draft from production (or settings, or a configuration)")
        create.add_argument("name")
        create.add_argument("--from", dest="source", default="production",
                            help="production (default), settings, or a configuration's name")
        create.add_argument("--local-model", help="NAME (its newest stored version) or NAME@VERSION")
        create.add_argument("--prompt", help="a prompt version (triage-3f2a9c1e) or a prompt file name")
        create.add_argument("--chain", help="comma-separated providers, e.g. openai,local")
        create.add_argument("--model", help="LLM model name")
        create.add_argument("--target-error", type=float)
        promote = sub.add_parser("promote", help="make NAME production if it passes the gate")
        promote.add_argument("name")
        promote.add_argument("--reason", required=True)
        rollback = sub.add_parser("rollback", help="restore the previous production configuration")
        rollback.add_argument("--reason", required=True)
        shadow = sub.add_parser("shadow", help="run NAME on a share of live tickets, never sent")
        shadow.add_argument("name")
        shadow.add_argument("--sample", type=float, required=True)
        init = sub.add_parser("init", help="make a first production configuration from settings if none")
        init.add_argument("name", nargs="?", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        actor_label = f"cli:{getpass.getuser()}"
        action = options["action"]
        try:
            if action == "list":
                self._list()
            elif action == "create":
                chain = [item.strip() for item in options["chain"].split(",") if item.strip()] \
                    if options["chain"] else None
                configuration = services.configuration_create(
                    name=options["name"], source=options["source"], local_model=options["local_model"],
                    prompt=options["prompt"], chain=chain, model=options["model"],
                    target_error=options["target_error"], actor_label=actor_label,
                )
                self.stdout.write(self.style.SUCCESS(f"created draft {configuration.name}: {configuration.summary()}"))
            elif action == "promote":
                configuration = services.configuration_promote(
                    name=options["name"], reason=options["reason"], actor_label=actor_label,
                    gate=lambda candidate, production: gate_evaluate(candidate, production, progress=_progress),
                )
                self.stdout.write(self.style.SUCCESS(f"promoted {configuration.name} to production"))
            elif action == "rollback":
                configuration = services.configuration_rollback(reason=options["reason"], actor_label=actor_label)
                self.stdout.write(self.style.SUCCESS(f"rolled back: {configuration.name} is production again"))
            elif action == "shadow":
                configuration = services.configuration_shadow(
                    name=options["name"], sample=options["sample"], actor_label=actor_label)
                self.stdout.write(self.style.SUCCESS(
                    f"{configuration.name} shadows {configuration.shadow_sample:.0%} of live tickets"))
            elif action == "init":
                configuration, created = services.configuration_bootstrap(name=options["name"],
                                                                          actor_label=actor_label)
                state = "created in production" if created else "already in production"
                self.stdout.write(f"{configuration.name} {state}")
        except services.PromotionRefused as exc:
            for failure in exc.gate.failures:
                self.stderr.write(f"failed gate: {failure}")
            raise CommandError(f"{exc} (production unchanged)") from exc
        except services.ConfigurationError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self) -> None:
        rows = TriageConfiguration.objects.select_related("prompt").order_by("created_at", "id")
        self.stdout.write(f"{'name':<24} {'state':<11} {'prompt':<20} {'chain':<14} {'local model':<40} target  calibrated")
        for configuration in rows:
            summary = configuration.summary()
            self.stdout.write(
                f"{summary['name']:<24} {summary['state']:<11} {summary['prompt']:<20} "
                f"{','.join(summary['chain']):<14} {summary['local_model']:<40} {summary['target_error']:<7g} "
                f"{'yes' if summary['calibrated'] else 'no'}"
            )
