"""Issue 13, point 3: an API token reads and writes only its own source's tickets, and no source
can take the e-mail intake's name to look up or pre-empt customers' e-mails."""

from __future__ import annotations

from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from support.intake.email_ingest import email_ingest
from support.models import AgentProfile, ApiToken, Customer, OutboundMessage, Team, Ticket, WebhookSource
from tests.support.test_webhook import SECRET, as_body, post, signed_headers

pytestmark = pytest.mark.django_db


def token_for(name: str, *, source: str | None = None) -> dict[str, str]:
    out = StringIO()
    args = [name] + (["--source", source] if source else [])
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return {"Authorization": f"Token {out.getvalue().strip()}"}


def ticket_of(source: str, *, email: str = "grace@example.com") -> Ticket:
    customer, _ = Customer.objects.get_or_create(email=email)
    return Ticket.objects.create(subject="Hello", channel="webhook", source=source, external_id=f"{source}-1",
                                 customer=customer)


def test_a_token_reads_its_own_sources_tickets_and_no_others(client):
    shop = token_for("shop")
    own, foreign = ticket_of("shop"), ticket_of("crm", email="someone@example.com")
    email_ticket = Ticket.objects.get(pk=email_ingest(
        raw=b"From: ada@example.com\r\nSubject: Card\r\nMessage-ID: <e1@example.com>\r\n\r\nWhere?\r\n",
        route="file").ticket_id)

    assert client.get(f"/api/v1/tickets/{own.pk}", headers=shop).status_code == 200
    for other in (foreign, email_ticket):
        response = client.get(f"/api/v1/tickets/{other.pk}", headers=shop)
        assert response.status_code == 404
        assert "someone@example.com" not in response.content.decode()


def test_enumerating_ids_with_a_token_finds_only_its_own_source(client):
    crm = token_for("crm-reader", source="crm")
    tickets = [ticket_of(source) for source in ("crm", "shop", "billing")]
    found = [t.pk for t in tickets if client.get(f"/api/v1/tickets/{t.pk}", headers=crm).status_code == 200]
    assert found == [tickets[0].pk]


def test_a_token_writes_under_its_bound_source(client):
    headers = token_for("crm-writer", source="crm")
    body = {"external_id": "c-1", "subject": "Hi", "body": "Refund?", "customer": {"email": "g@example.com"}}
    response = client.post("/api/v1/tickets", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 202
    assert Ticket.objects.get(pk=response.json()["id"]).source == "crm"


def test_an_agent_reads_through_the_api_only_their_teams_tickets(client, agent_user, demo_tenant):
    teams = list(Team.objects.order_by("pk")[:2])
    profile, _ = AgentProfile.objects.get_or_create(user=agent_user)
    profile.teams.set([teams[0]])
    mine, theirs = ticket_of("shop"), ticket_of("crm", email="x@example.com")
    Ticket.objects.filter(pk=mine.pk).update(team=teams[0])
    Ticket.objects.filter(pk=theirs.pk).update(team=teams[1])
    client.force_login(agent_user)
    assert client.get(f"/api/v1/tickets/{mine.pk}").status_code == 200
    assert client.get(f"/api/v1/tickets/{theirs.pk}").status_code == 404


def test_a_token_rates_only_its_own_sources_tickets(client):
    ticket = ticket_of("crm")
    OutboundMessage.objects.create(ticket=ticket, kind=OutboundMessage.Kind.CALLBACK, status=OutboundMessage.Status.SENT,
                                   idempotency_key="r1", body_text="Done.", sent_at=timezone.now())
    url = f"/api/v1/tickets/{ticket.pk}/rating"
    other = client.post(url, {"rating": "bad"}, content_type="application/json", headers=token_for("shop"))
    assert other.status_code == 404
    own = client.post(url, {"rating": "good"}, content_type="application/json", headers=token_for("crm"))
    assert own.status_code == 200


# --- the reserved name "email" ---------------------------------------------------------------------


def test_no_token_and_no_webhook_source_can_be_named_email():
    with pytest.raises(CommandError, match="reserved"):
        token_for("mailer", source="email")
    with pytest.raises(CommandError, match="reserved"):
        token_for("email")
    user = apps.get_model("auth", "User").objects.create(username="api-x")
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(name="x", source="email", key_hash="h", prefix="p", user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookSource.objects.create(name="email", secrets=SECRET)


def test_a_source_named_email_can_neither_look_up_nor_suppress_an_email(client, settings):
    # Given an operator who configured a webhook secret under the e-mail intake's name
    settings.WEBHOOK_SECRETS = {"email": [SECRET]}
    future_id = "<real-customer-mail@example.com>"
    body = {"external_id": future_id, "subject": "x", "body": "x", "customer": {"email": "ada@example.com"}}

    # When it tries to pre-create the customer's e-mail's key: refused, nothing written
    response = post(client, as_body(body), signed_headers(as_body(body), secret=SECRET))
    assert response.status_code == 401
    assert not Ticket.objects.exists()

    # Then the real e-mail still becomes a ticket, not a "duplicate"
    raw = (f"From: ada@example.com\r\nSubject: Card\r\nMessage-ID: {future_id}\r\n\r\nWhere is it?\r\n").encode()
    assert email_ingest(raw=raw, route="file").outcome == "created"

    # And the same name can't look it up either (the replay lookup answers nothing)
    assert post(client, as_body(body), signed_headers(as_body(body), secret=SECRET)).status_code == 401


def test_the_migration_binds_old_tokens_to_their_name_and_revokes_a_reserved_one():
    migration = import_module("support.migrations.0006_intake_sender_auth_token_source")
    user = apps.get_model("auth", "User").objects.create(username="api-legacy")
    ApiToken.objects.create(name="legacy", source="", key_hash="h1", prefix="p", user=user)
    ApiToken.objects.create(name="email", source="", key_hash="h2", prefix="p", user=user)

    migration.bind_tokens_to_sources(apps, None)

    assert ApiToken.objects.get(name="legacy").source == "legacy"
    reserved = ApiToken.objects.get(name="email")
    assert (reserved.source, reserved.revoked) == ("revoked-email", True)
