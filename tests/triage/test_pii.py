"""PII redaction: what leaves for an external provider, and what comes back in the draft."""

import pytest

from support.services import ticket_create
from tests.fakes.openai_server import Reply
from tests.triage.llm_answers import answer, user_prompt
from triage.models import TriageDecision
from triage.pii import iban_valid, luhn_valid, pii_redact, pii_redact_text, pii_restore
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


# --- issue 13, point 4: the kinds beyond e-mail, phone, card and IBAN, in five locales ----------------

PII_EXAMPLES = [
    # (locale, kind, text, the raw value that must not survive)
    ("en-GB", "phone", "Ring me on 07911 123456 after five.", "07911 123456"),
    ("en-GB", "phone", "Work line +44 20 7946 0958, ask for accounts.", "7946 0958"),
    ("fr", "phone", "Mon portable : +33 6 12 34 56 78.", "12 34 56 78"),
    ("fr", "phone", "Appelez le 01 42 68 53 00 demain.", "42 68 53 00"),
    ("de", "phone", "Rückruf bitte unter (0)30 1234567.", "1234567"),
    ("de", "phone", "Mobil 0170 1234567, ab 18 Uhr.", "0170 1234567"),
    ("de", "phone", "Am 12.03.2024 0170 1234567 angerufen.", "0170 1234567"),
    ("es", "phone", "Llámenme al +34 612 345 678.", "612 345 678"),
    ("en-US", "phone", "Call me at (212) 555-0147.", "555-0147"),
    ("en-GB", "dob", "My date of birth is 14/03/1985.", "14/03/1985"),
    ("en-US", "dob", "I was born on March 14, 1985.", "March 14, 1985"),
    ("fr", "dob", "Née le 3 mars 1982, je voudrais ouvrir un livret.", "3 mars 1982"),
    ("de", "dob", "Geburtsdatum: 21.09.1975.", "21.09.1975"),
    ("es", "dob", "Fecha de nacimiento: 5 de mayo de 1987.", "5 de mayo de 1987"),
    ("en-GB", "address", "Send it to 221B Baker Street, London NW1 6XE.", "Baker Street"),
    ("en-GB", "address", "Send it to 221B Baker Street, London NW1 6XE.", "NW1 6XE"),
    ("en-US", "address", "I live at 742 Evergreen Terrace, Springfield, IL 62704.", "742 Evergreen Terrace"),
    ("fr", "address", "J'habite 12 rue de la Paix, 75002 Paris.", "rue de la Paix"),
    ("de", "address", "Neue Anschrift: Hauptstraße 5, 10115 Berlin.", "Hauptstraße 5"),
    ("es", "address", "Vivo en Calle Mayor 12, 28013 Madrid.", "Calle Mayor 12"),
    ("en-GB", "account", "Account number 55779911 please.", "55779911"),
    ("fr", "account", "Mon numéro de compte est 00012345678.", "00012345678"),
    ("de", "account", "Kontonummer 0532013000, bitte prüfen.", "0532013000"),
    ("es", "account", "Número de cuenta 0049 1500 0512 3456 7892.", "0512 3456"),
    ("en-GB", "sort_code", "Sort code 20-00-00, same as before.", "20-00-00"),
    ("de", "sort_code", "BLZ 370 400 44 stimmt nicht.", "370 400 44"),
    ("en-GB", "person", "My husband Tom Ward made the payment.", "Tom Ward"),
    ("en-US", "person", "I paid $80 to Marcus Johnson through the app.", "Marcus Johnson"),
    ("en-US", "person", "Best,\nKevin O'Brien", "O'Brien"),
    ("fr", "person", "Mon mari Jean-Pierre Martin a fait le virement.", "Jean-Pierre Martin"),
    ("fr", "person", "Madame Dubois m'a dit que c'était réglé.", "Dubois"),
    ("de", "person", "Meine Frau Anna Schmidt hat es freigegeben.", "Anna Schmidt"),
    ("de", "person", "Herr Müller aus der Filiale hat es bestätigt.", "Müller"),
    ("de", "person", "Das Geld ging an Max Mustermann.", "Max Mustermann"),
    ("es", "person", "Envié 200 € a Lucía Fernández por error.", "Lucía Fernández"),
    ("es", "person", "Gracias.\nUn saludo,\nMarta Jiménez", "Jiménez"),
]


@pytest.mark.parametrize(("locale", "kind", "text", "raw"), PII_EXAMPLES,
                         ids=[f"{locale}-{kind}-{index}" for index, (locale, kind, _, _) in enumerate(PII_EXAMPLES)])
def test_no_raw_pii_survives_redaction(locale, kind, text, raw):
    (redacted,), redaction = pii_redact([text])
    assert raw not in redacted
    assert raw not in pii_redact_text(text)
    assert any(placeholder.startswith(f"[{kind.upper()}_") for placeholder in redaction.mapping), redaction.mapping
    assert pii_restore(redacted, redaction.mapping) == text


LOOK_ALIKES = [
    # Kept on purpose: the model needs them, and none identifies a person.
    "Order 4452187 arrived damaged, ticket SB-123, amount £42.50 on 03/05/2024.",
    "My card ending in 6467 was declined at Tesco on 12 March.",  # card last-4: kept (see bench/pii.md)
    "I was charged £1,299.99 for the iPhone 15 Pro instead of £999.",
    "Statement dated 01/04/2024 shows 12 transactions I don't recognise.",
    "Order #88213 shipped on 05/14/2024, tracking 1Z999AA10123456784.",
    "La commande 55821 du 14/02/2024 d'un montant de 89,90 € n'est pas arrivée.",
    "Bestellung 778812 vom 03.05.2024 über 59,99 € ist nicht angekommen.",
    "Die App stürzt auf dem iPhone 13 seit Version 7.1 ab.",
    "El pedido 44120 del 15/03/2024 por 35,50 € no ha llegado.",
    "I paid British Gas by Direct Debit and the rest went to Premium Bonds.",
    "Ich bin Rentner und habe eine Frage an Ihren Kundenservice.",  # German nouns are capitalised
    "Delivery 1234567 failed, next attempt at 2026-12-01 00:10:02.",  # a timestamp is not a phone
    "Error code 500 at 10:30 on 2024-03-01, ref SB-991, amount 1 234,56 EUR.",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_not_redacted(text):
    assert pii_redact_text(text) == text


def test_a_name_found_once_is_redacted_where_it_recurs():
    text = "My colleague Samira Haddad sent it. Samira Haddad has the receipt."
    redacted = pii_redact_text(text)
    assert "Samira Haddad" not in redacted and redacted.count("[PERSON_1]") == 2


def test_the_customer_keeps_their_own_placeholder_beside_other_names():
    (redacted,), redaction = pii_redact(["I am Ada Lovelace and my husband Tom Ward paid."],
                                        customer_name="Ada Lovelace")
    assert redacted == "I am [CUSTOMER_NAME] and my husband [PERSON_1] paid."
    assert redaction.mapping == {"[CUSTOMER_NAME]": "Ada Lovelace", "[CUSTOMER_FIRST_NAME]": "Ada",
                                 "[PERSON_1]": "Tom Ward"}


NEW_KINDS_TEXT = (
    "Hello, my date of birth is 14/03/1985 and I live at 221B Baker Street, London NW1 6XE. "
    "Sort code 20-00-00, account number 55779911. My husband Tom Ward can be reached on "
    "+33 6 12 34 56 78 or (0)30 1234567."
)
NEW_KINDS_RAW = ("14/03/1985", "Baker Street", "NW1 6XE", "20-00-00", "55779911", "Tom Ward",
                 "12 34 56 78", "1234567")


@pytest.mark.django_db
def test_the_decision_log_holds_no_raw_pii_of_the_new_kinds(demo_tenant, fake_llm):
    # Given a ticket with every new kind, and a model whose answer echoes some of it back raw
    fake_llm.push(Reply(content=answer(
        "transfer_not_received_by_recipient",
        reply_draft="Hello [CUSTOMER_NAME], we are checking the transfer from account [ACCOUNT_1].",
        rationale="Customer (date of birth 14/03/1985) says her husband Tom Ward sent it from 20-00-00.",
    )))
    ticket, _ = ticket_create(subject="Transfer missing", body_text=NEW_KINDS_TEXT,
                              customer_email="ada.lovelace@example.com", customer_name="Ada Lovelace",
                              channel="email", source="email")
    # When it is triaged
    triage_run_execute(ticket_id=ticket.pk)
    # Then neither the request on the wire nor the logged request and response carry the raw values
    sent = user_prompt(fake_llm.requests[0])
    decision = TriageDecision.objects.filter(ticket=ticket).order_by("pk").last()
    assert decision is not None
    for raw in NEW_KINDS_RAW:
        assert raw not in sent, raw
        assert raw not in decision.request_redacted, raw
        assert raw not in decision.response_redacted, raw
    # and the draft the reviewer sees has the account number back
    assert "55779911" in decision.reply_draft
