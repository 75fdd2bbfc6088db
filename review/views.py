"""Thin adapters for the review pages: validate input, call one service or selector, render.

One view serves a page and its fragments: an htmx request gets ``page.html#partial``.
Every action is a plain POST form followed by a redirect, so the pages work without JavaScript;
review.js adds keyboard shortcuts and the claim heartbeat.

Bad input never reaches a service as an exception: an unknown id, or a ticket outside the agent's
teams (``Ticket.objects.visible_to``), is a 404 page (JSON for the heartbeat, which answers in
JSON); a malformed parameter is a 400 page that says which one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from review import selectors, services
from review.analytics import dashboard as dashboards
from review.analytics.drift import PSI_DRIFT, drift_history
from review.analytics.windows import WINDOW_DAYS, window_days_parse
from review.forms import (
    ApproveForm,
    AuditGradeForm,
    EscalateForm,
    NextTicketForm,
    OverrideForm,
    QueueFilterForm,
    RejectForm,
    ResumeForm,
    SnoozeForm,
)
from review.models import ReviewOutcome
from review.services import ClaimHeldError, ReviewError
from support.models import Category, Ticket
from support.reasons import reason_choices

review_required = permission_required("support.review_ticket", raise_exception=True)


def _agent(request: HttpRequest) -> User:
    """The logged-in user (LoginRequiredMiddleware and the permission checks ran already)."""
    return cast(User, request.user)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


NO_SUCH_TICKET = "No such ticket"


def _not_found(
    request: HttpRequest,
    title: str = NO_SUCH_TICKET,
    detail: str = "",
    back: tuple[str, str] | None = None,
) -> HttpResponse:
    back_url, back_label = back or (reverse("review:queue"), "Back to the review queue")
    return render(
        request,
        "review/not_found.html",
        {"title": title, "detail": detail, "back_url": back_url, "back_label": back_label},
        status=404,
    )


def _bad_request(request: HttpRequest, errors: list[str]) -> HttpResponse:
    return render(
        request,
        "review/bad_request.html",
        {"errors": errors, "back_url": reverse("review:queue")},
        status=400,
    )


def _form_errors(form: Any) -> list[str]:
    return [
        f"{form[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    ]


def _visible_ticket_required(*, as_json: bool = False) -> Callable[..., Any]:
    """404 unless the ticket exists and the agent may see it (their teams' tickets; managers
    all). Every view under ``t/<ticket_id>/`` goes through this before it reads or writes."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, ticket_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            if selectors.ticket_visible(agent=_agent(request), ticket_id=ticket_id):
                return view(request, ticket_id, *args, **kwargs)
            if as_json:
                return JsonResponse({"ok": False, "detail": f"{NO_SUCH_TICKET}."}, status=404)
            return _not_found(request)

        return wrapped

    return decorator


@require_GET
@review_required
def queue(request: HttpRequest) -> HttpResponse:
    choices = selectors.queue_choices(agent=_agent(request))
    form = QueueFilterForm(request.GET or None, teams=choices.teams, categories=choices.categories)
    if form.is_bound and not form.is_valid():
        return _bad_request(request, _form_errors(form))
    filters = form.filters() if form.is_bound else selectors.QueueFilters()
    offset = (form.cleaned_data.get("offset") if form.is_bound else None) or 0
    limit = (form.cleaned_data.get("limit") if form.is_bound else None) or selectors.PAGE_SIZE_DEFAULT
    page = selectors.review_queue(
        agent=_agent(request),
        filters=filters,
        choices=choices,
        offset=offset,
        limit=limit,
    )
    query = request.GET.copy()
    query.pop("offset", None)
    context = {
        "page": page,
        "form": form,
        "filters": filters,
        "choices": choices,
        "query": query.urlencode(),
        "sla_states": selectors.SLA_STATES,
        "confidence_bands": selectors.CONFIDENCE_BANDS,
        "reason_choices": reason_choices(),
        "priorities": Ticket._meta.get_field("priority").choices,
    }
    template = "review/queue.html#results" if _is_htmx(request) else "review/queue.html"
    return render(request, template, context)


@require_POST
@review_required
def next_ticket(request: HttpRequest) -> HttpResponse:
    form = NextTicketForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, _form_errors(form))
    result = services.review_claim_next(
        agent=_agent(request), skip_ticket_id=form.cleaned_data.get("skip")
    )
    if result.ticket is None:
        messages.info(request, "Nothing is waiting for you. Well done.")
        return redirect("review:queue")
    return redirect("review:ticket", ticket_id=result.ticket.pk)


@require_GET
@review_required
@_visible_ticket_required()
def ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    if _is_htmx(request) and request.GET.get("fragment") == "delivery":
        outbound_messages = selectors.review_delivery_state(
            ticket_id=ticket_id, agent=_agent(request)
        )
        return render(
            request,
            "review/ticket.html#delivery",
            {
                "ticket_id": ticket_id,
                "outbound_messages": outbound_messages,
                "pending_delivery": any(
                    outbound.status in {"pending", "sending"} for outbound in outbound_messages
                ),
            },
        )
    try:
        detail = selectors.review_ticket_detail(ticket_id=ticket_id, agent=_agent(request))
    except Ticket.DoesNotExist:
        return _not_found(request)
    current = detail.ticket
    now = timezone.now()
    claim_live = current.claim_is_live(now=now)
    awaiting = current.status == Ticket.Status.AWAITING_REVIEW
    mine = awaiting and current.claimed_by_id == request.user.pk
    held_by_other = awaiting and claim_live and not mine
    decision = detail.decision
    context = {
        "detail": detail,
        "ticket": current,
        "decision": decision,
        "mine": mine,
        "held_by_other": held_by_other,
        "can_claim": awaiting and not mine and not held_by_other,
        "awaiting": awaiting,
        "approve_form": ApproveForm(
            initial={"body_text": decision.reply_draft if decision else ""}
        ),
        "reject_form": RejectForm(),
        "override_form": OverrideForm(),
        "escalate_form": EscalateForm(),
        "snooze_form": SnoozeForm(),
        "heartbeat_seconds": max(10, settings.REVIEW_CLAIM_SECONDS // 3),
        "ticket_id": current.pk,
        "outbound_messages": current.outbound_messages.all(),
        "pending_delivery": any(
            outbound.status in {"pending", "sending"}
            for outbound in current.outbound_messages.all()
        ),
    }
    return render(request, "review/ticket.html", context)


@require_POST
@review_required
@_visible_ticket_required()
def claim(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        services.review_claim(ticket_id=ticket_id, agent=_agent(request))
    except ReviewError as error:
        messages.error(request, str(error))
    return redirect("review:ticket", ticket_id=ticket_id)


@require_POST
@review_required
@_visible_ticket_required(as_json=True)
def heartbeat(request: HttpRequest, ticket_id: int) -> JsonResponse:
    until = services.review_heartbeat(ticket_id=ticket_id, agent=_agent(request))
    if until is None:
        return JsonResponse(
            {"ok": False, "detail": "Your claim on this ticket has ended."}, status=409
        )
    return JsonResponse({"ok": True, "expires_at": until.isoformat()})


@require_POST
@review_required
@_visible_ticket_required()
def release(request: HttpRequest, ticket_id: int) -> HttpResponse:
    services.review_release(ticket_id=ticket_id, agent=_agent(request))
    messages.info(request, "Ticket handed back to the queue.")
    return redirect("review:queue")


def _decide(
    request: HttpRequest,
    ticket_id: int,
    form: Any,
    action: Callable[[dict[str, Any]], object],
    success: str,
    then: str = "ticket",
) -> HttpResponse:
    """Run one decision service and say what happened; every failure is shown, never swallowed."""
    ticket_url = reverse("review:ticket", kwargs={"ticket_id": ticket_id})
    if not form.is_valid():
        for field_errors in form.errors.values():
            for error in field_errors:
                messages.error(request, error)
        return HttpResponseRedirect(ticket_url)
    try:
        result = action(form.cleaned_data)
    except ClaimHeldError as error:
        messages.error(request, f"{error} Your change was not saved.")
        return HttpResponseRedirect(ticket_url)
    except ReviewError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(ticket_url)
    if result is None:
        messages.info(request, "Nothing changed.")
    else:
        messages.success(request, success)
    return HttpResponseRedirect(ticket_url if then == "ticket" else reverse("review:queue"))


@require_POST
@review_required
@_visible_ticket_required()
def approve(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        ApproveForm(request.POST),
        lambda data: services.review_approve(
            ticket_id=ticket_id, agent=_agent(request), body_text=data["body_text"]
        ),
        "Reply approved and queued for sending.",
    )


@require_POST
@review_required
@_visible_ticket_required()
def reject(request: HttpRequest, ticket_id: int) -> HttpResponse:
    def action(data: dict[str, Any]) -> ReviewOutcome:
        return services.review_reject(
            ticket_id=ticket_id,
            agent=_agent(request),
            reason_code=data["reason_code"],
            own_reply=data.get("own_reply") or "",
            note=data.get("note") or "",
        )

    return _decide(request, ticket_id, RejectForm(request.POST), action, "Draft rejected.")


@require_POST
@review_required
@_visible_ticket_required()
def override(request: HttpRequest, ticket_id: int) -> HttpResponse:
    def action(data: dict[str, Any]) -> ReviewOutcome | None:
        return services.review_override(
            ticket_id=ticket_id,
            agent=_agent(request),
            category=data.get("category"),
            priority=data.get("priority") or None,
            team=data.get("team"),
            note=data.get("note") or "",
        )

    return _decide(
        request, ticket_id, OverrideForm(request.POST), action, "Classification corrected."
    )


@require_POST
@review_required
@_visible_ticket_required()
def escalate(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        EscalateForm(request.POST),
        lambda data: services.review_escalate(
            ticket_id=ticket_id, agent=_agent(request), note=data.get("note") or ""
        ),
        "Escalated to a manager.",
        then="queue",
    )


@require_POST
@review_required
@_visible_ticket_required()
def snooze(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        SnoozeForm(request.POST),
        lambda data: services.review_snooze(
            ticket_id=ticket_id, agent=_agent(request), minutes=data["minutes"]
        ),
        "Snoozed.",
        then="queue",
    )


@require_POST
@review_required
@_visible_ticket_required()
def delivery_retry(request: HttpRequest, ticket_id: int, outbound_id: int) -> HttpResponse:
    try:
        retried = services.review_delivery_retry(
            ticket_id=ticket_id, outbound_id=outbound_id, agent=_agent(request)
        )
    except ObjectDoesNotExist:
        return _not_found(
            request,
            title="No such reply",
            detail="This ticket has no outbound reply with that id.",
            back=(reverse("review:ticket", kwargs={"ticket_id": ticket_id}), "Back to the ticket"),
        )
    if retried:
        messages.success(request, "Delivery will be tried again.")
    else:
        messages.info(request, "That reply is not failed; nothing to retry.")
    return redirect("review:ticket", ticket_id=ticket_id)


# --- audits and brakes ---------------------------------------------------------------------------


@require_GET
@review_required
def audit(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "review/audit.html",
        {
            "samples": selectors.audit_queue(agent=_agent(request)),
            "recent": selectors.audit_recent(agent=_agent(request)),
            "form": AuditGradeForm(),
        },
    )


@require_POST
@review_required
def audit_grade(request: HttpRequest, sample_id: int) -> HttpResponse:
    if not selectors.audit_sample_visible(agent=_agent(request), sample_id=sample_id):
        return _not_found(
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
            grader=_agent(request),
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
    template = "review/dashboard.html#panels" if _is_htmx(request) else "review/dashboard.html"
    return render(
        request,
        template,
        {
            "dashboard": dashboards.dashboard_build(days=days),
            "days": days,
            "window_days": WINDOW_DAYS,
            "psi_drift": PSI_DRIFT,
            "drift_history": drift_history(days=days),
        },
    )


@require_POST
@permission_required("support.manage_automation", raise_exception=True)
def automation_resume(request: HttpRequest, category_id: int) -> HttpResponse:
    if not selectors.category_exists(category_id=category_id):
        return _category_not_found(request)
    form = ResumeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why automation may resume.")
        return redirect("review:automation")
    try:
        category = services.review_automation_resume(
            category_id=category_id,
            actor=_agent(request),
            reason=form.cleaned_data["reason"],
        )
    except Category.DoesNotExist:  # deleted since the check above
        return _category_not_found(request)
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Automation resumed for {category.name}.")
    return redirect("review:automation")


def _category_not_found(request: HttpRequest) -> HttpResponse:
    return _not_found(
        request,
        title="No such category",
        detail="There is no category with that id.",
        back=(reverse("review:automation"), "Back to automation"),
    )
