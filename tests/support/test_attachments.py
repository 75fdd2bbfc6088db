"""Point 6 of issue 13: an attachment's type is sniffed from its bytes, not taken from the sender."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from support.intake.attachments import attachment_refusal
from support.intake.email_ingest import email_ingest
from support.models import Attachment, TicketEvent
from tests.support.test_email_ingest import make_email

ALLOWED = {"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain", "text/csv"}
# A real 1x1 PNG and a minimal PDF.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
HTML_WITH_SCRIPT = b"<html><body><script>fetch('/review/').then(r=>r.text())</script></body></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 44
SVG_WITH_ONLOAD = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><rect/></svg>'


def refusal(filename: str, declared: str, payload: bytes) -> str:
    return attachment_refusal(filename=filename, declared_type=declared, payload=payload, allowed_types=ALLOWED)


@pytest.mark.parametrize(
    ("filename", "declared", "payload"),
    [
        ("photo.png", "image/png", HTML_WITH_SCRIPT),
        ("invoice.png.exe", "image/png", ELF),
        ("statement.pdf", "application/pdf", SVG_WITH_ONLOAD),
        ("receipt.png", "image/png", PDF),  # a real file, the wrong real type
        ("notes.txt", "text/plain", HTML_WITH_SCRIPT),
        ("data.csv", "text/csv", SVG_WITH_ONLOAD),
        ("notes.txt", "text/plain", ELF),
        ("notes.txt", "text/plain", b"just text\x00\x01\x02 with binary"),
        ("invoice.png.exe", "image/png", PNG),  # genuine bytes, executable name
    ],
)
def test_a_mismatched_attachment_is_refused(filename, declared, payload):
    assert refusal(filename, declared, payload)


@pytest.mark.parametrize(
    ("filename", "declared", "payload"),
    [
        ("scan.png", "image/png", PNG),
        ("statement.pdf", "application/pdf", PDF),
        ("statement.pdf", "application/x-pdf", PDF),
        ("notes.txt", "text/plain", "Ma carte a été débitée deux fois, 42,00 € <- voir ci-dessous\n".encode()),
        ("export.csv", "text/csv", b"date,amount\n2024-05-01,42.00\n"),
        ("export.csv", "text/plain", b"date,amount\n2024-05-01,42.00\n"),
        ("README", "text/plain", b"no extension is fine\n"),
    ],
)
def test_a_genuine_attachment_is_accepted(filename, declared, payload):
    assert refusal(filename, declared, payload) == ""


def test_a_type_off_the_allow_list_is_refused_even_when_genuine():
    assert "not allowed" in refusal("page.svg", "image/svg+xml", SVG_WITH_ONLOAD)


@pytest.mark.django_db
def test_the_three_attacks_are_dropped_with_a_note_and_genuine_files_kept(settings, tmp_path):
    # Given one e-mail carrying the three disguised files and a real PNG and PDF
    settings.MEDIA_ROOT = tmp_path
    raw = make_email(sender="Mallory <mallory@example.com>", subject="Invoice attached",
                     msg_id="<attachments-attack@example.com>", body="Please see the attached files.")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    message.add_attachment(HTML_WITH_SCRIPT, maintype="image", subtype="png", filename="photo.png")
    message.add_attachment(ELF, maintype="image", subtype="png", filename="invoice.png.exe")
    message.add_attachment(SVG_WITH_ONLOAD, maintype="application", subtype="pdf", filename="statement.pdf")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="scan.png")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="bank-letter.pdf")

    # When it is ingested
    result = email_ingest(raw=message.as_bytes(), route="file", source_ref="test")

    # Then the disguised files are dropped (no file stored) and the real ones kept byte for byte
    rows = {row.filename: row for row in Attachment.objects.all()}
    for name in ("photo.png", "invoice.png.exe", "statement.pdf"):
        assert rows[name].dropped_reason and not rows[name].file, name
    assert rows["photo.png"].dropped_reason.startswith("declared image/png but the content is not")
    assert rows["invoice.png.exe"].dropped_reason.endswith("application/x-executable")
    assert rows["scan.png"].dropped_reason == "" and rows["scan.png"].file.read() == PNG
    assert rows["bank-letter.pdf"].dropped_reason == "" and rows["bank-letter.pdf"].file.read() == PDF
    # And the ticket shows the agent a note naming each dropped file
    note = TicketEvent.objects.get(ticket_id=result.ticket_id, verb="attachments_dropped").note
    assert all(name in note for name in ("photo.png", "invoice.png.exe", "statement.pdf"))
    assert "scan.png" not in note and "bank-letter.pdf" not in note
