"""Reads for the ticket page: the ticket with its conversation, the AI's decision and cited
passages, the customer's history, the timeline (notes, decisions and their notes, status
changes) and the attachments. The page costs a fixed number of queries however many messages,
notes, previous tickets or attachments there are (tests/review/test_ticket_page.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Max, Min, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce

from review.models import Mention, ReviewOutcome, TicketNote
from support.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    Attachment,
    Category,
    Message,
    OutboundMessage,
    Priority,
    Team,
    Ticket,
    TicketEvent,
)
from support.reasons import reason_label
from triage.kb.models import Chunk
from triage.models import TriageDecision

CUSTOMER_HISTORY_LIMIT = 20
# Status changes shown in the timeline beside notes and decisions.
TIMELINE_EVENT_VERBS = (
    "reopened",
    "status_solved",
    "status_pending_customer",
    "status_on_hold",
)
# Images shown inline as a preview (as <img>, which runs nothing); SVG never: it can carry script.
PREVIEW_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass
class CitedPassage:
    chunk_id: int
    article_title: str
    article_slug: str
    heading: str
    text: str


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the ticket's timeline: ``kind`` is note, escalated, rejected, overridden,
    approved, snoozed, reopened or a status change."""

    at: datetime
    kind: str
    label: str
    actor: str
    note: str = ""


@dataclass(frozen=True)
class CustomerHistory:
    tickets: Sequence[Ticket]
    first_contact_at: datetime | None
    total: int
    open: int
    done: int


@dataclass
class TicketDetail:
    ticket: Ticket
    decision: TriageDecision | None
    passages: list[CitedPassage]
    flag_evidence: dict[str, list[str]]
    reason_labels: list[str]
    categories: list[Category]
    teams: list[Team]
    history: CustomerHistory | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    ai_category_name: str = ""
    priorities: list[tuple[str, str]] = field(default_factory=lambda: list(Priority.choices))

    @property
    def evidence_terms(self) -> list[str]:
        return [term for terms in self.flag_evidence.values() for term in terms]


def _cited_chunk_ids(citations: Any) -> list[int]:
    """Citations are chunk ids; tolerate ``{"chunk_id": n}`` dicts from other providers."""
    ids: list[int] = []
    for item in citations or []:
        value = item.get("chunk_id") if isinstance(item, dict) else item
        try:
            ids.append(int(str(value)))
        except (TypeError, ValueError):
            continue
    return ids


def flag_evidence(
    flag_details: Any, risk_flags: list[str], *, customer_text: str | None = None
) -> dict[str, list[str]]:
    """Normalise ``TriageDecision.flag_details`` to ``{flag: [evidence text, ...]}``.

    Accepts the documented ``{"flag": ..., "evidence": [...]}``, a mapping ``{flag: {"evidence":
    [...]}}`` / ``{flag: [...]}`` / ``{flag: "text"}``, or a list of ``{"flag", "evidence"}``.

    With ``customer_text``, only evidence the customer actually wrote is kept: the page quotes it
    as "suspicious text", so the model's rationale or a grounding check's own words
    ("model: local model … top label …") must never appear there as if the customer wrote them.
    """
    found: dict[str, list[str]] = {flag: [] for flag in risk_flags or []}
    haystack = " ".join((customer_text or "").split()).casefold()

    def quotes_customer(text: str) -> bool:
        return customer_text is None or " ".join(text.split()).casefold() in haystack

    def add(flag: str, evidence: Any) -> None:
        if isinstance(evidence, dict):
            evidence = evidence.get("evidence", [])
        if isinstance(evidence, str):
            evidence = [evidence]
        if not isinstance(evidence, list):
            return
        found.setdefault(str(flag), []).extend(
            str(item) for item in evidence if str(item).strip() and quotes_customer(str(item))
        )

    if isinstance(flag_details, list):
        for item in flag_details:
            if isinstance(item, dict) and "flag" in item:
                add(item["flag"], item.get("evidence", []))
    elif isinstance(flag_details, dict):
        if "flag" in flag_details:
            add(flag_details["flag"], flag_details.get("evidence", []))
        else:
            for flag, evidence in flag_details.items():
                add(flag, evidence)
    return found


def ticket_visible(*, agent: User, ticket_id: int) -> bool:
    """Whether the ticket exists and ``agent`` may see it (``Ticket.objects.visible_to``)."""
    return Ticket.objects.visible_to(agent=agent).filter(pk=ticket_id).exists()


def _customer_history(*, ticket: Ticket, agent: User) -> CustomerHistory:
    """The customer's other tickets the agent may see, newest first (2 queries)."""
    theirs = Ticket.objects.visible_to(agent=agent).filter(customer_id=ticket.customer_id)
    totals = theirs.aggregate(
        first_contact_at=Min("created_at"),
        total=Count("pk"),
        open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
        done=Count("pk", filter=Q(status__in=DONE_STATUSES)),
    )
    last_outcome = ReviewOutcome.objects.filter(ticket=OuterRef("pk")).order_by("-decided_at", "-id")
    previous = list(
        theirs.exclude(pk=ticket.pk)
        .select_related("category")
        .annotate(
            last_reply_at=Max("messages__created_at", filter=Q(messages__direction="out")),
            last_outcome=Subquery(last_outcome.values("verdict")[:1]),
        )
        .order_by("-created_at", "-pk")[:CUSTOMER_HISTORY_LIMIT]
    )
    verdicts = dict(ReviewOutcome.Decision.choices)
    for other in previous:
        other.last_outcome_label = verdicts.get(other.last_outcome or "", "")  # type: ignore[attr-defined]  # per-row label for the template
    return CustomerHistory(
        tickets=previous,
        first_contact_at=totals["first_contact_at"],
        total=totals["total"],
        open=totals["open"],
        done=totals["done"],
    )


def _timeline(*, ticket: Ticket) -> list[TimelineEntry]:
    """Notes, decisions (with the escalation, reject and override notes) and status changes,
    oldest first. Reads the prefetched outcomes, notes and events."""
    entries = [
        TimelineEntry(at=note.created_at, kind="note", label="Internal note",
                      actor=note.author.get_username(), note=note.body)
        for note in ticket.notes.all()
    ]
    entries += [
        TimelineEntry(at=outcome.decided_at, kind=outcome.verdict, label=outcome.get_verdict_display(),
                      actor=outcome.reviewer.get_username(), note=outcome.note)
        for outcome in ticket.review_outcomes.all()
    ]
    entries += [
        TimelineEntry(at=event.created_at, kind=event.verb,
                      label="Reopened" if event.verb == "reopened"
                      else "Set to " + Ticket.Status(event.verb.removeprefix("status_")).label.lower(),
                      actor=event.actor_label, note=event.note)
        for event in ticket.timeline_events  # type: ignore[attr-defined]  # Prefetch to_attr below
    ]
    return sorted(entries, key=lambda entry: entry.at)


def review_ticket_detail(*, ticket_id: int, agent: User) -> TicketDetail:
    """Everything the ticket page shows, in a fixed number of queries. Raises
    ``Ticket.DoesNotExist`` for an unknown ticket and for one ``agent`` may not see."""
    ticket = (
        Ticket.objects.visible_to(agent=agent)
        .select_related("customer", "category", "team", "assignee", "claimed_by")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author_user").order_by("created_at", "id"),
            ),
            Prefetch(
                "outbound_messages", queryset=OutboundMessage.objects.order_by("-created_at", "-id")
            ),
            Prefetch(
                "review_outcomes",
                queryset=ReviewOutcome.objects.select_related("reviewer").order_by(
                    "-decided_at", "-id"
                ),
            ),
            Prefetch("notes", queryset=TicketNote.objects.select_related("author")),
            Prefetch(
                "events",
                queryset=TicketEvent.objects.filter(verb__in=TIMELINE_EVENT_VERBS),
                to_attr="timeline_events",
            ),
        )
        .annotate(
            customer_ticket_count=Coalesce(
                Subquery(
                    Ticket.objects.filter(customer=OuterRef("customer"))
                    .order_by()
                    .values("customer")
                    .annotate(n=Count("pk"))
                    .values("n")[:1]
                ),
                Value(0),
            )
        )
        .get(pk=ticket_id)
    )
    decision = TriageDecision.objects.final_for(ticket_id=ticket.pk)
    customer_text = "\n".join(
        f"{ticket.subject}\n{message.body_text}"
        for message in ticket.messages.all()
        if message.direction == Message.Direction.INBOUND
    )
    passages: list[CitedPassage] = []
    if decision is not None:
        chunk_ids = _cited_chunk_ids(decision.citations)
        by_id = {
            chunk.pk: chunk
            for chunk in Chunk.objects.filter(pk__in=chunk_ids).select_related("article")
        }
        passages = [
            CitedPassage(
                chunk_id=chunk.pk,
                article_title=chunk.article.title,
                article_slug=chunk.article.slug,
                heading=chunk.heading,
                text=chunk.text,
            )
            for chunk_id in chunk_ids
            if (chunk := by_id.get(chunk_id)) is not None
        ]
        evidence = flag_evidence(
            decision.flag_details,
            list(decision.risk_flags or []) + list(ticket.risk_flags or []),
            customer_text=customer_text,
        )
    else:
        evidence = flag_evidence({}, list(ticket.risk_flags or []), customer_text=customer_text)
    categories = list(Category.objects.only("pk", "slug", "name"))
    names = {category.slug: category.name for category in categories}
    return TicketDetail(
        ticket=ticket,
        decision=decision,
        passages=passages,
        flag_evidence=evidence,
        reason_labels=[reason_label(code) for code in ticket.review_reasons or []],
        categories=categories,
        teams=list(Team.objects.only("pk", "slug", "name")),
        history=_customer_history(ticket=ticket, agent=agent),
        timeline=_timeline(ticket=ticket),
        attachments=list(
            Attachment.objects.filter(message__ticket=ticket).order_by("message__created_at", "pk")
        ),
        ai_category_name=names.get(decision.category_slug, decision.category_slug) if decision else "",
    )


def attachment_for_download(*, agent: User, attachment_id: int, ticket_id: int) -> Attachment:
    """A stored attachment of a ticket ``agent`` may see, whose type is on the allow-list.
    Raises ``Attachment.DoesNotExist`` otherwise (the view answers 404)."""
    allowed = {content_type.lower() for content_type in settings.EMAIL_ATTACHMENT_TYPES}
    attachment = Attachment.objects.select_related("message").get(
        pk=attachment_id,
        message__ticket_id=ticket_id,
        message__ticket__in=Ticket.objects.visible_to(agent=agent),
        dropped_reason="",
    )
    if not attachment.file or attachment.content_type.split(";")[0].strip().lower() not in allowed:
        raise Attachment.DoesNotExist
    return attachment


def review_delivery_state(*, ticket_id: int, agent: User) -> list[OutboundMessage]:
    """The outbox rows of a ticket, newest first (the delivery fragment polls this); empty for
    a ticket ``agent`` may not see."""
    return list(
        OutboundMessage.objects.filter(
            ticket_id=ticket_id, ticket__in=Ticket.objects.visible_to(agent=agent)
        ).order_by("-created_at", "-id")
    )


def mentions_for(*, user: User, limit: int = 100) -> list[Mention]:
    """The user's mentions, newest first, with the note, its author and ticket."""
    return list(
        Mention.objects.filter(user=user)
        .select_related("note__author", "note__ticket")
        .order_by("-created_at", "-id")[:limit]
    )


def mentions_unread_count(*, user: User) -> int:
    return Mention.objects.filter(user=user, read_at__isnull=True).count()
