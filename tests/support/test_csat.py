"""Customer satisfaction: the signed one-click rating link in reply e-mails, and the API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from support.delivery import outbound_deliver, outbound_reply_create, team_notify
from support.models import CsatRating, OutboundMessage, Team
from tests.support.delivery_helpers import ticket_with_inbound_email

pytestmark = pytest.mark.django_db
LINK = re.compile(r"(Good|Bad): https?://[^/]+(/rate/[^\s]+)")


def _delivered_reply(*, auto_submitted: bool = False, callback_url: str = "") -> OutboundMessage:
    ticket = ticket_with_inbound_email(callback_url=callback_url)
    outbound, _ = outbound_reply_create(
        ticket=ticket, body_text="Your card is on its way.", created_by=None,
        auto_submitted=auto_submitted, idempotency_key=f"csat-test:{ticket.pk}",
    )
    return outbound


def _links(message: mail.EmailMessage) -> dict[str, str]:
    return {label.lower(): path for label, path in LINK.findall(message.body)}


def test_a_reply_e_mail_carries_good_and_bad_links_and_one_click_records_the_rating(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    outbound = _delivered_reply(auto_submitted=True)
    outbound_deliver(outbound_id=outbound.pk)
    links = _links(mail.outbox[-1])
    assert set(links) == {"good", "bad"}
    assert mail.outbox[-1].body.startswith("Your card is on its way.")

    # One click on "good" records it, and the page offers a comment
    page = client.get(links["good"])
    assert page.status_code == 200 and b"comment" in page.content
    rating = CsatRating.objects.get(outbound=outbound)
    assert (rating.rating, rating.auto_sent, rating.source) == ("good", True, "email_link")

    # The optional comment is stored; a later click on "bad" replaces the rating, keeps the comment
    client.post(links["good"], {"comment": "Quick and clear"})
    client.get(links["bad"])
    rating.refresh_from_db()
    assert (rating.rating, rating.comment) == ("bad", "Quick and clear")
    assert CsatRating.objects.count() == 1
    assert outbound.ticket.events.filter(verb="csat_rated").count() == 3


def test_a_forged_or_foreign_rating_link_is_refused(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mine, other = _delivered_reply(), _delivered_reply()
    outbound_deliver(outbound_id=mine.pk)
    path = _links(mail.outbox[-1])["good"]
    token = path.split("/")[2]
    # A token edited to name another ticket's reply fails its signature
    head, _, signature = token.rpartition(":")
    forged = f"{head[:-1]}{'A' if head[-1] != 'A' else 'B'}:{signature}"
    for bad in (f"/rate/{forged}/good/", "/rate/not-a-token/good/", f"/rate/{token}/excellent/"):
        response = client.get(bad)
        assert response.status_code == 400, bad
    assert not CsatRating.objects.exists()
    assert other.pk != mine.pk


def test_a_rating_link_expires(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CSAT_LINK_MAX_AGE_DAYS = 30
    outbound = _delivered_reply()
    outbound_deliver(outbound_id=outbound.pk)
    path = _links(mail.outbox[-1])["bad"]
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        response = client.get(path)
    assert response.status_code == 400 and b"expired" in response.content
    assert not CsatRating.objects.exists()


def test_team_notifications_carry_no_rating_link(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ticket = ticket_with_inbound_email()
    team = Team.objects.create(slug="cards", name="Cards", email="cards@example.com")
    note = team_notify(team=team, subject="SLA at risk", body_text="Look at it", idempotency_key="n1", ticket=ticket)
    outbound_deliver(outbound_id=note.pk)
    assert "/rate/" not in mail.outbox[-1].body


def _token(name: str = "crm") -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_token", name, stdout=out, stderr=StringIO())
    return out.getvalue().strip().split()[-1]


def test_a_source_system_rates_the_latest_reply_through_the_api(client, settings):
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    outbound = _delivered_reply(callback_url="http://127.0.0.1:9/callback")  # a ticket of the "shop" source
    headers = {"HTTP_AUTHORIZATION": f"Token {_token('shop')}"}
    url = f"/api/v1/tickets/{outbound.ticket_id}/rating"
    # No reply delivered yet: nothing to rate
    assert client.post(url, {"rating": "good"}, content_type="application/json", **headers).status_code == 409
    OutboundMessage.objects.filter(pk=outbound.pk).update(status=OutboundMessage.Status.SENT, sent_at=timezone.now())

    response = client.post(url, {"rating": "good", "comment": "Thanks"}, content_type="application/json", **headers)

    assert response.status_code == 200
    assert response.json() == {"ticket_id": outbound.ticket_id, "reply_id": outbound.pk, "rating": "good",
                               "comment": "Thanks"}
    assert CsatRating.objects.get().source == "api"
    assert client.post(url, {"rating": "meh"}, content_type="application/json", **headers).status_code == 400
    assert client.post("/api/v1/tickets/999999/rating", {"rating": "good"}, content_type="application/json",
                       **headers).status_code == 404
    assert client.post(url, {"rating": "good"}, content_type="application/json").status_code in (401, 403)


def test_a_token_of_another_source_cannot_rate_the_ticket(client, settings):
    settings.CALLBACK_ALLOWED_HOSTS = ["127.0.0.1"]
    outbound = _delivered_reply(callback_url="http://127.0.0.1:9/callback")  # source "shop"
    OutboundMessage.objects.filter(pk=outbound.pk).update(status=OutboundMessage.Status.SENT, sent_at=timezone.now())
    email_reply = _delivered_reply()  # an e-mail customer's ticket
    OutboundMessage.objects.filter(pk=email_reply.pk).update(status=OutboundMessage.Status.SENT, sent_at=timezone.now())
    headers = {"HTTP_AUTHORIZATION": f"Token {_token('crm')}"}

    for ticket_id in (outbound.ticket_id, email_reply.ticket_id):
        response = client.post(f"/api/v1/tickets/{ticket_id}/rating", {"rating": "bad"},
                               content_type="application/json", **headers)
        assert response.status_code == 404
    assert not CsatRating.objects.exists()
