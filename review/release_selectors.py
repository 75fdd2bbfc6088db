"""Reads for the manager's release pages: configurations, their events and runs, a run beside
production's on the same set (overall and per category), prompt versions and their diffs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from review.models import ReviewOutcome
from triage.configuration.prompts import prompt_diff, prompt_versions_import
from triage.evaluation.running import latest_run
from triage.models import (
    ConfigurationEvent,
    EvalResult,
    EvalRun,
    PromptVersion,
    TriageConfiguration,
    TriageDecision,
)

OVERALL_METRICS = (
    "cases", "accuracy", "macro_f1", "ece", "automated_share", "automated_error", "automated_error_upper",
    "high_stakes_automated", "injection_automated", "pii_leaks", "cost_usd_per_ticket", "latency_ms_p50",
    "latency_ms_p95",
)


@dataclass(frozen=True)
class CategoryRow:
    category: str
    cases: int
    accuracy: float | None
    reference_accuracy: float | None
    automated: int
    reference_automated: int


@dataclass(frozen=True)
class ShadowAgreement:
    configuration: str
    decisions: int
    agree_with_production: float | None  # share of shadow decisions with production's category
    reviewed: int
    agree_with_reviewers: float | None  # share with the reviewer's final category


def shadow_agreement() -> list[ShadowAgreement]:
    """Per configuration that has shadow decisions: how often its category matched production's
    final decision on the same ticket, and the reviewer's final category where there is one."""
    rows = list(TriageDecision.objects.shadow().values_list("configuration__name", "ticket_id", "category_slug"))
    tickets = {ticket_id for _, ticket_id, _ in rows}
    production = dict(TriageDecision.objects.final().filter(ticket_id__in=tickets)
                      .values_list("ticket_id", "category_slug"))
    reviewed: dict[int, str] = {}
    for ticket_id, slug in (ReviewOutcome.objects.filter(ticket_id__in=tickets).exclude(final_category_slug="")
                            .order_by("decided_at", "id").values_list("ticket_id", "final_category_slug")):
        reviewed[ticket_id] = slug  # the latest review wins
    by_configuration: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, ticket_id, slug in rows:
        by_configuration[name].append((ticket_id, slug))
    result = []
    for name, decisions in sorted(by_configuration.items()):
        paired = [(slug, production[t]) for t, slug in decisions if t in production]
        judged = [(slug, reviewed[t]) for t, slug in decisions if t in reviewed]
        result.append(ShadowAgreement(
            configuration=name, decisions=len(decisions),
            agree_with_production=round(sum(a == b for a, b in paired) / len(paired), 3) if paired else None,
            reviewed=len(judged),
            agree_with_reviewers=round(sum(a == b for a, b in judged) / len(judged), 3) if judged else None,
        ))
    return result


def releases_overview() -> dict[str, Any]:
    return {
        "shadows": shadow_agreement(),
        "configurations": list(TriageConfiguration.objects.select_related("prompt").order_by("-created_at", "-id")),
        "events": list(ConfigurationEvent.objects.select_related("configuration", "previous", "actor")[:30]),
        "runs": list(EvalRun.objects.select_related("configuration", "evalset").filter(finished_at__isnull=False)[:50]),
        "production": TriageConfiguration.objects.production(),
    }


def run_get(run_id: int) -> EvalRun | None:
    return EvalRun.objects.select_related("configuration", "evalset").filter(pk=run_id).first()


def run_reference(run: EvalRun, *, against: int | None = None) -> EvalRun | None:
    """The run to show beside ``run``: the one asked for (same set), else production's latest."""
    if against is not None:
        return EvalRun.objects.select_related("configuration", "evalset").filter(
            pk=against, evalset=run.evalset).first()
    production = TriageConfiguration.objects.production()
    if production is None or production.pk == run.configuration_id:
        return None
    return latest_run(configuration=production, evalset=run.evalset)


def _by_category(run: EvalRun) -> dict[str, list[tuple[bool, bool]]]:
    rows: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for expected, correct, automated in EvalResult.objects.filter(run=run).values_list(
            "case__expected_category", "correct", "automated"):
        rows[expected or "(unlabelled)"].append((correct, automated))
    return rows


def run_comparison(run: EvalRun, reference: EvalRun | None) -> dict[str, Any]:
    overall = [(name, run.metrics.get(name), reference.metrics.get(name) if reference else None)
               for name in OVERALL_METRICS]
    mine = _by_category(run)
    theirs = _by_category(reference) if reference is not None else {}
    categories = []
    for category in sorted(set(mine) | set(theirs)):
        own, other = mine.get(category, []), theirs.get(category, [])
        categories.append(CategoryRow(
            category=category, cases=len(own) or len(other),
            accuracy=round(sum(c for c, _ in own) / len(own), 3) if own else None,
            reference_accuracy=round(sum(c for c, _ in other) / len(other), 3) if other else None,
            automated=sum(a for _, a in own), reference_automated=sum(a for _, a in other),
        ))
    return {"overall": overall, "categories": categories}


def prompt_versions() -> list[PromptVersion]:
    prompt_versions_import()  # the files are the first versions
    return list(PromptVersion.objects.order_by("name", "-created_at", "-id"))


def prompt_get(version: str) -> PromptVersion | None:
    """The prompt version named ``version``; None for anything that can't be one (empty, too
    long, or characters a version never has, such as the NUL a database text field refuses)."""
    if not version or len(version) > 120 or not version.isprintable():
        return None
    return PromptVersion.objects.filter(version=version).first()


def prompt_versions_diff(old: PromptVersion, new: PromptVersion) -> str:
    return prompt_diff(old=old, new=new)
