"""Issue 13, point 8: intake refuses what it used to accept leniently (an ftp:// callback,
duplicate JSON keys, a body that isn't declared JSON, undecodable e-mail parts) and reads a
correctly signed chunked body instead of refusing it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from support.intake.email_ingest import email_ingest
from support.models import InboundEmail, Ticket
from tests.conftest import REPO_ROOT, wait_for
from tests.support.test_webhook import SECRET, as_body, payload, post, signed_headers

URL = "/api/v1/tickets"


@pytest.fixture(autouse=True)
def _sources(settings: Any) -> None:
    settings.WEBHOOK_SECRETS = {"shop": [SECRET]}


# --- callback URLs ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["ftp://shop.example.com/hooks", "FTP://shop.example.com/x",
                                 "file:///etc/passwd", "gopher://shop.example.com/"])
def test_a_callback_url_that_is_not_http_is_refused_at_intake(client, url):
    body = as_body(payload(callback_url=url))
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert response.json()["errors"]["callback_url"]
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_an_https_callback_url_is_still_accepted(client):
    body = as_body(payload(callback_url="https://shop.example.com/hooks"))
    assert post(client, body, signed_headers(body)).status_code == 202


# --- duplicate keys -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    b'{"external_id": "o-1", "subject": "Hi", "subject": "Refund my whole account", "body": "x",'
    b' "customer": {"email": "ada@example.com"}}',
    b'{"external_id": "o-1", "subject": "Hi", "body": "x",'
    b' "customer": {"email": "ada@example.com", "email": "attacker@example.com"}}',
], ids=["top-level", "nested"])
def test_duplicate_json_keys_are_refused_with_a_clear_message(client, body):
    response = post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert "duplicate key" in response.json()["detail"]
    assert "duplicate key" in response.json()["errors"]["body"][0]
    assert not Ticket.objects.exists()


# --- media type ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp", ""])
def test_a_body_not_declared_as_json_is_415(client, content_type):
    body = as_body(payload())
    response = client.generic("POST", URL, body, content_type=content_type, headers=signed_headers(body))
    assert response.status_code == 415
    assert response.json()["detail"] == "Content-Type must be application/json."
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_json_with_a_charset_parameter_is_accepted(client):
    body = as_body(payload())
    response = client.generic("POST", URL, body, content_type="application/json; charset=utf-8",
                              headers=signed_headers(body))
    assert response.status_code == 202


# --- chunked bodies, over real HTTP through the production server ----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn_server(transactional_db: None, settings: Any) -> Iterator[tuple[str, int]]:
    """The app under gunicorn (what the Dockerfile runs), on the test database."""
    port = _free_port()
    db = connection.settings_dict
    env = dict(os.environ)
    if settings.USING_POSTGRES:
        env["DATABASE_URL"] = (f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                               f"{db['PORT'] or 5432}/{db['NAME']}")
    env["WEBHOOK_SECRETS"] = f"shop={SECRET}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "support.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--log-level", "warning"],
        cwd=REPO_ROOT, env=env, start_new_session=True,
    )

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return process.poll() is not None  # crashed: stop waiting, the test will fail clearly

    try:
        wait_for(listening, timeout=60)
        assert process.poll() is None, "gunicorn exited"
        yield "127.0.0.1", port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)


@pytest.mark.postgres  # gunicorn runs in its own process: it shares the test database only on PostgreSQL
def test_a_correctly_signed_chunked_body_is_read_and_accepted(gunicorn_server):
    host, port = gunicorn_server
    body = as_body(payload(external_id="chunked-1"))
    headers = {**signed_headers(body), "Content-Type": "application/json"}
    pieces = [body[i:i + 17] for i in range(0, len(body), 17)]  # many small chunks

    conn = http.client.HTTPConnection(host, port, timeout=30)
    # An iterable body and no Content-Length: http.client sends Transfer-Encoding: chunked.
    conn.request("POST", URL, body=iter(pieces), headers=headers, encode_chunked=True)
    response = conn.getresponse()
    content = response.read()
    conn.close()

    assert response.status == 202, content
    ticket = Ticket.objects.get(external_id="chunked-1")
    assert ticket.source == "shop" and ticket.messages.get().body_text == payload()["body"]


# --- undecodable e-mail parts -------------------------------------------------------------------

INVALID_BASE64 = (
    b"From: Ada <ada@example.com>\r\nTo: support@switchboard.localhost\r\nSubject: Statement\r\n"
    b"Message-ID: <b64-bad@example.com>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"SGVsbG8g!!!not*base64~at#all%%%\r\nd29ybGQ\r\n"
)


@pytest.mark.django_db
def test_an_email_with_invalid_base64_is_quarantined_not_ticketed():
    result = email_ingest(raw=INVALID_BASE64, route="file")

    assert result.outcome == "quarantined"
    assert "invalid base64" in result.reason
    assert not Ticket.objects.exists()
    row = InboundEmail.objects.get()
    assert row.status == "quarantined" and bytes(row.raw) == INVALID_BASE64

    # reprocess_quarantine keeps it there (the bytes are still undecodable)
    out = StringIO()
    call_command("reprocess_quarantine", stdout=out)
    assert "quarantined: undecodable part" in out.getvalue()
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_an_invalid_base64_attachment_is_quarantined_too():
    raw = (b"From: ada@example.com\r\nSubject: Receipt\r\nMessage-ID: <b64-att@example.com>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
           b"--B\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBER i0x Lj#Q$K%\r\n--B--\r\n")
    assert email_ingest(raw=raw, route="file").outcome == "quarantined"


@pytest.mark.django_db
def test_base64_with_folded_or_space_padded_lines_is_still_read():
    raw = (b"From: ada@example.com\r\nSubject: Hi\r\nMessage-ID: <b64-ok@example.com>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"SGVsbG8g  \r\nd29ybGQ=\r\n")
    result = email_ingest(raw=raw, route="file")
    assert result.outcome == "created"
    assert Ticket.objects.get().messages.get().body_text == "Hello world"
