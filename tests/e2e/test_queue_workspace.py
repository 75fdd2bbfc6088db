"""The agent's workspace around the queue in a real browser (issue 14): density, search and views,
Next ticket and the assignee, bulk triage, keyboard, macros, and the fit and finish of every page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from support.models import AgentProfile, Team, Ticket
from tests.e2e.conftest import LAPTOP, PASSWORD

pytestmark = pytest.mark.browser

TICKET_URL = re.compile(r".*/review/t/(\d+)/$")
NOISY_REASONS = [
    "no_calibrated_threshold",
    "low_confidence",
    "high_stakes_unknown",
    "policy_always_review",
    "vip_customer",
]


def _rows_fully_visible(page: Any) -> int:
    return int(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('#queue-rows tr')).filter(
                 (row) => row.getBoundingClientRect().bottom <= window.innerHeight).length"""
        )
    )


def test_it_shows_at_least_15_tickets_per_screen_at_1366x768(
    logged_in_page, make_user, make_ticket
):
    # Given 20 tickets, each with five review reasons ("No calibrated threshold" on every one)
    make_user("agent1")
    for number in range(20):
        make_ticket(
            subject=f"My card payment was declined twice at the shop, ticket {number}",
            reasons=list(NOISY_REASONS),
            due_in=timedelta(minutes=30 + number),
        )
    page = logged_in_page("agent1")

    # Then at least 15 rows fit on one laptop screen, each with one reason chip
    assert page.viewport_size == LAPTOP
    assert _rows_fully_visible(page) >= 15
    first_row = page.locator("#queue-rows tr").first
    assert first_row.locator(".reason-primary").count() == 1
    assert first_row.locator(".reason-primary").inner_text().strip() != ""
    assert "No calibrated" not in first_row.locator(".reason-primary").inner_text()
    # the rest on expand
    first_row.locator("details.reasons summary").click()
    assert first_row.get_by_text("No calibrated confidence threshold").is_visible()
    assert first_row.locator("td.age").inner_text().strip()
    assert first_row.locator("td.updated").inner_text().strip()


def test_it_does_not_overflow_the_window_at_800px(logged_in_page, make_user, make_ticket):
    make_user("agent1")
    for _ in range(3):
        make_ticket(reasons=list(NOISY_REASONS))
    page = logged_in_page("agent1")
    page.set_viewport_size({"width": 800, "height": 900})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 800


def test_next_ticket_prefers_the_ticket_the_ai_assigned_to_me(
    logged_in_page, make_user, make_ticket
):
    # Given a more urgent ticket for anyone and a less urgent one the AI assigned to agent1
    agent = make_user("agent1")
    make_ticket(subject="For anyone", due_in=timedelta(minutes=5))
    mine = make_ticket(subject="Assigned to agent1", due_in=timedelta(hours=5))
    Ticket.objects.filter(pk=mine.pk).update(assignee=agent)
    page = logged_in_page("agent1")

    # The queue shows the assignee
    row = page.locator("#queue-rows tr", has_text="Assigned to agent1")
    assert "agent1" in row.locator("td.assignee").inner_text()

    # When they press Next ticket, they get their own ticket first
    page.get_by_role("button", name="Next ticket").click()
    page.wait_for_url(TICKET_URL)
    assert page.url.endswith(f"/review/t/{mine.pk}/")


def test_an_agent_on_a_manager_page_gets_a_styled_403_with_navigation(
    logged_in_page, make_user
):
    make_user("agent1")
    page = logged_in_page("agent1")
    response = page.goto(page.url.replace("/review/", "/review/dashboard/"))
    assert response.status == 403
    assert page.get_by_role("heading", name="You can't open this page").is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").is_visible()
    # styled: the stylesheet applied (the top bar is dark)
    assert page.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_an_unknown_page_is_a_styled_404_with_navigation(logged_in_page, make_user, settings):
    settings.DEBUG = False
    make_user("agent1")
    page = logged_in_page("agent1")
    response = page.goto(page.url.replace("/review/", "/no-such-page/"))
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").is_visible()


def test_login_says_why_you_are_there_and_keeps_the_username(browser, live_server, make_user):
    make_user("agent1")
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/review/dashboard/")
        assert page.get_by_text("Please log in to see this page.").is_visible()
        page.get_by_label("Username").fill("agent1")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("alert").wait_for()
        assert page.get_by_label("Username").input_value() == "agent1"
        assert page.evaluate("document.activeElement.id") == "id_password"
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/review/dashboard/")
    finally:
        context.close()


def test_the_favicon_is_served(logged_in_page, make_user):
    make_user("agent1")
    page = logged_in_page("agent1")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href
    assert page.request.get(page.url.split("/review/")[0] + href).status == 200
    assert page.request.get(page.url.split("/review/")[0] + "/favicon.ico").status == 200


def test_no_page_logs_a_console_error(browser, live_server, make_user, make_ticket):
    # Given a manager (who may open every page) and a ticket
    make_user("boss", "manager")
    ticket = make_ticket()
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("boss")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/review/")
        for path in [
            "/review/",
            f"/review/t/{ticket.pk}/",
            "/review/audit/",
            "/review/dashboard/",
            "/review/automation/",
            "/api/docs/",
        ]:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
        # Then no page logged an error (CSP violations are console errors)
        assert errors == []
    finally:
        context.close()


def test_search_finds_by_reference_email_and_text(logged_in_page, make_user, make_ticket):
    make_user("agent1")
    refund = make_ticket(subject="Refund for a double charge", body_text="I was charged twice for coffee")
    by_mail = make_ticket(subject="Card question", customer_email="zoe@customers.example")
    other = make_ticket(subject="Something else entirely")
    page = logged_in_page("agent1")
    search = page.get_by_label("Search", exact=True)

    for query, expected in [
        (refund.reference, refund),
        ("zoe@customers.example", by_mail),
        ("charged", refund),
    ]:
        search.fill(query)
        search.press("Enter")
        expect(page.locator("#queue-rows tr a.ticket-link")).to_have_text([expected.reference])
        assert "q=" in page.url  # the search is in the address, so it can be shared and reloaded
    assert other.reference not in page.content()


def test_views_show_counts_and_narrow_the_queue(logged_in_page, make_user, make_ticket):
    agent = make_user("agent1")
    mine = make_ticket(subject="Mine to do")
    Ticket.objects.filter(pk=mine.pk).update(assignee=agent)
    make_ticket(subject="Late one", due_in=timedelta(minutes=-10))
    make_ticket(subject="Fine one")
    page = logged_in_page("agent1")
    views = page.get_by_role("navigation", name="Views")
    for label in ["My tickets", "Escalated", "Snoozed", "Pending", "Breached"]:
        assert views.get_by_role("link", name=re.compile(label)).is_visible()
    assert "(1)" in views.get_by_role("link", name=re.compile("My tickets")).inner_text()
    views.get_by_role("link", name=re.compile("Breached")).click()
    page.wait_for_url(re.compile(r".*view=breached"))
    assert page.locator("#queue-rows tr a.ticket-link").count() == 1
    assert "Late one" in page.locator("#queue-rows").inner_text()


def test_bulk_assign_asks_for_confirmation_then_assigns(logged_in_page, make_user, make_ticket):
    make_user("agent1")
    colleague = make_user("agent2")
    first, second = make_ticket(subject="First"), make_ticket(subject="Second")
    untouched = make_ticket(subject="Third")
    page = logged_in_page("agent1")
    page.get_by_label(f"Select {first.reference}").check()
    page.get_by_label(f"Select {second.reference}").check()
    page.get_by_label("Assign to").select_option(label="agent2")
    page.get_by_role("button", name="Assign").click()
    page.get_by_role("heading", name="Assign 2 tickets to agent2?").wait_for()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("2 tickets assigned to agent2.").wait_for()
    assert set(Ticket.objects.filter(assignee=colleague).values_list("pk", flat=True)) == {first.pk, second.pk}
    assert Ticket.objects.get(pk=untouched.pk).assignee is None


def test_bulk_close_as_spam_asks_then_closes_a_cards_agents_ticket(logged_in_page, make_user, make_ticket):
    agent = make_user("agent1")
    AgentProfile.objects.update_or_create(user=agent, defaults={})
    AgentProfile.objects.get(user=agent).teams.set([Team.objects.get(slug="cards")])
    spam = make_ticket(subject="Buy cheap watches")
    page = logged_in_page("agent1")
    page.get_by_label(f"Select {spam.reference}").check()
    page.get_by_role("button", name="Close as spam").click()
    page.get_by_role("heading", name="Close 1 ticket as spam?").wait_for()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("1 ticket closed as spam.").wait_for()
    assert Ticket.objects.get(pk=spam.pk).status == Ticket.Status.CLOSED


def test_question_mark_opens_the_cheat_sheet_but_not_while_typing(
    logged_in_page, make_user, make_ticket
):
    make_user("agent1")
    make_ticket()
    page = logged_in_page("agent1")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")

    # typing "?" into the search field types it, opens nothing
    page.get_by_label("Search", exact=True).type("why? s n")
    assert not dialog.is_visible()
    assert page.get_by_label("Search", exact=True).input_value() == "why? s n"
    page.keyboard.press("Escape")

    page.keyboard.press("?")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # "/" focuses the search field it opens
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-search"


def test_macro_picker_inserts_a_rendered_macro_into_the_reply(
    logged_in_page, make_user, make_ticket
):
    from review.models import Macro

    make_user("agent1")
    Macro.objects.create(
        name="Card on its way",
        body="Hello {customer_name}, your card for {ticket_reference} is on its way. {agent_name}",
    )
    ticket = make_ticket()
    page = logged_in_page("agent1")
    page.get_by_role("button", name="Next ticket").click()
    page.wait_for_url(TICKET_URL)
    reply = page.get_by_label("Reply", exact=True)
    reply.fill("")
    reply.press("Control+m")
    picker = page.get_by_role("dialog", name="Insert a macro")
    picker.wait_for()
    assert page.evaluate("document.activeElement.id") == "macro-filter"
    page.keyboard.type("card")
    page.keyboard.press("Enter")
    assert not picker.is_visible()
    assert reply.input_value() == (
        f"Hello Ana Lima, your card for {ticket.reference} is on its way. agent1"
    )
    assert page.evaluate("document.activeElement.id") == reply.get_attribute("id")
    assert User.objects.filter(username="agent1").exists()
