"""Audits, the automation brakes and the manager dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from review import selectors, services
from review.analytics import dashboard as dashboards
from review.analytics.drift import drift_history
from review.analytics.windows import WINDOW_DAYS, window_days_parse
from review.forms import AuditGradeForm, ResumeForm
from review.services import ReviewError
from review.views.common import agent_of, is_htmx, not_found, review_required
from support.models import Category


@require_GET
@review_required
def audit(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "review/audit.html",
        {
            "samples": selectors.audit_queue(agent=agent_of(request)),
            "recent": selectors.audit_recent(agent=agent_of(request)),
            "form": AuditGradeForm(),
        },
    )


@require_POST
@review_required
def audit_grade(request: HttpRequest, sample_id: int) -> HttpResponse:
    if not selectors.audit_sample_visible(agent=agent_of(request), sample_id=sample_id):
        return not_found(
            request,
            title="No such audit sample",
            detail="It does not exist, or its ticket belongs to a team you don't work for.",
            back=(reverse("review:audit"), "Back to the audit queue"),
        )
    form = AuditGradeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a grade.")
        return redirect("review:audit")
    try:
        services.review_audit_grade(
            sample_id=sample_id,
            grade=form.cleaned_data["grade"],
            reason_code=form.cleaned_data.get("reason_code") or "",
            grader=agent_of(request),
        )
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Grade recorded.")
    return redirect("review:audit")


@require_GET
@permission_required("support.manage_automation", raise_exception=True)
def automation(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "review/automation.html",
        {"categories": selectors.braked_categories(), "form": ResumeForm()},
    )


@require_GET
@permission_required("support.view_dashboard", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The manager quality dashboard; an htmx request (window changed) gets only the panels."""
    days = window_days_parse(request.GET.get("days"))
    template = "review/dashboard.html#panels" if is_htmx(request) else "review/dashboard.html"
    return render(
        request,
        template,
        {
            "dashboard": dashboards.dashboard_build(days=days),
            "days": days,
            "window_days": WINDOW_DAYS,
            "drift_history": drift_history(days=days),
        },
    )


@require_GET
@permission_required("support.view_dashboard", raise_exception=True)
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    """One dashboard table as a CSV attachment (``/review/dashboard/<table>.csv?days=N``)."""
    days = window_days_parse(request.GET.get("days"))
    found = dashboards.dashboard_table(slug=table, days=days)
    if found is None:
        return not_found(
            request,
            title="No such dashboard table",
            detail="The dashboard exports: " + ", ".join(sorted(dashboards.TABLES)) + ".",
            back=(reverse("review:dashboard"), "Back to the dashboard"),
        )
    response = HttpResponse(found.csv_text(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="switchboard-{found.slug}-{days}d.csv"'
    return response


@require_POST
@permission_required("support.manage_automation", raise_exception=True)
def automation_resume(request: HttpRequest, category_id: int) -> HttpResponse:
    if not selectors.category_exists(category_id=category_id):
        return _categorynot_found(request)
    form = ResumeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why automation may resume.")
        return redirect("review:automation")
    try:
        category = services.review_automation_resume(
            category_id=category_id,
            actor=agent_of(request),
            reason=form.cleaned_data["reason"],
        )
    except Category.DoesNotExist:  # deleted since the check above
        return _categorynot_found(request)
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Automation resumed for {category.name}.")
    return redirect("review:automation")


def _categorynot_found(request: HttpRequest) -> HttpResponse:
    return not_found(
        request,
        title="No such category",
        detail="There is no category with that id.",
        back=(reverse("review:automation"), "Back to automation"),
    )
