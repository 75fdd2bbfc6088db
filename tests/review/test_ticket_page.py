"""The ticket page as an agent's workspace (issue 14): customer history, internal notes and
mentions, the lifecycle, attachments, the draft diff, and a fixed query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from review import services
from review.models import Mention, TicketNote
from review.services.lifecycle import ticket_reopen, ticket_status_set
from review.services.notes import mentioned_usernames, note_add
from support.models import AgentProfile, Attachment, Message, OutboundMessage, SlaPolicy, Team, Ticket


@pytest.fixture
def agent_client(client, agent_user):
    client.force_login(agent_user)
    return client


def _page(client, ticket) -> str:
    response = client.get(reverse("review:ticket", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- Customer history ----------------------------------------------------------------------------


def test_it_lists_the_customers_previous_tickets_with_counts_and_links(agent_client, make_review_ticket):
    email = "repeat@customers.example"
    older = make_review_ticket(subject="Old card question", customer_email=email)
    Ticket.objects.filter(pk=older.pk).update(status=Ticket.Status.SOLVED)
    current = make_review_ticket(subject="New card question", customer_email=email)
    make_review_ticket(subject="Someone else's ticket")

    html = _page(agent_client, current)

    assert "Customer history" in html
    assert reverse("review:ticket", args=[older.pk]) in html and "Old card question" in html
    assert "Someone else" not in html
    assert "2 tickets · 1 open · 1 solved or closed" in html
    assert "Solved" in html and "Card arrival" in html


def test_it_hides_previous_tickets_of_teams_the_agent_does_not_work_for(
    client, make_user, make_review_ticket, catalogue
):
    agent = make_user("cards-only")
    AgentProfile.objects.create(user=agent).teams.set([Team.objects.get(slug="cards")])
    email = "both@customers.example"
    make_review_ticket(subject="Secret payout change", customer_email=email, team_slug="payments",
                       category_slug="failed_transfer")
    current = make_review_ticket(subject="Card", customer_email=email)
    client.force_login(agent)

    assert "Secret payout change" not in _page(client, current)


# --- Internal notes and mentions -----------------------------------------------------------------


def test_it_adds_an_internal_note_that_is_never_sent_to_the_customer(agent_client, agent_user, make_review_ticket):
    ticket = make_review_ticket()

    response = agent_client.post(reverse("review:note", args=[ticket.pk]), {"body": "Called the bank, waiting."})

    assert response.status_code == 302
    assert TicketNote.objects.get(ticket=ticket).author == agent_user
    assert not OutboundMessage.objects.filter(ticket=ticket).exists()
    assert not Message.objects.filter(ticket=ticket, direction="out").exists()
    html = _page(agent_client, ticket)
    assert "Called the bank, waiting." in html and "Internal note" in html and "Add note" in html


def test_it_notifies_a_mentioned_colleague_by_email_and_in_app(
    agent_client, agent_user, make_user, make_review_ticket, client
):
    colleague = make_user("bea")
    ticket = make_review_ticket()

    note_add(ticket_id=ticket.pk, author=agent_user, body="@bea can you check the chargeback? cc @nobody")

    mention = Mention.objects.get()
    assert mention.user == colleague
    notification = OutboundMessage.objects.get(ticket=ticket)
    assert notification.kind == "notification" and notification.to_address == "bea@switchboard.localhost"
    assert "chargeback" in notification.body_text
    client.force_login(colleague)
    page = client.get(reverse("review:mentions")).content.decode()
    assert ticket.reference in page and "1 unread" in page


def test_it_does_not_mention_a_colleague_who_cannot_see_the_ticket(agent_user, make_user, make_review_ticket):
    outsider = make_user("payments-only")
    AgentProfile.objects.create(user=outsider).teams.set([Team.objects.get(slug="payments")])
    ticket = make_review_ticket()

    note_add(ticket_id=ticket.pk, author=agent_user, body="@payments-only look")

    assert not Mention.objects.exists() and not OutboundMessage.objects.exists()


def test_mentioned_usernames_ignores_email_addresses():
    assert mentioned_usernames("ask @ana and @bo.b, not ana@example.com") == ["ana", "bo.b"]


def test_it_shows_escalation_reject_and_override_notes_in_the_timeline(
    agent_client, agent_user, make_review_ticket
):
    ticket = make_review_ticket()
    services.review_claim(ticket_id=ticket.pk, agent=agent_user)
    services.review_override(ticket_id=ticket.pk, agent=agent_user, priority="high", note="Urgent really")
    services.review_reject(ticket_id=ticket.pk, agent=agent_user, reason_code="tone", note="Too chirpy")

    html = _page(agent_client, ticket)

    assert "Urgent really" in html and "Too chirpy" in html


# --- Lifecycle -----------------------------------------------------------------------------------


def test_pending_on_customer_pauses_the_sla_clock_and_resuming_moves_it(agent_user, make_review_ticket):
    ticket = make_review_ticket(due_in=timedelta(hours=1))
    due = ticket.first_response_due_at

    ticket_status_set(ticket_id=ticket.pk, agent=agent_user, status="pending_customer")
    paused = Ticket.objects.get(pk=ticket.pk)
    assert paused.sla_paused_at is not None and not paused.sla_running
    Ticket.objects.filter(pk=ticket.pk).update(sla_paused_at=timezone.now() - timedelta(hours=2))
    ticket_reopen(ticket_id=ticket.pk, agent=agent_user)

    resumed = Ticket.objects.get(pk=ticket.pk)
    assert resumed.sla_paused_at is None and resumed.status == Ticket.Status.AWAITING_REVIEW
    assert resumed.first_response_due_at - due >= timedelta(hours=2)
    assert "reopened_by_agent" in resumed.review_reasons


def test_solving_stops_the_sla_and_any_closed_ticket_can_be_reopened(agent_client, agent_user, make_review_ticket):
    ticket = make_review_ticket()

    agent_client.post(reverse("review:status", args=[ticket.pk]), {"status": "solved"})
    solved = Ticket.objects.get(pk=ticket.pk)
    assert solved.status == "solved" and solved.resolved_at is not None
    assert 'id="sla-due"' not in _page(agent_client, ticket)

    agent_client.post(reverse("review:reopen", args=[ticket.pk]))
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.AWAITING_REVIEW


def test_status_changes_respect_team_visibility(client, make_user, make_review_ticket):
    agent = make_user("cards-only")
    AgentProfile.objects.create(user=agent).teams.set([Team.objects.get(slug="cards")])
    other = make_review_ticket(team_slug="payments", category_slug="failed_transfer")
    client.force_login(agent)

    assert client.post(reverse("review:status", args=[other.pk]), {"status": "solved"}).status_code == 404
    assert client.post(reverse("review:reopen", args=[other.pk])).status_code == 404
    with pytest.raises(Ticket.DoesNotExist):
        ticket_status_set(ticket_id=other.pk, agent=agent, status="solved")
    assert Ticket.objects.get(pk=other.pk).status == Ticket.Status.AWAITING_REVIEW


def test_a_colleagues_live_claim_blocks_a_status_change(agent_user, make_user, make_review_ticket):
    colleague = make_user("bea")
    ticket = make_review_ticket()
    services.review_claim(ticket_id=ticket.pk, agent=colleague)

    with pytest.raises(services.ClaimHeldError):
        ticket_status_set(ticket_id=ticket.pk, agent=agent_user, status="on_hold")


# --- Attachments ---------------------------------------------------------------------------------


def _attach(ticket, *, filename: str, content_type: str, payload: bytes) -> Attachment:
    message = ticket.messages.first()
    attachment = Attachment(message=message, filename=filename, content_type=content_type, size=len(payload))
    attachment.file.save(filename, ContentFile(payload), save=True)
    return attachment


def test_it_serves_attachments_as_downloads_with_the_allow_listed_type(
    agent_client, make_review_ticket, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_review_ticket()
    pdf = _attach(ticket, filename="statement.pdf", content_type="application/pdf", payload=b"%PDF-1.4 x")

    response = agent_client.get(reverse("review:attachment", args=[ticket.pk, pdf.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;") and "statement.pdf" in response["Content-Disposition"]
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"%PDF-1.4 x"
    assert "statement.pdf" in _page(agent_client, ticket)


def test_it_previews_raster_images_but_never_svg_or_unlisted_types(
    agent_client, make_review_ticket, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_review_ticket()
    png = _attach(ticket, filename="card.png", content_type="image/png", payload=b"\x89PNG\r\n\x1a\nx")
    svg = _attach(ticket, filename="x.svg", content_type="image/svg+xml", payload=b"<svg onload=alert(1)>")

    inline = agent_client.get(reverse("review:attachment", args=[ticket.pk, png.pk]), {"inline": "1"})
    assert inline["Content-Disposition"].startswith("inline")
    assert agent_client.get(reverse("review:attachment", args=[ticket.pk, svg.pk]), {"inline": "1"}).status_code == 404
    html = _page(agent_client, ticket)
    assert f"{reverse('review:attachment', args=[ticket.pk, png.pk])}?inline=1" in html
    assert f"{reverse('review:attachment', args=[ticket.pk, svg.pk])}?inline=1" not in html


# --- Draft diff ----------------------------------------------------------------------------------


def test_the_review_history_shows_the_diff_between_draft_and_sent_reply(
    agent_client, agent_user, make_review_ticket
):
    ticket = make_review_ticket()
    services.review_claim(ticket_id=ticket.pk, agent=agent_user)
    draft = ticket.triage_decisions.get().reply_draft
    services.review_approve(ticket_id=ticket.pk, agent=agent_user, body_text=draft.replace("5 working", "3 working"))

    html = _page(agent_client, ticket)

    assert "<del>5</del>" in html and "<ins>3</ins>" in html


# --- Query count ---------------------------------------------------------------------------------


def _grow(ticket, agent, *, size: int, settings) -> None:
    for number in range(size):
        note_add(ticket_id=ticket.pk, author=agent, body=f"note {number}")
        Message.objects.create(ticket=ticket, direction="in", body_text=f"more {number}")
        _attach(ticket, filename=f"f{number}.png", content_type="image/png", payload=b"\x89PNG\r\n\x1a\n")


def test_the_ticket_page_costs_the_same_queries_with_more_history_notes_and_attachments(
    agent_client, agent_user, make_review_ticket, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    small = make_review_ticket(customer_email="small@customers.example")
    big = make_review_ticket(customer_email="big@customers.example")
    _grow(small, agent_user, size=1, settings=settings)
    _grow(big, agent_user, size=6, settings=settings)
    for _ in range(6):
        make_review_ticket(customer_email="big@customers.example")

    counts = []
    for ticket in (small, big):
        with CaptureQueriesContext(connection) as queries:
            _page(agent_client, ticket)
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


# --- Category correction and regenerate ----------------------------------------------------------


def test_regenerate_draft_writes_a_new_draft_for_the_corrected_category_and_keeps_the_ais(
    agent_client, agent_user, make_review_ticket
):
    ticket = make_review_ticket()
    services.review_claim(ticket_id=ticket.pk, agent=agent_user)
    agent_client.post(reverse("review:override", args=[ticket.pk]), {"category": "failed_transfer"})
    assert "Regenerate draft" in _page(agent_client, ticket)
    ai_draft = ticket.triage_decisions.get().reply_draft

    agent_client.post(reverse("review:regenerate", args=[ticket.pk]))

    html = _page(agent_client, ticket)
    reply = html.split('id="reply"', 1)[1].split("</textarea>", 1)[0]
    assert "5 working days" not in reply and "Hello" in reply
    assert ticket.triage_decisions.get().reply_draft == ai_draft


def test_correcting_the_team_alone_keeps_the_category_and_reapplies_the_sla(
    agent_user, make_review_ticket
):
    SlaPolicy.objects.create(priority="normal", first_response_minutes=600, resolution_minutes=2880)
    ticket = make_review_ticket(reasons=["low_confidence", "customer_replied"], due_in=timedelta(minutes=5))
    services.review_claim(ticket_id=ticket.pk, agent=agent_user)

    services.review_override(ticket_id=ticket.pk, agent=agent_user, team=Team.objects.get(slug="payments"))

    ticket.refresh_from_db()
    assert ticket.category.slug == "card_arrival" and ticket.team.slug == "payments"
    assert "customer_replied" in ticket.review_reasons
    assert ticket.first_response_due_at - ticket.created_at == timedelta(minutes=600)
