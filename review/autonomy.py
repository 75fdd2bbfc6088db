"""Human on the loop for automation: audit sampling of auto-sent replies, their grades, the
autonomy brake and a manager's resume.

The brake engages only when the LOWER 95% bound of a category's audited error is above the
target (``triage.statistics``), i.e. when the error is too high with statistical confidence, not
on one bad day."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from review.models import AuditSample, ReviewOutcome
from support.models import Alert, Category, OutboundMessage, Ticket
from support.services import ticket_event_record
from triage.models import AutomationEvent, TriageDecision
from triage.statistics import error_lower_bound, error_upper_bound

logger = logging.getLogger(__name__)

# Brake window: the most recent graded audit samples of a category, at most this many and at
# most this old, and never older than the last manager resume.
BRAKE_WINDOW_SAMPLES = 200
BRAKE_WINDOW_DAYS = 30
# The brake re-tests after every grade; requiring a minimum of graded samples keeps one unlucky
# first grade from pausing a category (1 bad of 1 already has a lower bound of 5% > 2%).
BRAKE_MIN_SAMPLES = 10


def _audit_draw(key: str) -> float:
    """A uniform number in [0, 1) derived from the outbound row's idempotency key: the same
    reply always gets the same draw, so a retried transaction cannot sample it twice or skip it."""
    digest = hashlib.sha256(f"audit:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def automation_record_sent(
    *, ticket: Ticket, outbound: OutboundMessage, decision: TriageDecision, **_signal: object
) -> AuditSample | None:
    """Receiver of ``triage.signals.reply_auto_sent``, so it runs inside the auto-send
    transaction. Copies AUDIT_SAMPLE_RATE of automatically sent replies into the audit queue;
    returns the AuditSample or None when not sampled."""
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


class AlreadyGraded(Exception):
    """A sample is graded once; the first grade is the evidence the brake acted on."""


def audit_grade_record(*, sample: AuditSample, grade: str, reason_code: str, grader: User) -> None:
    """Record a reviewer's after-the-fact grade of an auto-sent reply, then re-evaluate the brake
    of its category. A sample already graded is refused (``AlreadyGraded``): the brake may have
    acted on that grade, so it is not silently replaced."""
    if grade not in AuditSample.Grade.values:
        raise ValueError(f"unknown grade {grade!r}")
    if reason_code and reason_code not in ReviewOutcome.Reason.values:
        raise ValueError(f"unknown reason code {reason_code!r}")
    now = timezone.now()
    with transaction.atomic():
        # Conditional update: two graders submitting at once record one grade.
        graded = AuditSample.objects.filter(pk=sample.pk, grade="").update(
            grade=grade, reason_code=reason_code, graded_by=grader, graded_at=now,
        )
        if graded != 1:
            raise AlreadyGraded(f"audit sample {sample.pk} is already graded")
        sample.grade, sample.reason_code, sample.graded_by, sample.graded_at = grade, reason_code, grader, now
        ticket_event_record(ticket=sample.ticket, verb="audit_graded", actor=grader,
                            after={"grade": grade, "reason_code": reason_code, "audit_sample": sample.pk})
    category = Category.objects.filter(slug=sample.category_slug).first()
    if category is not None:
        brake_evaluate(category=category)


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
