"""IMAP polling with imap-tools: fetch unseen mail, store it, then mark it seen.

A message is flagged \\Seen only after ``email_ingest`` committed it, so a crash between the two
means a re-fetch next time, which the pipeline recognises as a duplicate Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from imap_tools import AND, MailBox, MailBoxUnencrypted, MailMessage, MailMessageFlags

from support.intake.email_ingest import IngestResult, email_ingest


class RawMailMessage(MailMessage):
    """imap-tools' message, keeping the exact bytes the server sent."""

    def __init__(self, fetch_data: list[Any]) -> None:
        super().__init__(fetch_data)
        self.raw_bytes: bytes = self._get_message_data_parts(fetch_data)[0]


def imap_poll(*, limit: int = 500, on_result: Callable[[str, IngestResult], None] | None = None) -> list[IngestResult]:
    """Ingest up to ``limit`` unseen messages from ``IMAP_FOLDER``. Returns one result per message."""
    results: list[IngestResult] = []
    mailbox_class = MailBox if settings.IMAP_SSL else MailBoxUnencrypted
    mailbox = mailbox_class(settings.IMAP_HOST, port=settings.IMAP_PORT)
    mailbox.email_message_class = RawMailMessage
    with mailbox.login(settings.IMAP_USER, settings.IMAP_PASSWORD, initial_folder=settings.IMAP_FOLDER):
        for message in mailbox.fetch(AND(seen=False), mark_seen=False, limit=limit, bulk=False):
            source_ref = f"imap:{settings.IMAP_FOLDER}:{message.uid}"
            raw = message.raw_bytes if isinstance(message, RawMailMessage) else message.obj.as_bytes()
            result = email_ingest(raw=raw, route="imap", source_ref=source_ref)
            # Stored (committed) first, flagged second: the order is the durability guarantee.
            if message.uid:
                mailbox.flag(message.uid, MailMessageFlags.SEEN, True)
            results.append(result)
            if on_result is not None:
                on_result(source_ref, result)
    return results
