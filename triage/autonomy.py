"""Human on the loop: audit sampling of automatically sent replies, audit grades, the autonomy
brake, manager resume, and threshold calibration from reviewed history.

Statistics: exact (Clopper-Pearson) one-sided 95% bounds on a binomial error rate, from
``scipy.stats.beta``. Calibration keeps a threshold only when the UPPER bound of the error above
it is within the target; the brake engages only when the LOWER bound of the audited error is
above the target, i.e. when the error is too high with statistical confidence, not on one bad day.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from support.models import Category, OutboundMessage, Ticket
from support.services import ticket_event_record
from triage.models import Alert, AutomationEvent, TriageDecision

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

CONFIDENCE_LEVEL = 0.95
# A reviewer who changed more than this share of the draft (normalised edit distance, 0..1)
# "substantially rewrote" it: the AI's reply would have been wrong to send as is. Light edits
# (a greeting, a name, a sentence) stay below it.
EDIT_DISTANCE_CUTOFF = 0.3
# Brake window: the most recent graded audit samples of a category, at most this many and at
# most this old, and never older than the last manager resume.
BRAKE_WINDOW_SAMPLES = 200
BRAKE_WINDOW_DAYS = 30
# The brake re-tests after every grade; requiring a minimum of graded samples keeps one unlucky
# first grade from pausing a category (1 bad of 1 already has a lower bound of 5% > 2%).
BRAKE_MIN_SAMPLES = 10
# Calibration: a sparse category may borrow its team's (then the global) threshold only when it
# has at least this many reviewed decisions of its own; with none, it stays on human review.
MIN_OWN_SAMPLES_FOR_POOLING = 10
CALIBRATION_WINDOW_DAYS = 90


# --- Statistics -------------------------------------------------------------------------------


def error_upper_bounds(*, errors: np.ndarray, totals: np.ndarray, confidence: float = CONFIDENCE_LEVEL) -> np.ndarray:
    """One-sided Clopper-Pearson upper bounds, vectorised; 1.0 without data or when all wrong."""
    from scipy.stats import beta  # imported here: scipy.stats costs seconds at worker start

    errors = np.asarray(errors, dtype=float)
    totals = np.asarray(totals, dtype=float)
    valid = (totals > 0) & (errors < totals)
    bounds = np.ones_like(totals, dtype=float)
    if valid.any():
        bounds[valid] = beta.ppf(confidence, errors[valid] + 1, totals[valid] - errors[valid])
    return bounds


def error_upper_bound(*, errors: int, total: int, confidence: float = CONFIDENCE_LEVEL) -> float:
    """One-sided Clopper-Pearson upper bound on the error rate; 1.0 without data."""
    return float(error_upper_bounds(errors=np.array([errors]), totals=np.array([total]), confidence=confidence)[0])


def error_lower_bound(*, errors: int, total: int, confidence: float = CONFIDENCE_LEVEL) -> float:
    """One-sided Clopper-Pearson lower bound on the error rate; 0.0 without errors."""
    from scipy.stats import beta

    if total <= 0 or errors <= 0:
        return 0.0
    return float(beta.ppf(1 - confidence, errors, total - errors + 1))


def samples_needed(*, target_error: float, confidence: float = CONFIDENCE_LEVEL) -> int:
    """The fewest error-free decisions whose upper bound is within the target: fewer than this
    and no threshold can be proven safe on that evidence alone (149 for 2%). With no errors the
    Clopper-Pearson upper bound is 1 - (1 - confidence)^(1/n), hence the closed form."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - target_error) - 1e-9)


# --- Audit sampling and grading ---------------------------------------------------------------


def _audit_draw(key: str) -> float:
    """A uniform number in [0, 1) derived from the outbound row's idempotency key: the same
    reply always gets the same draw, so a retried transaction cannot sample it twice or skip it."""
    digest = hashlib.sha256(f"audit:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def automation_record_sent(*, ticket: Ticket, outbound: OutboundMessage, decision: TriageDecision) -> Any:
    """Call inside the auto-send transaction. Copies AUDIT_SAMPLE_RATE of automatically sent
    replies into the audit queue; returns the AuditSample or None when not sampled."""
    from review.models import AuditSample

    if _audit_draw(outbound.idempotency_key) >= settings.AUDIT_SAMPLE_RATE:
        return None
    sample, created = AuditSample.objects.get_or_create(
        outbound=outbound,
        defaults={"ticket": ticket, "decision": decision, "category_slug": decision.category_slug},
    )
    if created:
        ticket_event_record(ticket=ticket, verb="audit_sampled", actor_label="system",
                            after={"audit_sample": sample.pk, "category": decision.category_slug})
    return sample


def audit_grade_record(*, sample: Any, grade: str, reason_code: str, grader: User) -> None:
    """Record a reviewer's after-the-fact grade of an auto-sent reply, then re-evaluate the brake
    of its category. Re-grading a sample replaces the grade (a correction)."""
    from review.models import AuditSample, ReviewOutcome

    if grade not in AuditSample.Grade.values:
        raise ValueError(f"unknown grade {grade!r}")
    if reason_code and reason_code not in ReviewOutcome.Reason.values:
        raise ValueError(f"unknown reason code {reason_code!r}")
    now = timezone.now()
    with transaction.atomic():
        AuditSample.objects.filter(pk=sample.pk).update(
            grade=grade, reason_code=reason_code, graded_by=grader, graded_at=now,
        )
        sample.grade, sample.reason_code, sample.graded_by, sample.graded_at = grade, reason_code, grader, now
        ticket_event_record(ticket=sample.ticket, verb="audit_graded", actor=grader,
                            after={"grade": grade, "reason_code": reason_code, "audit_sample": sample.pk})
    category = Category.objects.filter(slug=sample.category_slug).first()
    if category is not None:
        brake_evaluate(category=category)


# --- The autonomy brake -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditedError:
    category: str
    graded: int
    incorrect: int
    lower_bound: float
    upper_bound: float
    window_start: str
    target_error: float

    @property
    def rate(self) -> float:
        return self.incorrect / self.graded if self.graded else 0.0


def audited_error(*, category: Category, now: datetime | None = None) -> AuditedError:
    """Realised error of automation for a category over its recent window (see constants)."""
    from review.models import AuditSample

    now = now or timezone.now()
    window_start = now - timedelta(days=BRAKE_WINDOW_DAYS)
    last_resume = (
        AutomationEvent.objects.filter(category=category, verb=AutomationEvent.Verb.RESUMED)
        .order_by("-created_at").values_list("created_at", flat=True).first()
    )
    if last_resume is not None and last_resume > window_start:
        window_start = last_resume
    grades = list(
        AuditSample.objects.filter(category_slug=category.slug, graded_at__gte=window_start)
        .exclude(grade="")
        .order_by("-graded_at", "-pk")
        .values_list("grade", flat=True)[:BRAKE_WINDOW_SAMPLES]
    )
    incorrect = sum(1 for grade in grades if grade == AuditSample.Grade.INCORRECT)
    return AuditedError(
        category=category.slug,
        graded=len(grades),
        incorrect=incorrect,
        lower_bound=error_lower_bound(errors=incorrect, total=len(grades)),
        upper_bound=error_upper_bound(errors=incorrect, total=len(grades)),
        window_start=window_start.isoformat(),
        target_error=settings.TARGET_ERROR,
    )


def brake_evaluate(*, category: Category) -> bool:
    """Brake the category when its audited error exceeds TARGET_ERROR with 95% confidence
    (lower bound above the target, over at least BRAKE_MIN_SAMPLES grades in the window).
    True when this call braked it."""
    if category.braked:
        return False
    measured = audited_error(category=category)
    if measured.graded < BRAKE_MIN_SAMPLES or measured.lower_bound <= measured.target_error:
        return False
    now = timezone.now()
    reason = (
        f"Audited error {measured.incorrect}/{measured.graded} ({measured.rate:.1%}); its 95% lower bound "
        f"{measured.lower_bound:.1%} exceeds the target {measured.target_error:.1%}."
    )
    evidence = asdict(measured)
    with transaction.atomic():
        # Conditional update: two graders finishing at once brake the category once.
        braked = Category.objects.filter(pk=category.pk, braked=False).update(
            braked=True, braked_reason=reason, braked_at=now
        )
        if braked != 1:
            return False
        event = AutomationEvent.objects.create(
            category=category, verb=AutomationEvent.Verb.BRAKED, reason=reason, evidence=evidence
        )
        Alert.objects.create(
            kind=Alert.Kind.AUTOMATION_BRAKED,
            message=f"Automation braked for {category.slug}: {reason}",
            details={"category": category.slug, "automation_event": event.pk, **evidence},
            dedupe_key=f"automation_braked:{category.slug}:{event.pk}",
        )
    category.braked, category.braked_reason, category.braked_at = True, reason, now
    logger.warning("automation braked for %s: %s", category.slug, reason)
    return True


def automation_resume(*, category: Category, actor: User, reason: str) -> None:
    """A manager releases the brake. Grades from before the resume no longer count towards the
    next brake decision (the window restarts), so the brake does not re-engage on old evidence."""
    if not actor.has_perm("support.manage_automation"):
        raise PermissionDenied("resuming automation needs the manage_automation permission")
    if not reason.strip():
        raise ValueError("a reason is required to resume automation")
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        previous = {"braked": locked.braked, "braked_reason": locked.braked_reason,
                    "braked_at": locked.braked_at.isoformat() if locked.braked_at else None}
        Category.objects.filter(pk=category.pk).update(braked=False, braked_reason="", braked_at=None)
        AutomationEvent.objects.create(
            category=category, verb=AutomationEvent.Verb.RESUMED, actor=actor, reason=reason.strip(),
            evidence={"previous": previous},
        )
    category.braked, category.braked_reason, category.braked_at = False, "", None


# --- Threshold calibration --------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewedDecision:
    category: str
    confidence: float
    error: bool


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float | None
    total: int          # reviewed decisions in the pool
    errors: int
    above: int          # decisions with confidence >= threshold
    errors_above: int
    upper_bound: float  # of the error above the threshold


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
    from review.models import ReviewOutcome

    if verdict in (ReviewOutcome.Decision.REJECTED, ReviewOutcome.Decision.OVERRIDDEN):
        return True
    if final_category_slug and ai_category_slug and final_category_slug != ai_category_slug:
        return True
    return edit_distance is not None and edit_distance > EDIT_DISTANCE_CUTOFF


def reviewed_decisions(*, since: datetime) -> list[ReviewedDecision]:
    """Every AI decision with a confidence that a human judged: the latest decisive review
    outcome per decision (approved / rejected / overridden), plus graded audit samples."""
    from review.models import AuditSample, ReviewOutcome

    decisive = (ReviewOutcome.Decision.APPROVED, ReviewOutcome.Decision.REJECTED, ReviewOutcome.Decision.OVERRIDDEN)
    latest: dict[int, ReviewedDecision] = {}
    rows = (
        ReviewOutcome.objects.filter(decided_at__gte=since, verdict__in=decisive, decision__isnull=False,
                                     decision__confidence__isnull=False)
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
        AuditSample.objects.filter(graded_at__gte=since, decision__isnull=False, decision__confidence__isnull=False)
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
    """The lowest confidence threshold t such that the one-sided 95% Clopper-Pearson upper bound
    of the error among decisions with confidence >= t is within ``target_error``.

    Candidate thresholds are the observed confidences. None when no threshold qualifies.
    """
    total = len(decisions)
    errors_total = sum(decision.error for decision in decisions)
    none = ThresholdChoice(threshold=None, total=total, errors=errors_total, above=0, errors_above=0, upper_bound=1.0)
    if not decisions:
        return none
    confidences = np.array([decision.confidence for decision in decisions], dtype=float)
    wrong = np.array([decision.error for decision in decisions], dtype=float)
    order = np.argsort(-confidences, kind="stable")
    confidences, wrong = confidences[order], wrong[order]
    # For each distinct confidence t (descending), the counts of the set "confidence >= t":
    # the last index of each run of ties.
    above = np.arange(1, len(confidences) + 1)
    errors_above = np.cumsum(wrong)
    last_of_tie = np.append(confidences[1:] != confidences[:-1], True)
    thresholds, above, errors_above = confidences[last_of_tie], above[last_of_tie], errors_above[last_of_tie]
    bounds = error_upper_bounds(errors=errors_above, totals=above)
    passing = np.flatnonzero(bounds <= target_error)
    if passing.size == 0:
        return none
    lowest = passing[-1]  # thresholds descend: the last passing one is the lowest
    return ThresholdChoice(threshold=float(thresholds[lowest]), total=total, errors=int(errors_total),
                           above=int(above[lowest]), errors_above=int(errors_above[lowest]),
                           upper_bound=float(bounds[lowest]))


def thresholds_calibrate(*, target_error: float, since: datetime | None = None,
                         min_own_samples: int = MIN_OWN_SAMPLES_FOR_POOLING) -> list[CategoryCalibration]:
    """Compute a threshold per category (no writes).

    A category with enough reviewed decisions of its own (at least ``samples_needed``) is judged
    on its own evidence only: if no threshold qualifies it stays on human review, it never
    borrows a kinder pool. A sparse one (at least ``min_own_samples`` but fewer than that) borrows
    its team's pooled threshold, else the global one, unless its own decisions above that
    threshold already show an error above the target with 95% confidence.
    """
    since = since or timezone.now() - timedelta(days=CALIBRATION_WINDOW_DAYS)
    decisions = reviewed_decisions(since=since)
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
                "method": "clopper-pearson one-sided upper bound",
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
