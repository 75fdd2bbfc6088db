"""Per-category auto-send thresholds learnt from what reviewers decided (``calibrate_thresholds``).

A threshold is kept only when the upper bound of the error above it is within the target; the
selection rule (a grid, corrected for trying every grid point) lives in ``triage.statistics``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from review.models import AuditSample, ReviewOutcome
from support.models import Category
from triage.configuration.services import configuration_thresholds_store
from triage.models import AutomationEvent, TriageConfiguration
from triage.statistics import CONFIDENCE_LEVEL, ThresholdSelection, error_lower_bound, samples_needed, threshold_select

# A reviewer who changed more than this share of the draft (normalised edit distance, 0..1)
# "substantially rewrote" it: the AI's reply would have been wrong to send as is. Light edits
# (a greeting, a name, a sentence) stay below it.
EDIT_DISTANCE_CUTOFF = 0.3


# Calibration: a sparse category may borrow its team's (then the global) threshold only when it
# has at least this many reviewed decisions of its own; with none, it stays on human review.
MIN_OWN_SAMPLES_FOR_POOLING = 10


CALIBRATION_WINDOW_DAYS = 90


@dataclass(frozen=True)
class ReviewedDecision:
    category: str
    confidence: float
    error: bool


ThresholdChoice = ThresholdSelection  # the evidence stored with a category's threshold


@dataclass(frozen=True)
class CategoryCalibration:
    category: str
    team: str
    own_total: int
    own_errors: int
    source: str         # "category", "team:<slug>", "global", or "none"
    choice: ThresholdChoice


def outcome_is_error(*, verdict: str, ai_category_slug: str, final_category_slug: str,
                     edit_distance: float | None) -> bool:
    """The AI was wrong when the reviewer changed its category, rejected its reply, or
    substantially rewrote the draft (edit distance above EDIT_DISTANCE_CUTOFF)."""
    if verdict in (ReviewOutcome.Decision.REJECTED, ReviewOutcome.Decision.OVERRIDDEN):
        return True
    if final_category_slug and ai_category_slug and final_category_slug != ai_category_slug:
        return True
    return edit_distance is not None and edit_distance > EDIT_DISTANCE_CUTOFF


def reviewed_decisions(*, since: datetime, configuration: TriageConfiguration | None = None) -> list[ReviewedDecision]:
    """Every AI decision with a confidence that a human judged: the latest decisive review
    outcome per decision (approved / rejected / overridden), plus graded audit samples.

    Only the decisions ``configuration`` made (None: those made from settings, with no
    configuration): thresholds are fitted on a configuration's own evidence, never another's."""
    decisive = (ReviewOutcome.Decision.APPROVED, ReviewOutcome.Decision.REJECTED, ReviewOutcome.Decision.OVERRIDDEN)
    latest: dict[int, ReviewedDecision] = {}
    rows = (
        ReviewOutcome.objects.filter(decided_at__gte=since, verdict__in=decisive, decision__isnull=False,
                                     decision__confidence__isnull=False, decision__configuration=configuration)
        .order_by("decided_at", "pk")
        .values_list("decision_id", "decision__confidence", "decision__category_slug", "verdict",
                     "ai_category_slug", "final_category_slug", "edit_distance")
    )
    for decision_id, confidence, decision_slug, verdict, ai_slug, final_slug, edit_distance in rows.iterator():
        if confidence is None:
            continue
        ai_slug = ai_slug or decision_slug
        latest[decision_id] = ReviewedDecision(
            category=ai_slug, confidence=float(confidence),
            error=outcome_is_error(verdict=verdict, ai_category_slug=ai_slug, final_category_slug=final_slug,
                                   edit_distance=edit_distance),
        )
    audits = (
        AuditSample.objects.filter(graded_at__gte=since, decision__isnull=False, decision__confidence__isnull=False,
                                   decision__configuration=configuration)
        .exclude(grade="")
        .values_list("decision_id", "decision__confidence", "category_slug", "grade")
    )
    found = list(latest.values())
    for decision_id, confidence, slug, grade in audits.iterator():
        if confidence is None or decision_id in latest:  # a human review already counted it
            continue
        found.append(ReviewedDecision(category=slug, confidence=float(confidence),
                                      error=grade == AuditSample.Grade.INCORRECT))
    return found


def threshold_choose(*, decisions: list[ReviewedDecision], target_error: float) -> ThresholdChoice:
    """The lowest grid threshold whose corrected 95% upper bound of the error among the reviewed
    decisions at or above it is within ``target_error`` (``triage.statistics.threshold_select``);
    its ``threshold`` is None when none qualifies."""
    return threshold_select(
        confidences=np.array([decision.confidence for decision in decisions], dtype=float),
        wrong=np.array([decision.error for decision in decisions], dtype=bool),
        target_error=target_error,
    )


def thresholds_calibrate(*, target_error: float, since: datetime | None = None,
                         min_own_samples: int = MIN_OWN_SAMPLES_FOR_POOLING,
                         configuration: TriageConfiguration | None = None) -> list[CategoryCalibration]:
    """Compute a threshold per category (no writes).

    A category with enough reviewed decisions of its own (at least ``samples_needed``) is judged
    on its own evidence only: if no threshold qualifies it stays on human review, it never
    borrows a kinder pool. A sparse one (at least ``min_own_samples`` but fewer than that) borrows
    its team's pooled threshold, else the global one, unless its own decisions above that
    threshold already show an error above the target with 95% confidence.
    """
    since = since or timezone.now() - timedelta(days=CALIBRATION_WINDOW_DAYS)
    decisions = reviewed_decisions(since=since, configuration=configuration)
    categories = list(Category.objects.select_related("default_team").order_by("slug"))
    team_of = {category.slug: category.default_team.slug for category in categories}
    by_category: dict[str, list[ReviewedDecision]] = defaultdict(list)
    by_team: dict[str, list[ReviewedDecision]] = defaultdict(list)
    for decision in decisions:
        by_category[decision.category].append(decision)
        if decision.category in team_of:
            by_team[team_of[decision.category]].append(decision)
    needed = samples_needed(target_error=target_error)
    global_choice = threshold_choose(decisions=decisions, target_error=target_error)
    team_choices = {team: threshold_choose(decisions=pool, target_error=target_error) for team, pool in by_team.items()}

    results = []
    for category in categories:
        own = by_category.get(category.slug, [])
        own_errors = sum(decision.error for decision in own)
        team_slug = team_of[category.slug]
        own_choice = threshold_choose(decisions=own, target_error=target_error)
        source, choice = "none", own_choice
        if own_choice.threshold is not None:
            source = "category"
        elif min_own_samples <= len(own) < needed:
            for pool_source, pooled in ((f"team:{team_slug}", team_choices.get(team_slug)), ("global", global_choice)):
                if pooled is None or pooled.threshold is None:
                    continue
                mine_above = [decision for decision in own if decision.confidence >= pooled.threshold]
                mine_errors = sum(decision.error for decision in mine_above)
                if error_lower_bound(errors=mine_errors, total=len(mine_above)) > target_error:
                    continue  # this category is demonstrably worse than its pool
                source, choice = pool_source, pooled
                break
        results.append(CategoryCalibration(category=category.slug, team=team_slug, own_total=len(own),
                                           own_errors=own_errors, source=source, choice=choice))
    return results


def thresholds_store(*, calibrations: list[CategoryCalibration], target_error: float) -> int:
    """Store each category's threshold and evidence; an AutomationEvent(threshold_set) records
    every change. Returns how many categories changed."""
    now = timezone.now().isoformat()
    changed = 0
    with transaction.atomic():
        categories = {category.slug: category for category in Category.objects.select_for_update()}
        for calibration in calibrations:
            category = categories.get(calibration.category)
            if category is None:
                continue
            evidence = {
                "computed_at": now,
                "target_error": target_error,
                "confidence_level": CONFIDENCE_LEVEL,
                "method": "clopper-pearson one-sided upper bound, Bonferroni over the 0.01 threshold grid",
                "edit_distance_cutoff": EDIT_DISTANCE_CUTOFF,
                "source": calibration.source,
                "own_reviewed": calibration.own_total,
                "own_errors": calibration.own_errors,
                **{f"pool_{key}": value for key, value in asdict(calibration.choice).items()},
            }
            threshold = calibration.choice.threshold
            previous = category.auto_threshold
            Category.objects.filter(pk=category.pk).update(auto_threshold=threshold, threshold_evidence=evidence)
            if previous != threshold:
                changed += 1
                AutomationEvent.objects.create(
                    category=category, verb=AutomationEvent.Verb.THRESHOLD_SET,
                    reason=(f"threshold {previous} -> {threshold} ({calibration.source}, "
                            f"target error {target_error:.2%})"),
                    evidence={"previous": previous, **evidence},
                )
    return changed


def thresholds_store_for(*, configuration: TriageConfiguration, calibrations: list[CategoryCalibration],
                         target_error: float) -> int:
    """Store the thresholds on ``configuration`` (its own evidence; ``Category.auto_threshold`` is
    settings mode's and stays untouched). Returns how many categories changed."""
    return configuration_thresholds_store(
        configuration=configuration,
        # A category reviewers judged without a qualifying threshold gets an explicit None (no
        # automation); one without reviews keeps the configuration's model-level calibration.
        thresholds={calibration.category: calibration.choice.threshold for calibration in calibrations
                    if calibration.choice.threshold is not None or calibration.own_total > 0},
        evidence={
            "target_error": target_error,
            "confidence_level": CONFIDENCE_LEVEL,
            "method": "clopper-pearson one-sided upper bound, Bonferroni over the 0.01 threshold grid",
            "edit_distance_cutoff": EDIT_DISTANCE_CUTOFF,
            "categories": {
                calibration.category: {"source": calibration.source, "own_reviewed": calibration.own_total,
                                       "own_errors": calibration.own_errors, **asdict(calibration.choice)}
                for calibration in calibrations if calibration.choice.threshold is not None
            },
        },
    )
