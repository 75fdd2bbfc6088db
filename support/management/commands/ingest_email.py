"""``python manage.py ingest_email PATH``: a .eml file, an mbox file, or a Maildir (or a folder of .eml)."""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from support.intake.email_ingest import IngestResult, email_ingest


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def messages_read(path: Path) -> Iterator[tuple[str, bytes | Exception]]:
    """(source, raw bytes) per message; a message that can't even be read yields its exception."""
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new")):
            maildir = mailbox.Maildir(str(path), factory=None, create=False)
            for key in sorted(maildir.keys()):
                try:
                    yield key, maildir.get_bytes(key)
                except Exception as exc:  # a vanished or unreadable file: report it, carry on
                    yield key, exc
            return
        for file in sorted(path.glob("*.eml")):
            try:
                yield file.name, file.read_bytes()
            except OSError as exc:
                yield file.name, exc
        return
    if _is_mbox(path):
        box = mailbox.mbox(str(path), factory=None, create=False)
        for index, key in enumerate(box.keys(), start=1):
            try:
                yield str(index), box.get_bytes(key)
            except Exception as exc:
                yield str(index), exc
        return
    yield path.name, path.read_bytes()


class Command(BaseCommand):
    help = (
        "Ingest e-mail from a .eml file, an mbox file or a Maildir directory. Prints one line per "
        "message: '<source> created ticket=<id>' | 'threaded ticket=<id>' | 'ignored: <reason>' | "
        "'quarantined: <reason>', then a summary. Exits non-zero only if PATH can't be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A .eml file, an mbox file, a Maildir, or a directory of .eml files.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            if not path.exists():
                raise OSError(f"no such file or directory: {path}")
            if path.is_file():
                with path.open("rb"):
                    pass
            messages = messages_read(path)
            first = next(messages, None)
        except OSError as exc:
            raise CommandError(f"can't read {path}: {exc}") from exc
        counts: Counter[str] = Counter()
        if first is not None:
            for source, raw in _chain(first, messages):
                if isinstance(raw, Exception):
                    result = IngestResult("quarantined", reason=f"unreadable: {raw}")
                else:
                    result = email_ingest(raw=raw, route="file", source_ref=f"{path.name}:{source}")
                counts[result.outcome] += 1
                self.stdout.write(f"{source} {result.describe()}")
        total = sum(counts.values())
        self.stdout.write(
            f"summary: {total} messages, {counts['created']} created, {counts['threaded']} threaded, "
            f"{counts['ignored']} ignored, {counts['quarantined']} quarantined"
        )


def _chain(first: tuple[str, bytes | Exception], rest: Iterator[tuple[str, bytes | Exception]]
           ) -> Iterator[tuple[str, bytes | Exception]]:
    yield first
    yield from rest
