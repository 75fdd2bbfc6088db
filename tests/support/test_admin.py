import hashlib

import pytest
from django.http import HttpRequest

from support.models import InboundEmail, Ticket

pytestmark = pytest.mark.django_db

RAW = (
    b"From: Rosa Costa <rosa@example.com>\r\nTo: support@switchboard.localhost\r\n"
    b"Subject: Card still not here\r\nMessage-ID: <q1@example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nMy card has not arrived after two weeks.\r\n"
)


def test_admin_reprocesses_a_quarantined_message_into_a_ticket(client, make_user, demo_tenant):
    # Given a message held back in quarantine (say, by the flood quota), with its raw bytes kept
    row = InboundEmail.objects.create(route="file", source_ref="q1.eml", raw=RAW,
                                      sha256=hashlib.sha256(RAW).hexdigest(),
                                      status=InboundEmail.Status.QUARANTINED, reason="sender over quota")
    make_user("ops", "admin")
    # django-axes refuses a login without a request (it keys attempts by address).
    client.login(request=HttpRequest(), username="ops", password="pw-for-tests-only")
    # When an admin runs the reprocess action on it
    response = client.post("/admin/support/inboundemail/",
                           {"action": "reprocess", "_selected_action": [row.pk]}, follow=True)
    # Then a ticket exists for it and the admin says so
    ticket = Ticket.objects.get(external_id="<q1@example.com>")
    assert f"created ticket={ticket.pk}".encode() in response.content
    row.refresh_from_db()
    assert row.status == InboundEmail.Status.PROCESSED
