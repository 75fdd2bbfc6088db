"""Tickets reach the triage worker after commit, through Redis and a real worker."""

import pytest

from support.models import Ticket
from support.services import ticket_create
from tests.conftest import wait_for


@pytest.mark.worker
def test_a_new_ticket_is_triaged_by_a_real_worker(celery_worker, demo_tenant):
    ticket, created = ticket_create(subject="Card not arrived", body_text="I am still waiting on my card?",
                                    customer_email="ada@example.com", channel="email", source="email",
                                    external_id="<w1@example.com>")
    assert created
    wait_for(lambda: Ticket.objects.get(pk=ticket.pk).status not in {"new", "triaging"})
    assert Ticket.objects.get(pk=ticket.pk).triage_decisions.filter(is_final=True).count() == 1


@pytest.mark.django_db
def test_a_retried_delivery_returns_the_same_ticket(demo_tenant):
    first, created_first = ticket_create(subject="s", body_text="b", customer_email="a@example.com",
                                         channel="webhook", source="shop", external_id="order-1")
    again, created_again = ticket_create(subject="s", body_text="b", customer_email="a@example.com",
                                         channel="webhook", source="shop", external_id="order-1")
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert Ticket.objects.count() == 1
