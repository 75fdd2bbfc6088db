"""The queue's bulk triage (with a confirmation page) and macros for
the reply box."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from review import selectors
from review.forms import BulkActionForm, SnoozeForm
from review.macros import macros_rendered_for
from review.services.bulk import tickets_bulk_assign, tickets_bulk_close_spam, tickets_bulk_snooze
from review.services.errors import ReviewError
from review.views.common import agent_of, bad_request, form_errors, review_required, visible_ticket_required


def _tickets(count: int) -> str:
    return f"{count} ticket{'s' if count != 1 else ''}"


@require_POST
@review_required
def bulk(request: HttpRequest) -> HttpResponse:
    agent = agent_of(request)
    form = BulkActionForm(request.POST, assignees=selectors.queue_assignees())
    if not form.is_valid():
        return bad_request(request, form_errors(form))
    data = form.cleaned_data
    action: str = data["action"]
    minutes: int = data.get("minutes") or 0
    assignee: User | None = data.get("assignee")
    minutes_label = dict(SnoozeForm.base_fields["minutes"].choices).get(minutes, "")  # type: ignore[attr-defined]  # a TypedChoiceField
    if not data.get("confirmed"):
        tickets = selectors.queue_tickets_handleable(agent=agent, ticket_ids=data["ticket"])
        question = {
            "assign": f"Assign {_tickets(len(tickets))} to {assignee.get_username() if assignee else ''}?",
            "snooze": f"Snooze {_tickets(len(tickets))} for {minutes_label}?",
            "spam": f"Close {_tickets(len(tickets))} as spam?",
        }[action]
        return render(
            request,
            "review/bulk_confirm.html",
            {
                "question": question,
                "tickets": tickets,
                "skipped": len(data["ticket"]) - len(tickets),
                "action": action,
                "assignee": assignee,
                "minutes": minutes,
            },
        )
    try:
        if action == "assign":
            if assignee is None:  # BulkActionForm.clean asks for one already
                return bad_request(request, ["Assign to: choose who to assign the tickets to."])
            done = tickets_bulk_assign(agent=agent, ticket_ids=data["ticket"], assignee=assignee)
            said = f"{_tickets(len(done))} assigned to {assignee.get_username()}."
        elif action == "snooze":
            done = tickets_bulk_snooze(agent=agent, ticket_ids=data["ticket"], minutes=minutes)
            said = f"{_tickets(len(done))} snoozed for {minutes_label}."
        elif action == "spam":
            done = tickets_bulk_close_spam(agent=agent, ticket_ids=data["ticket"])
            said = f"{_tickets(len(done))} closed as spam."
        else:  # the form's choices allow nothing else
            return bad_request(request, [f"Action: unknown action {action!r}."])
    except ReviewError as error:
        messages.error(request, str(error))
        return redirect("review:queue")
    skipped = len(data["ticket"]) - len(done)
    if skipped:
        said += f" {_tickets(skipped)} skipped: answered meanwhile, or not yours to handle."
    messages.success(request, said)
    return redirect("review:queue")


@require_GET
@review_required
@visible_ticket_required(as_json=True)
def macros(request: HttpRequest, ticket_id: int) -> JsonResponse:
    """Every macro rendered for this ticket and agent, for the reply box's picker."""
    ticket = selectors.ticket_with_customer(agent=agent_of(request), ticket_id=ticket_id)
    rendered = macros_rendered_for(ticket=ticket, agent=agent_of(request))
    return JsonResponse(
        {"macros": [{"id": macro.id, "name": macro.name, "text": macro.text} for macro in rendered]}
    )
