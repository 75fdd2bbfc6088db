"""The ticket page as an agent's workspace in a real Chromium (issue 14): customer history,
internal notes with a mention, the lifecycle, attachments and the draft diff."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile

from support.models import Attachment, OutboundMessage, Ticket
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

TICKET_URL = re.compile(r".*/review/t/(\d+)/$")


def test_customer_history_links_to_the_previous_ticket(logged_in_page, make_user, make_ticket, live_server, artifacts):
    make_user("agent1")
    older = make_ticket(subject="Card blocked abroad", customer_email="rui@customers.example")
    Ticket.objects.filter(pk=older.pk).update(status=Ticket.Status.SOLVED)
    current = make_ticket(subject="Card still blocked", customer_email="rui@customers.example")
    page = logged_in_page("agent1")
    page.goto(f"{live_server.url}/review/t/{current.pk}/")

    panel = page.get_by_role("region", name="Customer history")
    assert "2 tickets" in panel.inner_text() and "Solved" in panel.inner_text()
    page.screenshot(path=str(artifacts / "review-ticket-workspace.png"), full_page=True)
    panel.get_by_role("link", name=older.reference).click()
    page.wait_for_url(f"{live_server.url}/review/t/{older.pk}/")


def test_an_internal_note_mentions_a_colleague_who_sees_it_in_app_and_by_email(
    logged_in_page, make_user, make_ticket, live_server, smtp_sink
):
    make_user("agent1")
    make_user("bea")
    ticket = make_ticket(customer_email="ana@customers.example")
    page = logged_in_page("agent1")
    page.goto(f"{live_server.url}/review/t/{ticket.pk}/")

    note = page.get_by_label("Internal note")
    note.focus()
    page.keyboard.type("@bea please check the chargeback status")  # no shortcut fires while typing
    assert note.input_value() == "@bea please check the chargeback status"
    assert page.url.endswith(f"/review/t/{ticket.pk}/")
    page.get_by_role("button", name="Add note").click()
    page.get_by_text("Note added.").wait_for()
    assert "please check the chargeback" in page.locator("#timeline").inner_text()

    wait_for(lambda: smtp_sink.messages)
    assert [mail["To"] for mail in smtp_sink.messages] == ["bea@switchboard.localhost"]
    assert not OutboundMessage.objects.filter(to_address="ana@customers.example").exists()

    colleague = logged_in_page("bea")
    colleague.goto(f"{live_server.url}/review/t/{ticket.pk}/")
    assert "1" in colleague.locator("#mentions-link").inner_text()
    colleague.locator("#mentions-link").click()
    colleague.get_by_role("link", name=re.compile(ticket.reference)).click()
    colleague.wait_for_url(TICKET_URL)


def test_an_agent_sets_pending_then_reopens_the_ticket(logged_in_page, make_user, make_ticket, live_server):
    make_user("agent1")
    ticket = make_ticket()
    page = logged_in_page("agent1")
    page.goto(f"{live_server.url}/review/t/{ticket.pk}/")

    page.get_by_label("Set status").select_option(label="Pending on customer")
    page.get_by_role("button", name="Set status").click()
    page.get_by_text("the SLA clock is paused").first.wait_for()
    assert page.locator("#sla-due").count() == 0
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.PENDING_CUSTOMER

    page.get_by_role("button", name="Reopen ticket").click()
    page.get_by_text("Ticket reopened.").wait_for()
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.AWAITING_REVIEW
    assert "Reopened" in page.locator("#timeline").inner_text()


def test_attachments_download_and_images_preview_without_running_anything(
    logged_in_page, make_user, make_ticket, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    make_user("agent1")
    ticket = make_ticket()
    message = ticket.messages.first()
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
        b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\x81\x1c\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    for name, kind, payload in [("card.png", "image/png", png), ("note.txt", "text/plain", b"hello")]:
        attachment = Attachment(message=message, filename=name, content_type=kind, size=len(payload))
        attachment.file.save(name, ContentFile(payload), save=True)
    page = logged_in_page("agent1")
    page.goto(f"{live_server.url}/review/t/{ticket.pk}/")

    preview = page.get_by_role("img", name="Preview of card.png")
    wait_for(lambda: preview.evaluate("image => image.naturalWidth") == 1)
    with page.expect_download() as download:
        page.get_by_role("link", name="note.txt").click()
    assert download.value.suggested_filename == "note.txt"


def test_the_review_history_shows_what_the_agent_changed_in_the_draft(
    logged_in_page, make_user, make_ticket, live_server
):
    make_user("agent1")
    make_ticket()
    page = logged_in_page("agent1")
    page.get_by_role("button", name="Next ticket").click()
    page.wait_for_url(TICKET_URL)
    reply = page.get_by_label("Reply")
    reply.fill(reply.input_value().replace("5 working days", "3 working days"))
    page.get_by_role("button", name="Approve & send").click()
    page.get_by_text("Reply approved").wait_for()

    page.get_by_text("Changes to the AI draft").click()
    assert page.locator(".draft-diff del").first.inner_text() == "5"
    assert page.locator(".draft-diff ins").first.inner_text() == "3"
