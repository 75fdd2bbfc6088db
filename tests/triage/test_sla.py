"""SLAs: due times (with business hours), the beat job that escalates at-risk tickets, breaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.beat import ScheduleEntry, Scheduler
from django.conf import settings as django_settings

from support.celery import app as celery_app
from support.models import Alert, Customer, OutboundMessage, Priority, SlaBreach, SlaPolicy, Team, Ticket
from triage.sla import BusinessHours, sla_apply, sla_escalate_due

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
WEEKDAYS_9_TO_5 = {"timezone": "Europe/London", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
# A Wednesday morning, UTC.
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def sla_policies(db: None) -> None:
    for priority, first, resolution in ((Priority.LOW, 24 * 60, 7 * 24 * 60), (Priority.NORMAL, 8 * 60, 3 * 24 * 60),
                                        (Priority.HIGH, 4 * 60, 24 * 60), (Priority.URGENT, 60, 8 * 60)):
        SlaPolicy.objects.create(priority=priority, first_response_minutes=first, resolution_minutes=resolution,
                                 at_risk_fraction=0.8)


@pytest.fixture
def cards(db: None) -> Team:
    return Team.objects.create(slug="cards", name="Cards", email="cards-team@example.com")


def _ticket(*, team: Team | None, priority: str = Priority.NORMAL) -> Ticket:
    customer, _ = Customer.objects.get_or_create(email="sla@example.com")
    ticket = Ticket.objects.create(subject="My card has not arrived", channel="email", source="email",
                                   customer=customer, team=team, priority=priority,
                                   status=Ticket.Status.AWAITING_REVIEW)
    sla_apply(ticket=ticket)
    return ticket


def test_due_times_follow_the_priority_policy(sla_policies: None, cards: Team) -> None:
    with time_machine.travel(T0, tick=False):
        ticket = _ticket(team=cards, priority=Priority.HIGH)
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == T0 + timedelta(hours=4)
    assert ticket.resolution_due_at == T0 + timedelta(hours=24)


def test_due_times_count_only_business_hours(sla_policies: None, cards: Team) -> None:
    # Given a team open 09:00-17:00 London on weekdays and a normal ticket (8 business hours)
    # arriving Friday 16:00, then the first response is due Monday 16:00 (1h Friday + 7h Monday).
    cards.business_hours = WEEKDAYS_9_TO_5
    cards.save()
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=LONDON)
    with time_machine.travel(friday_4pm, tick=False):
        ticket = _ticket(team=cards)
    assert ticket.first_response_due_at == datetime(2026, 11, 30, 16, 0, tzinfo=LONDON)
    # 3 x 24h = 72 business hours = 9 working days of 8h: 1h Fri, then 71h = 8 days + 7h.
    assert ticket.resolution_due_at == datetime(2026, 12, 10, 16, 0, tzinfo=LONDON)


def test_business_hours_across_a_daylight_saving_change() -> None:
    hours = BusinessHours.parse(WEEKDAYS_9_TO_5)
    assert hours is not None
    # London leaves summer time on Sunday 2026-10-25: Friday 16:00 BST + 2h = Monday 10:00 GMT.
    start = datetime(2026, 10, 23, 16, 0, tzinfo=LONDON)
    assert hours.add(start, 120) == datetime(2026, 10, 26, 10, 0, tzinfo=LONDON)
    assert hours.minutes_between(start, datetime(2026, 10, 26, 10, 0, tzinfo=LONDON)) == 120


def test_invalid_business_hours_fall_back_to_round_the_clock() -> None:
    assert BusinessHours.parse({"timezone": "Mars/Olympus", "days": [0]}) is None
    assert BusinessHours.parse({"timezone": "UTC", "start": "17:00", "end": "09:00"}) is None


def test_a_ticket_without_a_policy_for_its_priority_has_no_due_time(cards: Team) -> None:
    ticket = _ticket(team=cards)
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (None, None)


def _beat_entry() -> ScheduleEntry:
    spec = django_settings.CELERY_BEAT_SCHEDULE["escalate-sla-at-risk"]
    return ScheduleEntry(name="escalate-sla-at-risk", app=celery_app, **spec)


def test_the_beat_job_escalates_an_at_risk_ticket_once(
    sla_policies: None, cards: Team, smtp_sink: Any, django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a normal ticket (first response within 8h, at risk after 80% = 6h24m) and the beat
    # entry exactly as settings schedule it, when beat runs with time shifted by the entry's own
    # "next run in" estimate, then the task it names escalates the ticket on the first run after
    # 6h24m: priority raised, team e-mailed, marked escalated, event recorded; and never twice.
    celery_app.loader.import_default_modules()  # what beat does at start: tasks are registered
    assert "triage.tasks.sla_escalate_task" in celery_app.tasks
    scheduler = Scheduler(app=celery_app, lazy=True)
    with time_machine.travel(T0, tick=False) as traveller:
        ticket = _ticket(team=cards)
        entry = _beat_entry()
        assert entry.task == "triage.tasks.sla_escalate_task"
        at_risk_from = T0 + timedelta(hours=6, minutes=24)
        runs = 0
        escalated_run_at = None
        while datetime.now(UTC) < T0 + timedelta(hours=7):
            if runs == 5:
                # Nothing happens for hours: jump to 6h in, as a beat that kept running would be.
                traveller.move_to(T0 + timedelta(hours=6))
            is_due, next_in = entry.schedule.is_due(entry.last_run_at)
            if is_due:
                with django_capture_on_commit_callbacks(execute=True):
                    result = scheduler.apply_async(entry, advance=False)
                entry = next(entry)
                runs += 1
                if result.get() and escalated_run_at is None:
                    escalated_run_at = datetime.now(UTC)
            traveller.shift(timedelta(seconds=max(next_in, 1)))

    assert runs >= 5 + 60  # beat really ran about once a minute
    assert escalated_run_at is not None and at_risk_from <= escalated_run_at < at_risk_from + timedelta(seconds=61)
    ticket.refresh_from_db()
    assert (ticket.sla_escalated, ticket.priority) == (True, Priority.HIGH)
    assert ticket.sla_escalated_at == escalated_run_at
    assert ticket.events.filter(verb="sla_escalated").count() == 1
    notification = OutboundMessage.objects.get(ticket=ticket, kind=OutboundMessage.Kind.NOTIFICATION)
    assert notification.to_address == "cards-team@example.com"
    mails = [mail for mail in smtp_sink.messages if "cards-team@example.com" in str(mail["To"])]
    assert len(mails) == 1
    assert "SLA at risk" in str(mails[0]["Subject"]) and ticket.reference in str(mails[0]["Subject"])
    assert not SlaBreach.objects.exists()  # 7h < 8h: escalated in time, not breached


def test_a_ticket_that_is_not_yet_at_risk_is_left_alone(sla_policies: None, cards: Team) -> None:
    with time_machine.travel(T0, tick=False):
        ticket = _ticket(team=cards)
    assert sla_escalate_due(now=T0 + timedelta(hours=6, minutes=23)) == 0
    assert sla_escalate_due(now=T0 + timedelta(hours=6, minutes=24)) == 1
    ticket.refresh_from_db()
    assert ticket.sla_escalated


def test_a_ticket_escalated_to_a_manager_is_still_escalated_by_the_sla_job(sla_policies: None, cards: Team) -> None:
    # Given an agent handed the ticket to a manager before its SLA was at risk
    # (one flag used to mean both, and the SLA job skipped such tickets)
    with time_machine.travel(T0, tick=False):
        ticket = _ticket(team=cards)
    Ticket.objects.filter(pk=ticket.pk).update(escalated_to_manager=True, escalated_to_manager_at=T0)

    # When the SLA comes at risk, the job raises its priority and mails the team all the same
    assert sla_escalate_due(now=T0 + timedelta(hours=6, minutes=24)) == 1
    ticket.refresh_from_db()
    assert ticket.sla_escalated and ticket.priority == Priority.HIGH
    assert ticket.escalated_to_manager and ticket.escalated_to_manager_at == T0
    assert ticket.events.filter(verb="sla_escalated").count() == 1


def test_answered_tickets_are_not_escalated(sla_policies: None, cards: Team) -> None:
    with time_machine.travel(T0, tick=False):
        ticket = _ticket(team=cards)
    Ticket.objects.filter(pk=ticket.pk).update(first_responded_at=T0 + timedelta(hours=1),
                                               status=Ticket.Status.REPLIED)
    assert sla_escalate_due(now=T0 + timedelta(hours=7)) == 0


def test_business_hours_pause_the_clock_over_the_weekend(sla_policies: None, cards: Team) -> None:
    cards.business_hours = WEEKDAYS_9_TO_5
    cards.save()
    with time_machine.travel(datetime(2026, 11, 27, 16, 0, tzinfo=LONDON), tick=False):
        ticket = _ticket(team=cards)
    # Sunday: 1 of 8 business hours used, not at risk although 2 calendar days passed.
    assert sla_escalate_due(now=datetime(2026, 11, 29, 12, 0, tzinfo=LONDON)) == 0
    # Monday 14:30: 6.5 of 8 hours used (> 80%): at risk.
    assert sla_escalate_due(now=datetime(2026, 11, 30, 14, 30, tzinfo=LONDON)) == 1
    ticket.refresh_from_db()
    assert ticket.sla_escalated


def test_an_urgent_ticket_stays_urgent_when_escalated(sla_policies: None, cards: Team) -> None:
    with time_machine.travel(T0, tick=False):
        ticket = _ticket(team=cards, priority=Priority.URGENT)
    assert sla_escalate_due(now=T0 + timedelta(minutes=50)) == 1
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.sla_escalated) == (Priority.URGENT, True)


def test_breaches_are_recorded_once_with_an_alert(sla_policies: None, cards: Team) -> None:
    with time_machine.travel(T0, tick=False):
        unanswered = _ticket(team=cards)
        late = _ticket(team=cards)
    Ticket.objects.filter(pk=late.pk).update(first_responded_at=T0 + timedelta(hours=9), status=Ticket.Status.REPLIED)
    for hours in (9, 10, 80):
        sla_escalate_due(now=T0 + timedelta(hours=hours))
    assert set(SlaBreach.objects.values_list("ticket_id", "kind")) == {
        (unanswered.pk, SlaBreach.Kind.FIRST_RESPONSE),
        (late.pk, SlaBreach.Kind.FIRST_RESPONSE),
        (unanswered.pk, SlaBreach.Kind.RESOLUTION),
    }
    alerts = Alert.objects.filter(kind=Alert.Kind.SLA_BREACH)
    assert alerts.count() == 3
    assert unanswered.events.filter(verb="sla_breached").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_beat_runs_escalate_and_notify_once(sla_policies: None, cards: Team) -> None:
    # Given a slow beat run still going when the next one starts (or two beat processes by
    # mistake), when both run at the same moment on their own connections, then the ticket is
    # escalated once, with one event and one e-mail to the team.
    import threading

    from django.db import connection

    with time_machine.travel(T0, tick=False):
        tickets = [_ticket(team=cards) for _ in range(5)]
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(sla_escalate_due(now=T0 + timedelta(hours=7)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(results) == 5
    for ticket in tickets:
        assert ticket.events.filter(verb="sla_escalated").count() == 1
        assert OutboundMessage.objects.filter(ticket=ticket, kind=OutboundMessage.Kind.NOTIFICATION).count() == 1
        ticket.refresh_from_db()
        assert ticket.priority == Priority.HIGH  # raised one step, not once per run
