"""The agent's workspace on a ticket beyond the AI's draft: internal notes and mentions, the
lifecycle (solved, pending on customer, on hold, reopen), attachments, and regenerating the draft
after a category correction."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from review import ticket_selectors
from review.forms import NoteForm, ReopenForm, StatusForm
from review.services import ReviewError
from review.services.lifecycle import ticket_reopen, ticket_status_set
from review.services.notes import mentions_mark_read, note_add
from review.services.regenerate import review_draft_regenerate
from review.views.common import agent_of, not_found, regenerated_draft_key, review_required, visible_ticket_required
from support.models import Attachment, Ticket

STATUS_MESSAGES = {
    Ticket.Status.SOLVED: "Ticket solved.",
    Ticket.Status.PENDING_CUSTOMER: "Pending on the customer: the SLA clock is paused.",
    Ticket.Status.ON_HOLD: "Ticket on hold.",
}


@require_POST
@review_required
@visible_ticket_required()
def note(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the note first.")
        return redirect("review:ticket", ticket_id=ticket_id)
    try:
        note_add(ticket_id=ticket_id, author=agent_of(request), body=form.cleaned_data["body"])
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Note added.")
    return redirect("review:ticket", ticket_id=ticket_id)


@require_POST
@review_required
@visible_ticket_required()
def status(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status.")
        return redirect("review:ticket", ticket_id=ticket_id)
    new_status = form.cleaned_data["status"]
    try:
        ticket_status_set(
            ticket_id=ticket_id, agent=agent_of(request), status=new_status, note=form.cleaned_data.get("note") or ""
        )
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, STATUS_MESSAGES.get(new_status, "Status changed."))
    return redirect("review:ticket", ticket_id=ticket_id)


@require_POST
@review_required
@visible_ticket_required()
def reopen(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = ReopenForm(request.POST)
    note_text = form.cleaned_data.get("note", "") if form.is_valid() else ""
    try:
        ticket_reopen(ticket_id=ticket_id, agent=agent_of(request), note=note_text)
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Ticket reopened.")
    return redirect("review:ticket", ticket_id=ticket_id)


@require_POST
@review_required
@visible_ticket_required()
def regenerate(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        draft = review_draft_regenerate(ticket_id=ticket_id, agent=agent_of(request))
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        # Kept for this agent's Reply box only; the AI's decision keeps its own draft.
        request.session[regenerated_draft_key(ticket_id)] = draft
        messages.success(request, "Draft regenerated for the corrected category.")
    return redirect("review:ticket", ticket_id=ticket_id)


@require_GET
@review_required
@visible_ticket_required()
def attachment(request: HttpRequest, ticket_id: int, attachment_id: int) -> HttpResponseBase:
    """Always a download (``Content-Disposition: attachment``) with the stored, allow-listed type
    and ``nosniff``, so nothing a customer sent is rendered or run in our origin. ``?inline=1``
    serves a raster image for the page's <img> preview; SVG and everything else stay downloads."""
    try:
        found = ticket_selectors.attachment_for_download(
            agent=agent_of(request), attachment_id=attachment_id, ticket_id=ticket_id
        )
    except Attachment.DoesNotExist:
        return not_found(request, title="No such attachment", detail="It was not stored, or is not yours to see.")
    content_type = found.content_type.split(";")[0].strip().lower()
    inline = request.GET.get("inline") == "1" and content_type in ticket_selectors.PREVIEW_IMAGE_TYPES
    response = FileResponse(
        found.file.open("rb"),
        as_attachment=not inline,
        filename=found.filename or f"attachment{mimetypes.guess_extension(content_type) or ''}",
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_GET
@review_required
def mentions(request: HttpRequest) -> HttpResponse:
    """The agent's mentions in colleagues' notes, newest first."""
    user = agent_of(request)
    return render(
        request,
        "review/mentions.html",
        {"mentions": ticket_selectors.mentions_for(user=user),
         "unread": ticket_selectors.mentions_unread_count(user=user)},
    )


@require_POST
@review_required
def mentions_read(request: HttpRequest) -> HttpResponse:
    mentions_mark_read(user=agent_of(request))
    return redirect("review:mentions")
