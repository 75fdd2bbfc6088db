"""An SMTP sink (aiosmtpd) that records every message it receives, for delivery tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)  # type: ignore[arg-type]  # default policy gives EmailMessage
            self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    def __init__(self) -> None:
        self.recorder = _Recorder()
        self.port = free_port()
        self.host = "127.0.0.1"
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    def start(self) -> SmtpSink:
        self._controller = Controller(self.recorder, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: the next delivery attempt gets 'connection refused', like SMTP down."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
