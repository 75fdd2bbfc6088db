"""Shadow runs: a candidate configuration triages a sampled share of live tickets as well.

Its decisions are stored (``is_shadow``, never final), so the dashboard can compare them with
production's and with reviewers'; nothing is sent, the ticket is not changed, and the ticket's
decision stays production's. Sampling is a hash of the ticket and the configuration, so a
redelivered task samples the same tickets and a shadow decision is written at most once.
"""

from __future__ import annotations

import hashlib
import logging

from django.utils import timezone

from support.models import Category
from triage.configuration.models import TriageConfiguration
from triage.configuration.runtime import triage_setup
from triage.models import TriageDecision
from triage.pipeline.checks import output_check
from triage.pipeline.context import context_build
from triage.pipeline.decide import chain_ask, decision_fields, verdict_for
from triage.pipeline.decision_log import attempt_record, final_decision_record
from triage.providers.chain import Attempt

logger = logging.getLogger(__name__)


def shadow_sampled(*, ticket_id: int, configuration: TriageConfiguration) -> bool:
    digest = hashlib.sha256(f"{configuration.name}:{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < configuration.shadow_sample


def shadows_run(*, ticket_id: int) -> int:
    """Run every shadow configuration that samples this ticket; returns how many decided.
    A shadow's failure is logged and never reaches the ticket."""
    decided = 0
    for configuration in TriageConfiguration.objects.shadows():
        if not shadow_sampled(ticket_id=ticket_id, configuration=configuration):
            continue
        if TriageDecision.objects.shadow().filter(ticket_id=ticket_id, configuration=configuration).exists():
            continue  # a redelivered task: this shadow already decided
        try:
            if shadow_decide(ticket_id=ticket_id, configuration=configuration) is not None:
                decided += 1
        except Exception:
            logger.exception("shadow %s failed on ticket %s", configuration.name, ticket_id)
    return decided


def shadow_decide(*, ticket_id: int, configuration: TriageConfiguration) -> TriageDecision | None:
    """The candidate's whole decision on a live ticket, stored as a shadow row; nothing else."""
    setup = triage_setup(configuration, shadow=True)
    prepared = context_build(ticket_id=ticket_id, started=timezone.now(), setup=setup)
    context = prepared.context

    def record(attempt: Attempt) -> None:
        attempt_record(context, attempt)

    result = chain_ask(prepared, on_attempt=record)
    winner = result.winner
    if winner is None or winner.output is None:
        return None
    output = winner.output
    checked = output_check(context, output)
    category = Category.objects.select_related("default_team").get(slug=output.category)
    verdict = verdict_for(context, winner=winner, output=output, checked=checked, category=category,
                          team=category.default_team, healthy=True)
    return final_decision_record(
        context,
        winner,
        output=output,
        fields={"is_final": False, **decision_fields(checked, verdict, result)},  # never the ticket's decision
    )
