"""ingest_email (.eml, mbox, Maildir), reprocess_quarantine: per-message lines, summary, exit status."""

from __future__ import annotations

import mailbox
import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from support.models import InboundEmail, Ticket

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email"
LINE = re.compile(r"^(?P<source>\S+) (?P<what>created ticket=\d+|threaded ticket=\d+|ignored: .+|quarantined: .+)$")
SUMMARY = re.compile(r"^summary: (\d+) messages, (\d+) created, (\d+) threaded, (\d+) ignored, (\d+) quarantined$")
BATCH = ["multipart_alternative.eml", "malformed_mime.eml", "precedence_bulk.eml", "reply_in_reply_to.eml",
         "windows_1252.eml"]


def run(path: Path) -> list[str]:
    out = StringIO()
    call_command("ingest_email", str(path), stdout=out)
    return out.getvalue().splitlines()


def check_lines(lines: list[str], sources: list[str]) -> list[str]:
    *messages, summary = lines
    assert SUMMARY.match(summary), summary
    matches = [LINE.match(line) for line in messages]
    assert all(matches), messages
    assert [match["source"] for match in matches] == sources  # type: ignore[index]
    return [match["what"] for match in matches]  # type: ignore[index]


@pytest.mark.django_db
def test_a_single_eml_file(tmp_path):
    lines = run(CORPUS / "multipart_alternative.eml")
    [what] = check_lines(lines, ["multipart_alternative.eml"])
    ticket = Ticket.objects.get()
    assert what == f"created ticket={ticket.pk}"
    assert lines[-1] == "summary: 1 messages, 1 created, 0 threaded, 0 ignored, 0 quarantined"


@pytest.mark.django_db
def test_an_mbox_reports_each_message_by_index_and_one_bad_message_does_not_stop_it(tmp_path):
    box = mailbox.mbox(str(tmp_path / "inbox.mbox"))
    for name in BATCH:
        box.add((CORPUS / name).read_bytes())
    box.flush()

    lines = run(tmp_path / "inbox.mbox")

    whats = check_lines(lines, ["1", "2", "3", "4", "5"])
    assert whats[0].startswith("created ticket=")
    assert whats[1].startswith("quarantined: malformed MIME")
    assert whats[2] == "ignored: precedence: bulk"
    assert whats[3] == whats[0].replace("created", "threaded")  # the reply joins the first ticket
    assert whats[4].startswith("created ticket=")
    assert lines[-1] == "summary: 5 messages, 2 created, 1 threaded, 1 ignored, 1 quarantined"
    assert InboundEmail.objects.filter(source_ref="inbox.mbox:2", status="quarantined").exists()


@pytest.mark.django_db
def test_a_maildir_reports_each_message_by_file_name(tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    keys = [box.add((CORPUS / name).read_bytes()) for name in BATCH[:3]]

    lines = run(tmp_path / "Maildir")

    whats = check_lines(lines, sorted(keys))
    assert sorted(what.split(" ")[0].rstrip(":") for what in whats) == ["created", "ignored", "quarantined"]
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_directory_of_eml_files(tmp_path):
    for name in BATCH[:2]:
        shutil.copy(CORPUS / name, tmp_path / name)
    lines = run(tmp_path)
    check_lines(lines, sorted(BATCH[:2]))


@pytest.mark.django_db
def test_running_it_again_creates_nothing_new(tmp_path):
    run(CORPUS / "shift_jis.eml")
    lines = run(CORPUS / "shift_jis.eml")
    [what] = check_lines(lines, ["shift_jis.eml"])
    assert what.startswith("ignored: duplicate")
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_an_unreadable_path_is_the_only_failure(tmp_path):
    with pytest.raises(CommandError, match="can't read"):
        call_command("ingest_email", str(tmp_path / "missing.mbox"), stdout=StringIO())
    locked = tmp_path / "locked.eml"
    locked.write_bytes(b"From: a@example.com\n\nhi")
    locked.chmod(0)
    try:
        if not locked.stat().st_mode & 0o444 and not _is_root():
            with pytest.raises(CommandError):
                call_command("ingest_email", str(locked), stdout=StringIO())
    finally:
        locked.chmod(0o644)


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


@pytest.mark.django_db
def test_an_empty_file_is_a_quarantined_message_not_a_failure(tmp_path):
    (tmp_path / "empty.eml").write_bytes(b"")
    assert run(tmp_path / "empty.eml") == [
        "empty.eml quarantined: empty message",
        "summary: 1 messages, 0 created, 0 threaded, 0 ignored, 1 quarantined",
    ]


@pytest.mark.django_db
def test_an_empty_maildir_is_not_an_error(tmp_path):
    mailbox.Maildir(str(tmp_path / "Maildir"))
    assert run(tmp_path / "Maildir") == ["summary: 0 messages, 0 created, 0 threaded, 0 ignored, 0 quarantined"]


@pytest.mark.django_db
def test_reprocess_quarantine_prints_one_line_per_message(settings):
    settings.EMAIL_SENDER_QUOTA_PER_HOUR = 1
    run(CORPUS / "multipart_alternative.eml")
    run(CORPUS / "reply_in_reply_to.eml")  # same sender, over quota
    row = InboundEmail.objects.get(status="quarantined")
    settings.EMAIL_SENDER_QUOTA_PER_HOUR = 20

    out = StringIO()
    call_command("reprocess_quarantine", str(row.pk), stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == f"inbound={row.pk} threaded ticket={Ticket.objects.get().pk}"  # the reply joins Ada's ticket
    assert lines[-1] == "summary: 1 messages, 0 created, 1 threaded, 0 ignored, 0 quarantined"
