"""Shared set-up for the delivery tests: a ticket with a threaded inbound e-mail, and a loopback
HTTP receiver for callbacks with scripted answers."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.models import Customer, Message, Ticket
from tests.fakes.smtp_sink import SmtpSink

INBOUND_MESSAGE_ID = "<q2-latest@customer.example>"
INBOUND_REFERENCES = "<q1-root@customer.example> <sb-first-reply@switchboard.localhost>"


def ticket_with_inbound_email(
    *,
    subject: str = "Where is my card?",
    callback_url: str = "",
    email: str = "ada@customer.example",
) -> Ticket:
    """A ticket whose latest inbound e-mail is already part of a thread (it has References)."""
    customer, _ = Customer.objects.get_or_create(email=email, defaults={"name": "Ada Lovelace"})
    ticket = Ticket.objects.create(
        subject=subject,
        channel=Ticket.Channel.WEBHOOK if callback_url else Ticket.Channel.EMAIL,
        source="shop" if callback_url else "email",
        callback_url=callback_url,
        customer=customer,
        status=Ticket.Status.AWAITING_REVIEW,
    )
    Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.INBOUND,
        author_email=email,
        body_text="My card has not arrived.",
        message_id="<q1-root@customer.example>",
    )
    Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.INBOUND,
        author_email=email,
        body_text="Any news?",
        message_id=INBOUND_MESSAGE_ID,
        in_reply_to="<sb-first-reply@switchboard.localhost>",
        references=INBOUND_REFERENCES,
    )
    return ticket


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackReceiver:
    """A real HTTP server on 127.0.0.1 that answers with the scripted status codes in order
    (the last one repeats) and records every request."""

    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[ReceivedRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  # http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests.append(
                    ReceivedRequest(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver error")

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/switchboard/replies"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class HoldingSmtpSink(SmtpSink):
    """An SMTP sink that records each message and then holds its "250 OK" until ``release()``:
    the sender is stuck exactly between "the server has the message" and "we know it was sent"."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        recorder = self.recorder
        record = recorder.handle_DATA

        async def handle_data_and_hold(server: Any, session: Any, envelope: Any) -> str:
            answer = await record(server, session, envelope)
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            return answer

        recorder.handle_DATA = handle_data_and_hold  # type: ignore[method-assign]  # per-instance hook

    def release(self) -> None:
        self.released.set()
