"""The one parsing pipeline, on the .eml corpus in tests/fixtures/email (no database needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.intake.email_parse import EmailParseError, email_parse, strip_quoted, text_decode

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "email"
OURS = {"support@switchboard.localhost"}


def parse(name: str):
    return email_parse((CORPUS / name).read_bytes(), own_addresses=OURS)


def test_multipart_alternative_prefers_plain_text_and_strips_history_for_the_model():
    parsed = parse("multipart_alternative.eml")
    assert parsed.body_text.startswith("Hello,\n\nI ordered a new card")
    assert "Your card is on its way" in parsed.body_text  # the original is kept whole
    assert parsed.body_for_model == "Hello,\n\nI ordered a new card two weeks ago and it still has not arrived.\n\nThanks,\nAda"
    assert "<b>not</b>" in parsed.body_html
    assert (parsed.from_email, parsed.from_name) == ("ada@example.com", "Ada Lovelace")
    assert parsed.message_id == "<alt-1@mail.example.com>"


def test_html_only_mail_is_sanitized_and_converted_to_text():
    parsed = parse("html_only_script.eml")
    assert "<script" not in parsed.body_html and "onerror" not in parsed.body_html
    assert "javascript:" not in parsed.body_html
    assert "alert" not in parsed.body_html and "document.cookie" not in parsed.body_html
    assert "Please refund my last payment." in parsed.body_text
    assert "- Amount: 42.00 EUR" in parsed.body_text
    assert "alert" not in parsed.body_text and "color:red" not in parsed.body_text


@pytest.mark.parametrize(
    ("name", "subject", "body_fragment"),
    [
        ("base64_utf8.eml", "Grüße aus Köln – Überweisung", "Meine Überweisung über 100 € ist nicht angekommen."),
        ("qp_iso8859_1.eml", "Café crème", "le café crème coûte trop cher. Ma carte a été débitée"),
        ("windows_1252.eml", "Fee question", "Why was I charged a “foreign fee” of 2€? It’s unfair."),
        ("shift_jis.eml", "カードが届きません", "先週注文したカードがまだ届きません。"),
        ("misdeclared_utf8_as_latin1.eml", "Naive question", "Zoë here: my naïve question about the café"),
        ("misdeclared_cp1252_as_utf8.eml", "Facade", "The façade of your app shows 5€ instead of 5 £."),
        ("undeclared_8bit.eml", "Überweisung fehlt", "Meine Überweisung fehlt seit Montag, bitte prüfen."),
        ("undeclared_shift_jis.eml", "Card", "クレジットカードがまだ届いておりません。"),
    ],
)
def test_charsets_declared_misdeclared_and_undeclared_decode_to_the_right_text(name, subject, body_fragment):
    parsed = parse(name)
    assert parsed.subject == subject
    assert body_fragment in parsed.body_text
    assert "\ufffd" not in parsed.body_text


def test_encoded_sender_names_are_decoded():
    assert parse("base64_utf8.eml").from_name == "Jürgen Müller"


def test_malformed_mime_is_refused_with_a_reason():
    with pytest.raises(EmailParseError, match="malformed MIME"):
        parse("malformed_mime.eml")


def test_a_message_without_a_sender_is_refused():
    with pytest.raises(EmailParseError, match="no valid sender"):
        parse("no_sender.eml")


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x00\x01\x02 binary junk"])
def test_garbage_is_refused_not_crashed_on(raw):
    with pytest.raises(EmailParseError):
        email_parse(raw)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply.eml", "auto-submitted: auto-replied"),
        ("precedence_bulk.eml", "precedence: bulk"),
        ("own_address.eml", "sent from our own address"),
        ("dsn_bounce.eml", "delivery status notification (bounce)"),
    ],
)
def test_robots_are_recognised(name, reason):
    assert reason in parse(name).automated_reasons


def test_people_are_not_mistaken_for_robots():
    for name in ("multipart_alternative.eml", "reply_in_reply_to.eml", "shift_jis.eml"):
        assert parse(name).automated_reasons == []


def test_a_bounce_names_the_message_that_bounced():
    parsed = parse("dsn_bounce.eml")
    assert parsed.is_bounce
    assert parsed.bounced_message_ids == ["<out-1@switchboard.localhost>"]


def test_threading_ids_come_nearest_first():
    parsed = parse("reply_in_reply_to.eml")
    assert parsed.thread_ids == ["<out-1@switchboard.localhost>", "<alt-1@mail.example.com>"]


def test_attachments_are_collected_with_their_metadata():
    parsed = parse("attachments.eml")
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("statement.pdf", "application/pdf"), ("invoice.exe", "application/x-msdownload")]
    assert parsed.attachments[0].payload.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks!\n\n-- \nAda\nCEO", "Thanks!"),
        ("New text\n\n-----Original Message-----\nFrom: x", "New text"),
        ("New\n\nFrom: Support <s@x>\nSent: Monday\nTo: me\nSubject: hi\n\nold", "New"),
        ("Top\n> quoted\n> more\nBottom", "Top\nBottom"),
        ("Answer\n\nOn Mon, 1 Jan 2026 at 10:00, Very Long Name\n<someone@example.com> wrote:\n> x", "Answer"),
        ("Hi\n\nSent from my iPhone", "Hi"),
        ("> only quoted text", "> only quoted text"),
    ],
)
def test_quoted_history_and_signatures_are_stripped_for_the_model(text, expected):
    assert strip_quoted(text) == expected


def test_unknown_charset_labels_fall_back_to_detection():
    assert text_decode("naïve".encode(), "x-no-such-charset") == "naïve"


def _with_headers(headers: str) -> bytes:
    return (f"From: Ada <ada@example.com>\r\nSubject: hi\r\nMessage-ID: <h@example.com>\r\n{headers}"
            "\r\n\r\nbody\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated", "auto-submitted: auto-generated"),
        ("Auto-Submitted: Auto-Replied; owner-email=x@example.com", "auto-submitted: auto-replied"),
        ("Precedence: junk", "precedence: junk"),
        ("Precedence: list", "precedence: list"),
        ("X-Autorespond: yes", "x-autorespond header"),
        ("X-Auto-Response-Suppress: All", "x-auto-response-suppress header"),
        ("Return-Path: <>", "null sender"),
    ],
)
def test_every_robot_header_is_recognised(headers, reason):
    assert reason in email_parse(_with_headers(headers)).automated_reasons


@pytest.mark.parametrize("headers", ["Auto-Submitted: no", "Precedence: first-class", "Return-Path: <ada@example.com>"])
def test_headers_that_do_not_mean_a_robot(headers):
    assert email_parse(_with_headers(headers)).automated_reasons == []
