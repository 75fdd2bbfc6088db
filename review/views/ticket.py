"""The ticket page and the decisions taken on it (claim, approve, reject, override, escalate,
snooze, delivery retry). Every view here goes through ``visible_ticket_required``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from review import services, ticket_selectors
from review.forms import (
    ApproveForm,
    EscalateForm,
    NoteForm,
    OverrideForm,
    RejectForm,
    SnoozeForm,
    StatusForm,
)
from review.models import ReviewOutcome
from review.services import ClaimHeldError, ReviewError
from review.services.lifecycle import REOPENABLE, SETTABLE_FROM
from review.ticket_selectors import PREVIEW_IMAGE_TYPES
from review.views.common import (
    agent_of,
    is_htmx,
    not_found,
    regenerated_draft_key,
    review_required,
    visible_ticket_required,
)
from support.models import Ticket


@require_GET
@review_required
@visible_ticket_required()
def ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    if is_htmx(request) and request.GET.get("fragment") == "delivery":
        outbound_messages = ticket_selectors.review_delivery_state(ticket_id=ticket_id, agent=agent_of(request))
        return render(
            request,
            "review/ticket.html#delivery",
            {
                "ticket_id": ticket_id,
                "outbound_messages": outbound_messages,
                "pending_delivery": any(outbound.status in {"pending", "sending"} for outbound in outbound_messages),
            },
        )
    try:
        detail = ticket_selectors.review_ticket_detail(ticket_id=ticket_id, agent=agent_of(request))
    except Ticket.DoesNotExist:
        return not_found(request)
    current = detail.ticket
    now = timezone.now()
    claim_live = current.claim_is_live(now=now)
    awaiting = current.status == Ticket.Status.AWAITING_REVIEW
    mine = awaiting and current.claimed_by_id == request.user.pk
    held_by_other = awaiting and claim_live and not mine
    decision = detail.decision
    if not awaiting:  # answered, closed or set aside: a regenerated draft has served its purpose
        request.session.pop(regenerated_draft_key(current.pk), None)
    context = {
        "detail": detail,
        "ticket": current,
        "decision": decision,
        "mine": mine,
        "held_by_other": held_by_other,
        "can_claim": awaiting and not mine and not held_by_other,
        "awaiting": awaiting,
        "reply_draft": request.session.get(regenerated_draft_key(current.pk))
        or (decision.reply_draft if decision else ""),
        "regenerate_offered": _category_corrected(current, decision) and mine,
        "reject_form": RejectForm(),
        "override_form": OverrideForm(),
        "escalate_form": EscalateForm(),
        "snooze_form": SnoozeForm(),
        "note_form": NoteForm(),
        "status_form": StatusForm(),
        "can_reopen": current.status in REOPENABLE,
        "can_set_status": current.status in SETTABLE_FROM and not held_by_other,
        "just_closed": request.GET.get("closed") == "1" and current.status == Ticket.Status.CLOSED,
        "preview_types": PREVIEW_IMAGE_TYPES,
        "mentions_unread": ticket_selectors.mentions_unread_count(user=agent_of(request)),
        "heartbeat_seconds": max(10, settings.REVIEW_CLAIM_SECONDS // 3),
        "ticket_id": current.pk,
        "outbound_messages": current.outbound_messages.all(),
        "pending_delivery": any(
            outbound.status in {"pending", "sending"} for outbound in current.outbound_messages.all()
        ),
    }
    return render(request, "review/ticket.html", context)


def _category_corrected(ticket: Ticket, decision: object) -> bool:
    ai_slug = getattr(decision, "category_slug", "")
    return bool(ticket.category is not None and ai_slug and ticket.category.slug != ai_slug)


@require_POST
@review_required
@visible_ticket_required()
def claim(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        services.review_claim(ticket_id=ticket_id, agent=agent_of(request))
    except ReviewError as error:
        messages.error(request, str(error))
    return redirect("review:ticket", ticket_id=ticket_id)


@require_POST
@review_required
@visible_ticket_required(as_json=True)
def heartbeat(request: HttpRequest, ticket_id: int) -> JsonResponse:
    until = services.review_heartbeat(ticket_id=ticket_id, agent=agent_of(request))
    if until is None:
        return JsonResponse({"ok": False, "detail": "Your claim on this ticket has ended."}, status=409)
    return JsonResponse({"ok": True, "expires_at": until.isoformat()})


@require_POST
@review_required
@visible_ticket_required()
def release(request: HttpRequest, ticket_id: int) -> HttpResponse:
    services.review_release(ticket_id=ticket_id, agent=agent_of(request))
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
@visible_ticket_required()
def approve(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        ApproveForm(request.POST),
        lambda data: services.review_approve(ticket_id=ticket_id, agent=agent_of(request), body_text=data["body_text"]),
        "Reply approved and queued for sending.",
    )


@require_POST
@review_required
@visible_ticket_required()
def reject(request: HttpRequest, ticket_id: int) -> HttpResponse:
    def action(data: dict[str, Any]) -> ReviewOutcome:
        return services.review_reject(
            ticket_id=ticket_id,
            agent=agent_of(request),
            reason_code=data["reason_code"],
            own_reply=data.get("own_reply") or "",
            note=data.get("note") or "",
        )

    form = RejectForm(request.POST)
    if form.is_valid() and not (form.cleaned_data.get("own_reply") or "").strip():
        # No answer means the ticket closes unanswered: only when the agent said so.
        if not form.cleaned_data.get("close_unanswered"):
            messages.error(
                request,
                "Rejecting with an empty answer closes the ticket without answering the customer. "
                "Tick “Close the ticket without answering” to confirm, or write your own answer.",
            )
            return redirect("review:ticket", ticket_id=ticket_id)
        response = _decide(request, ticket_id, form, action, "Ticket closed without an answer.")
        if response.status_code == 302 and response["Location"].endswith(f"/t/{ticket_id}/"):
            response["Location"] += "?closed=1"  # the page offers Undo: reopen
        return response
    return _decide(request, ticket_id, form, action, "Draft rejected.")


@require_POST
@review_required
@visible_ticket_required()
def override(request: HttpRequest, ticket_id: int) -> HttpResponse:
    def action(data: dict[str, Any]) -> ReviewOutcome | None:
        return services.review_override(
            ticket_id=ticket_id,
            agent=agent_of(request),
            category=data.get("category"),
            priority=data.get("priority") or None,
            team=data.get("team"),
            note=data.get("note") or "",
        )

    return _decide(request, ticket_id, OverrideForm(request.POST), action, "Classification corrected.")


@require_POST
@review_required
@visible_ticket_required()
def escalate(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        EscalateForm(request.POST),
        lambda data: services.review_escalate(
            ticket_id=ticket_id, agent=agent_of(request), note=data.get("note") or ""
        ),
        "Escalated to a manager.",
        then="queue",
    )


@require_POST
@review_required
@visible_ticket_required()
def snooze(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _decide(
        request,
        ticket_id,
        SnoozeForm(request.POST),
        lambda data: services.review_snooze(ticket_id=ticket_id, agent=agent_of(request), minutes=data["minutes"]),
        "Snoozed.",
        then="queue",
    )


@require_POST
@review_required
@visible_ticket_required()
def delivery_retry(request: HttpRequest, ticket_id: int, outbound_id: int) -> HttpResponse:
    try:
        retried = services.review_delivery_retry(ticket_id=ticket_id, outbound_id=outbound_id, agent=agent_of(request))
    except ObjectDoesNotExist:
        return not_found(
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
