"""Routing: which team owns a ticket, and which agent in it (least load, per-agent cap).

``route_ticket`` persists ``ticket.team`` and ``ticket.assignee`` itself: the load count and the
assignment must happen under the same row locks, otherwise two triage workers routing at once
could both pick the same agent and push them over their cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Q

from support.models import OPEN_STATUSES, AgentProfile, Category, Team, Ticket
from support.services import ticket_event_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Tickets that still need somebody: they count towards an agent's load.


@dataclass(frozen=True)
class RoutingResult:
    team: Team | None
    assignee: User | None


def _language_matches(profile: AgentProfile, language: str) -> bool:
    return language.lower() in {code.lower() for code in (profile.languages or [])}


def agent_candidates(*, team: Team, category: Category | None, language: str) -> list[AgentProfile]:
    """Available agents of the team who meet the category's hard requirements, least loaded
    first, with their open-ticket load annotated as ``open_load``. Agents at their cap are out.

    Hard requirements: ``category.required_language`` and every ``category.required_skills``.
    Soft preference: when some eligible agents speak the ticket's language, only they are kept.
    """
    profiles = list(
        AgentProfile.objects.filter(teams=team, is_available=True, user__is_active=True)
        .select_related("user")
        .annotate(open_load=Count("user__assigned_tickets", filter=Q(user__assigned_tickets__status__in=OPEN_STATUSES)))
        .order_by("pk")
    )
    required_language = (category.required_language if category else "") or ""
    required_skills = set(category.required_skills or []) if category else set()
    eligible: list[AgentProfile] = [
        profile for profile in profiles
        if profile.open_load < profile.max_open_tickets  # type: ignore[attr-defined]  # annotated
        and (not required_language or _language_matches(profile, required_language))
        and required_skills.issubset(set(profile.skills or []))
    ]
    if language:
        speakers = [profile for profile in eligible if _language_matches(profile, language)]
        if speakers:
            eligible = speakers
    eligible.sort(key=lambda profile: (profile.open_load, profile.pk))  # type: ignore[attr-defined]  # annotated
    return eligible


def route_ticket(*, ticket: Ticket, category: Category | None, language: str) -> RoutingResult:
    """Route to the category's default team and, when the team assigns by load, to its
    least-loaded eligible agent; otherwise leave the ticket unassigned for pull.

    A ticket that already has an assignee keeps it (a human chose). Saves team and assignee.
    """
    team = category.default_team if category is not None else ticket.team
    if team is None:
        return RoutingResult(team=None, assignee=None)
    with transaction.atomic():
        assignee = ticket.assignee
        if assignee is None and team.assign_by_load:
            # Lock the team's agent rows so concurrent routings count load one after another.
            list(AgentProfile.objects.select_for_update().filter(teams=team).order_by("pk").values_list("pk", flat=True))
            candidates = agent_candidates(team=team, category=category, language=language)
            assignee = candidates[0].user if candidates else None
        before = {"team": ticket.team.slug if ticket.team else None,
                  "assignee": ticket.assignee.get_username() if ticket.assignee else None}
        Ticket.objects.filter(pk=ticket.pk).update(team=team, assignee=assignee)
        ticket.team = team
        ticket.assignee = assignee
        after = {"team": team.slug, "assignee": assignee.get_username() if assignee else None}
        if before != after:
            ticket_event_record(ticket=ticket, verb="routed", actor_label="ai", before=before, after=after)
    return RoutingResult(team=team, assignee=assignee)
