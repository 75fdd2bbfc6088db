"""PII redaction: what leaves for an external provider, and what comes back in the draft."""

import pytest

from support.services import ticket_create
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer, user_prompt
from triage.models import TriageDecision
from triage.pii import iban_valid, luhn_valid, pii_redact, pii_restore
from triage.pipeline import triage_run_execute

TEXT = (
    "I am Ada Lovelace (ada.lovelace@example.com, +44 20 7946 0958). "
    "My card 4539 1488 0343 6467 was "
    "charged twice; refund to IBAN GB82 WEST 1234 5698 7654 32 please."
)


def test_luhn_and_iban_checks():
    assert luhn_valid("4539 1488 0343 6467")
    assert not luhn_valid("4539 1488 0343 6468")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB83 WEST 1234 5698 7654 32")


def test_it_redacts_every_configured_kind_and_restores_them():
    (redacted,), redaction = pii_redact([TEXT], customer_name="Ada Lovelace")
    for secret in (
        "ada.lovelace@example.com",
        "7946 0958",
        "4539 1488 0343 6467",
        "GB82 WEST",
        "Ada Lovelace",
    ):
        assert secret not in redacted
    assert {"[EMAIL_1]", "[PHONE_1]", "[CARD_1]", "[IBAN_1]", "[CUSTOMER_NAME]"} <= set(
        redaction.mapping
    )
    assert pii_restore(redacted, redaction.mapping) == TEXT


def test_numbers_that_fail_their_checksum_are_left_alone():
    text = "Order 4539 1488 0343 6468 and reference GB83 WEST 1234 5698 7654 32"
    (redacted,), redaction = pii_redact([text])
    assert redacted == text
    assert redaction.mapping == {}


def test_redaction_kinds_come_from_settings(settings):
    settings.PII_REDACT = ["email"]
    (redacted,), _ = pii_redact([TEXT])
    assert "[EMAIL_1]" in redacted
    assert "4539 1488 0343 6467" in redacted


def test_the_same_value_gets_the_same_placeholder_across_subject_and_body():
    (subject, body), redaction = pii_redact(
        ["About a@example.com", "Write to a@example.com or b@example.com"]
    )
    assert subject == "About [EMAIL_1]"
    assert body == "Write to [EMAIL_1] or [EMAIL_2]"


@pytest.mark.django_db
def test_the_provider_never_sees_pii_and_the_draft_gets_it_back(demo_tenant, fake_llm):
    # Given a ticket full of personal data and a model that uses the placeholders it was given
    fake_llm.push(
        Reply(
            content=answer(
                "transaction_charged_twice",
                reply_draft="Hello [CUSTOMER_NAME], we will refund the duplicate charge "
                "on card [CARD_1] and confirm "
                "by e-mail to [EMAIL_1].",
            )
        )
    )
    ticket, _ = ticket_create(
        subject="Charged twice",
        body_text=TEXT,
        customer_email="ada.lovelace@example.com",
        customer_name="Ada Lovelace",
        channel="email",
        source="email",
    )
    # When it is triaged
    triage_run_execute(ticket_id=ticket.pk)
    # Then the request on the wire had placeholders only
    sent = user_prompt(fake_llm.requests[0])
    for secret in (
        "ada.lovelace@example.com",
        "7946 0958",
        "4539 1488 0343 6467",
        "GB82 WEST",
        "Lovelace",
    ):
        assert secret not in sent
    assert "[CARD_1]" in sent and "[IBAN_1]" in sent
    # and the draft the reviewer sees has the real values back; the logged request stays redacted
    decision = TriageDecision.objects.get(ticket=ticket, is_final=True)
    assert "card 4539 1488 0343 6467" in decision.reply_draft
    assert "ada.lovelace@example.com" in decision.reply_draft
    assert decision.reply_draft.startswith("Hello Ada Lovelace")
    assert "4539 1488 0343 6467" not in decision.request_redacted
    assert "ada.lovelace@example.com" not in decision.request_redacted


def test_log_lines_are_redacted(settings):
    import logging

    from triage.pii import PiiLogFilter

    assert settings.LOGGING["handlers"]["console"]["filters"] == ["pii"]
    record = logging.LogRecord(
        "triage",
        logging.WARNING,
        __file__,
        1,
        "mail from %s, card %s",
        ("ada@example.com", "4539 1488 0343 6467"),
        None,
    )
    assert PiiLogFilter().filter(record) is True
    assert record.getMessage() == "mail from [EMAIL_1], card [CARD_1]"


def test_the_customer_name_is_replaced_as_whole_words_only():
    (redacted,), redaction = pii_redact(
        ["Hi, Ada here. Ada Byrne, also adamant: Adam is not me."], customer_name="Ada Byrne"
    )
    assert (
        redacted == "Hi, [CUSTOMER_FIRST_NAME] here. [CUSTOMER_NAME], also adamant: Adam is not me."
    )
    assert (
        pii_restore(redacted, redaction.mapping)
        == "Hi, Ada here. Ada Byrne, also adamant: Adam is not me."
    )
