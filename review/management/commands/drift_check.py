"""python manage.py drift_check [--json]"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from review.monitoring.services import drift_checks_run


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


class Command(BaseCommand):
    help = (
        "Run the drift checks now (what the hourly beat job does): store each result, raise a drift "
        "alert per breached check and day, and print each check's statistic, threshold and verdict."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Also print the run as one JSON object, last.")

    def handle(self, *args: Any, **options: Any) -> None:
        run = drift_checks_run()
        first = run.results[0]
        self.stdout.write(
            f"reference {first.reference_start:%Y-%m-%d %H:%M} – {first.reference_end:%Y-%m-%d %H:%M}, "
            f"recent {first.recent_start:%Y-%m-%d %H:%M} – {first.recent_end:%Y-%m-%d %H:%M} (UTC)"
        )
        for result in run.results:
            verdict = "BREACHED" if result.breached else ("ok" if result.statistic is not None else "too few samples")
            self.stdout.write(
                f"{result.check_name:<26} {result.test:<30} statistic {_number(result.statistic):>9}  "
                f"threshold {_number(result.threshold):>7}  p {_number(result.p_value):>9}  "
                f"n {result.reference_count}/{result.recent_count}  {verdict}"
            )
        self.stdout.write(f"{len(run.breached)} breached, {len(run.alerts_raised)} new alert(s)")
        if options["json"]:
            self.stdout.write(json.dumps({
                "run_at": run.run_at.isoformat(),
                "breached": len(run.breached),
                "alerts_raised": [alert.pk for alert in run.alerts_raised],
                "checks": [
                    {
                        "check": result.check_name,
                        "test": result.test,
                        "statistic": result.statistic,
                        "threshold": result.threshold,
                        "p_value": result.p_value,
                        "verdict": "breached" if result.breached else ("ok" if result.statistic is not None
                                                                       else "insufficient"),
                        "reference_count": result.reference_count,
                        "recent_count": result.recent_count,
                        "evidence": result.evidence,
                    }
                    for result in run.results
                ],
            }, sort_keys=True))
