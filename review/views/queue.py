"""The review queue and Next ticket."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from review import selectors, services
from review.forms import NextTicketForm, QueueFilterForm, SnoozeForm
from review.queue_search import QUEUE_VIEWS
from review.views.common import agent_of, bad_request, form_errors, is_htmx, review_required
from support.models import Ticket
from support.reasons import reason_choices


@require_GET
@review_required
def queue(request: HttpRequest) -> HttpResponse:
    choices = selectors.queue_choices(agent=agent_of(request))
    form = QueueFilterForm(request.GET or None, teams=choices.teams, categories=choices.categories)
    if form.is_bound and not form.is_valid():
        return bad_request(request, form_errors(form))
    filters = form.filters() if form.is_bound else selectors.QueueFilters()
    offset = (form.cleaned_data.get("offset") if form.is_bound else None) or 0
    limit = (form.cleaned_data.get("limit") if form.is_bound else None) or selectors.PAGE_SIZE_DEFAULT
    page = selectors.review_queue(
        agent=agent_of(request),
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
        "queue_views": QUEUE_VIEWS,
        "assignees": selectors.queue_assignees(),
        "snooze_choices": SnoozeForm.base_fields["minutes"].choices,  # type: ignore[attr-defined]  # a TypedChoiceField
    }
    template = "review/queue.html#results" if is_htmx(request) else "review/queue.html"
    return render(request, template, context)


@require_POST
@review_required
def next_ticket(request: HttpRequest) -> HttpResponse:
    form = NextTicketForm(request.POST)
    if not form.is_valid():
        return bad_request(request, form_errors(form))
    result = services.review_claim_next(agent=agent_of(request), skip_ticket_id=form.cleaned_data.get("skip"))
    if result.ticket is None:
        messages.info(request, "Nothing is waiting for you. Well done.")
        return redirect("review:queue")
    return redirect("review:ticket", ticket_id=result.ticket.pk)
