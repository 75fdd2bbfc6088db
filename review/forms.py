"""The review pages' inputs, validated at the edge before a service sees them."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from review.models import AuditSample, ReviewOutcome
from review.queue_search import QUEUE_VIEWS
from review.selectors import CONFIDENCE_BANDS, SLA_STATES, QueueFilters
from review.services import SNOOZE_CHOICES_MINUTES
from support.models import Category, Priority, Team, Ticket
from support.reasons import reason_choices

_ANY = [("", "Any")]
OFFSET_MAX = 1_000_000_000
TICKET_ID_MAX = 2**63 - 1  # ids are bigint


class NextTicketForm(forms.Form):
    skip = forms.IntegerField(
        required=False, min_value=1, max_value=TICKET_ID_MAX, label="Ticket to skip"
    )


class QueueFilterForm(forms.Form):
    team = forms.ChoiceField(required=False)
    category = forms.ChoiceField(required=False)
    priority = forms.ChoiceField(required=False, choices=_ANY + list(Priority.choices))
    reason = forms.ChoiceField(required=False, label="Review reason")
    sla = forms.ChoiceField(required=False, label="SLA", choices=_ANY + list(SLA_STATES.items()))
    confidence = forms.ChoiceField(
        required=False, label="AI confidence", choices=_ANY + list(CONFIDENCE_BANDS.items())
    )
    mine = forms.BooleanField(required=False, label="Assigned to me")
    q = forms.CharField(required=False, max_length=200, label="Search")
    view = forms.ChoiceField(
        required=False, choices=_ANY + [(view.slug, view.label) for view in QUEUE_VIEWS]
    )
    # Bounded: PostgreSQL's OFFSET is a bigint, and no queue is a billion tickets long.
    offset = forms.IntegerField(required=False, min_value=0, max_value=OFFSET_MAX)
    limit = forms.IntegerField(required=False, min_value=1, max_value=200)

    def __init__(
        self, *args: object, teams: list[Team], categories: list[Category], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Form's own signature, forwarded unchanged
        for name, values in (
            ("team", [(team.slug, team.name) for team in teams]),
            ("category", [(category.slug, category.name) for category in categories]),
            ("reason", reason_choices()),
        ):
            choice_field = self.fields[name]
            assert isinstance(choice_field, forms.ChoiceField)
            choice_field.choices = _ANY + values

    def filters(self) -> QueueFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return QueueFilters(
            team=data.get("team") or "",
            category=data.get("category") or "",
            priority=data.get("priority") or "",
            reason=data.get("reason") or "",
            sla=data.get("sla") or "",
            confidence=data.get("confidence") or "",
            mine=bool(data.get("mine")),
            q=data.get("q") or "",
            view=data.get("view") or "",
        )


class ApproveForm(forms.Form):
    body_text = forms.CharField(label="Reply", strip=False, max_length=20000)


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(
        label="Reason", choices=[("", "Choose a reason…")] + list(ReviewOutcome.Reason.choices)
    )
    own_reply = forms.CharField(
        label="Your own reply (optional)", required=False, strip=False, max_length=20000
    )
    note = forms.CharField(label="Note", required=False, max_length=2000)
    close_unanswered = forms.BooleanField(label="Close the ticket without answering", required=False)


class NoteForm(forms.Form):
    body = forms.CharField(label="Internal note", max_length=5000)


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        label="Status",
        choices=[
            (status.value, status.label)
            for status in (Ticket.Status.SOLVED, Ticket.Status.PENDING_CUSTOMER, Ticket.Status.ON_HOLD)
        ],
    )
    note = forms.CharField(label="Note", required=False, max_length=2000)


class ReopenForm(forms.Form):
    note = forms.CharField(label="Why reopen?", required=False, max_length=2000)


class OverrideForm(forms.Form):
    category = forms.ModelChoiceField(
        queryset=Category.objects.all(), to_field_name="slug", required=False
    )
    priority = forms.ChoiceField(choices=[("", "Keep")] + list(Priority.choices), required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), to_field_name="slug", required=False)
    note = forms.CharField(required=False, max_length=2000)


class EscalateForm(forms.Form):
    note = forms.CharField(label="Note for the manager", required=False, max_length=2000)


class SnoozeForm(forms.Form):
    minutes = forms.TypedChoiceField(
        label="Snooze for",
        coerce=int,
        choices=[
            (m, f"{m} minutes" if m < 60 else f"{m // 60} hour{'s' if m >= 120 else ''}")
            for m in SNOOZE_CHOICES_MINUTES
        ],
    )


class AuditGradeForm(forms.Form):
    grade = forms.ChoiceField(choices=AuditSample.Grade.choices)
    reason_code = forms.ChoiceField(
        required=False, choices=[("", "—")] + list(ReviewOutcome.Reason.choices)
    )


class ResumeForm(forms.Form):
    reason = forms.CharField(label="Why resume?", max_length=2000)


class TicketIdsField(forms.Field):
    """Ticket ids from checkboxes. Any id may come back: the bulk services keep only the tickets
    the agent may handle."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: object) -> list[int]:
        values = value if isinstance(value, list) else []
        return [int(item) for item in values if str(item).isdigit() and len(str(item)) < 19][:200]

    def validate(self, value: object) -> None:
        if not value:
            raise ValidationError("Select at least one ticket.")


class BulkActionForm(forms.Form):
    """Bulk triage from the queue. ``confirmed`` is set by the confirmation page: the first POST
    only shows what would change."""

    ACTIONS = {"assign": "Assign", "snooze": "Snooze", "spam": "Close as spam"}

    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    ticket = TicketIdsField(label="Tickets")
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, label="Assign to", empty_label=None
    )
    minutes = forms.TypedChoiceField(
        label="Snooze for",
        coerce=int,
        required=False,
        empty_value=None,
        choices=SnoozeForm.base_fields["minutes"].choices,  # type: ignore[attr-defined]  # a TypedChoiceField
    )
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args: object, assignees: list[User], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # Form's own signature, forwarded unchanged
        assignee_field = self.fields["assignee"]
        assert isinstance(assignee_field, forms.ModelChoiceField)
        assignee_field.queryset = User.objects.filter(pk__in=[user.pk for user in assignees])
        assignee_field.choices = [(user.pk, user.get_username()) for user in assignees]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Choose who to assign the tickets to.")
        if data.get("action") == "snooze" and not data.get("minutes"):
            self.add_error("minutes", "Choose how long to snooze.")
        return data
