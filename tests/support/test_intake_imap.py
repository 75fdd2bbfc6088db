"""poll_imap against a loopback IMAP server (the external system, faked at the network boundary)."""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from imap_tools.errors import MailboxFlagError

from support.models import InboundEmail, Ticket

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email"


class FakeImap:
    """Just enough IMAP4rev1 for imap-tools: LOGIN, SELECT, UID SEARCH/FETCH/STORE, EXPUNGE, LOGOUT."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = {uid: raw for uid, raw in enumerate(messages, start=1)}
        self.seen: set[int] = set()
        self.log: list[str] = []
        self.fail_store_once = False
        imap = self

        class Handler(socketserver.StreamRequestHandler):
            def send(self, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()

            def handle(self) -> None:
                self.send(b"* OK fake IMAP ready\r\n")
                while line := self.rfile.readline():
                    tag, _, rest = line.decode().strip().partition(" ")
                    command, _, args = rest.partition(" ")
                    if not imap.respond(self, tag, command.upper(), args):
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def respond(self, conn: Any, tag: str, command: str, args: str) -> bool:
        ok = f"{tag} OK done\r\n".encode()
        if command == "CAPABILITY":
            conn.send(b"* CAPABILITY IMAP4rev1\r\n" + ok)
        elif command in {"LOGIN", "EXPUNGE", "CLOSE", "NOOP"}:
            conn.send(ok)
        elif command == "SELECT":
            conn.send(f"* {len(self.messages)} EXISTS\r\n* 0 RECENT\r\n".encode() + ok)
        elif command == "LOGOUT":
            conn.send(b"* BYE\r\n" + ok)
            return False
        elif command == "UID":
            sub, _, rest = args.partition(" ")
            sub = sub.upper()
            if sub == "SEARCH":
                unseen = " ".join(str(uid) for uid in sorted(self.messages) if uid not in self.seen)
                conn.send(f"* SEARCH {unseen}\r\n".encode() + ok)
            elif sub == "FETCH":
                uid = int(rest.split(" ")[0])
                self.log.append(f"FETCH {uid}")
                raw = self.messages[uid]
                flags = "(\\Seen)" if uid in self.seen else "()"
                conn.send(f"* {uid} FETCH (UID {uid} FLAGS {flags} RFC822.SIZE {len(raw)} BODY[] {{{len(raw)}}}\r\n"
                          .encode() + raw + b")\r\n" + ok)
            elif sub == "STORE":
                uid = int(rest.split(" ")[0])
                if self.fail_store_once:
                    self.fail_store_once = False
                    conn.send(f"{tag} NO store failed\r\n".encode())
                    return True
                self.log.append(f"STORE {uid}")
                self.seen.add(uid)
                conn.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))\r\n".encode() + ok)
            else:
                conn.send(f"{tag} BAD unknown\r\n".encode())
        else:
            conn.send(f"{tag} BAD unknown\r\n".encode())
        return True

    def __enter__(self) -> FakeImap:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def imap(settings: Any) -> Iterator[FakeImap]:
    names = ["multipart_alternative.eml", "malformed_mime.eml", "shift_jis.eml"]
    with FakeImap([(CORPUS / name).read_bytes() for name in names]) as server:
        settings.IMAP_HOST, settings.IMAP_PORT, settings.IMAP_SSL = "127.0.0.1", server.port, False
        settings.IMAP_USER, settings.IMAP_PASSWORD, settings.IMAP_FOLDER = "desk", "secret", "INBOX"
        yield server


def poll() -> list[str]:
    out = StringIO()
    call_command("poll_imap", stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_poll_imap_stores_every_message_then_marks_it_seen(imap):
    lines = poll()

    assert re.match(r"^imap:INBOX:1 created ticket=\d+$", lines[0])
    assert lines[1].startswith("imap:INBOX:2 quarantined: malformed MIME")
    assert re.match(r"^imap:INBOX:3 created ticket=\d+$", lines[2])
    assert lines[3] == "summary: 3 messages, 2 created, 0 threaded, 0 ignored, 1 quarantined"
    assert imap.log == ["FETCH 1", "STORE 1", "FETCH 2", "STORE 2", "FETCH 3", "STORE 3"]
    assert imap.seen == {1, 2, 3}
    assert InboundEmail.objects.filter(route="imap").count() == 3
    assert poll()[-1].startswith("summary: 0 messages")  # nothing unseen is left


@pytest.mark.django_db
def test_a_failed_seen_flag_means_a_harmless_refetch(imap):
    imap.fail_store_once = True
    with pytest.raises(MailboxFlagError):
        poll()  # the connection dropped right after the first message was stored
    assert Ticket.objects.count() == 1 and imap.seen == set()

    lines = poll()

    assert lines[0].startswith("imap:INBOX:1 ignored: duplicate")
    assert Ticket.objects.count() == 2  # message 1 once, message 3 once
    assert imap.seen == {1, 2, 3}
