"""After-the-fact review of automation: grading auto-sent replies and resuming braked categories.
The rules (one grade per sample, the brake, the resume) live in ``review.autonomy``."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from review.autonomy import AlreadyGraded, audit_grade_record, automation_resume
from review.models import AuditSample, ReviewOutcome
from review.services.errors import ReviewError
from support.models import Category


def review_audit_grade(*, sample_id: int, grade: str, reason_code: str, grader: User) -> AuditSample:
    """Grade an automatically sent reply; ``audit_grade_record`` stores it and may brake the category."""
    if grade not in AuditSample.Grade.values:
        raise ReviewError("Grade must be correct or incorrect.")
    if grade == AuditSample.Grade.INCORRECT and reason_code not in ReviewOutcome.Reason.values:
        raise ReviewError("Say what was wrong with the reply.")
    if grade == AuditSample.Grade.CORRECT:
        reason_code = ""
    with transaction.atomic():
        sample = AuditSample.objects.select_for_update().get(pk=sample_id)
        try:
            audit_grade_record(sample=sample, grade=grade, reason_code=reason_code, grader=grader)
        except AlreadyGraded as exc:
            raise ReviewError("This reply has already been graded.") from exc
    sample.refresh_from_db()
    return sample


def review_automation_resume(*, category_id: int, actor: User, reason: str) -> Category:
    reason = reason.strip()
    if not reason:
        raise ReviewError("Say why automation may resume.")
    category = Category.objects.get(pk=category_id)
    automation_resume(category=category, actor=actor, reason=reason)
    category.refresh_from_db()
    return category
