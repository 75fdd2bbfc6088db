"""Local drafting: a per-category macro, the customer's name, facts quoted from the ticket and
the best-matching knowledge-base chunk, cited.

The rule that makes these drafts safe to send: every fact comes from the ticket, the customer
record or the cited chunk. The macros therefore only acknowledge the topic; they promise no
amounts, times or outcomes. Facts from the ticket (amounts, dates) are quoted verbatim, and the
chunk is quoted, never paraphrased.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

import nh3
from django.conf import settings

from triage.kb.retrieval import ChunkHit

MAX_QUOTE_CHARS = 700

# What the customer asked about, as a phrase that completes "Thank you for contacting us about ...".
TOPICS: dict[str, str] = {
    "activate_my_card": "activating your card",
    "age_limit": "the age requirements for an account",
    "apple_pay_or_google_pay": "using your card with Apple Pay or Google Pay",
    "atm_support": "using your card at cash machines",
    "automatic_top_up": "automatic top-ups",
    "balance_not_updated_after_bank_transfer": "a bank transfer that is not in your balance yet",
    "balance_not_updated_after_cheque_or_cash_deposit": (
        "a cheque or cash deposit that is not in your balance yet"
    ),
    "beneficiary_not_allowed": "a beneficiary you could not add",
    "cancel_transfer": "cancelling a transfer",
    "card_about_to_expire": "your card's expiry",
    "card_acceptance": "where your card is accepted",
    "card_arrival": "your card that has not arrived yet",
    "card_delivery_estimate": "card delivery times",
    "card_linking": "linking your card",
    "card_not_working": "your card not working",
    "card_payment_fee_charged": "a fee on a card payment",
    "card_payment_not_recognised": "a card payment you do not recognise",
    "card_payment_wrong_exchange_rate": "the exchange rate on a card payment",
    "card_swallowed": "a card kept by a cash machine",
    "cash_withdrawal_charge": "a charge on a cash withdrawal",
    "cash_withdrawal_not_recognised": "a cash withdrawal you do not recognise",
    "change_pin": "changing your PIN",
    "compromised_card": "a card you think is compromised",
    "contactless_not_working": "contactless payments not working",
    "country_support": "the countries we support",
    "declined_card_payment": "a declined card payment",
    "declined_cash_withdrawal": "a declined cash withdrawal",
    "declined_transfer": "a declined transfer",
    "direct_debit_payment_not_recognised": "a direct debit you do not recognise",
    "disposable_card_limits": "disposable virtual card limits",
    "edit_personal_details": "changing your personal details",
    "exchange_charge": "currency exchange charges",
    "exchange_rate": "our exchange rates",
    "exchange_via_app": "exchanging currency in the app",
    "extra_charge_on_statement": "an extra charge on your statement",
    "failed_transfer": "a failed transfer",
    "fiat_currency_support": "the currencies we support",
    "get_disposable_virtual_card": "getting a disposable virtual card",
    "get_physical_card": "getting a physical card",
    "getting_spare_card": "getting an additional card",
    "getting_virtual_card": "getting a virtual card",
    "lost_or_stolen_card": "a lost or stolen card",
    "lost_or_stolen_phone": "a lost or stolen phone",
    "order_physical_card": "ordering a physical card",
    "passcode_forgotten": "a forgotten passcode",
    "pending_card_payment": "a pending card payment",
    "pending_cash_withdrawal": "a pending cash withdrawal",
    "pending_top_up": "a pending top-up",
    "pending_transfer": "a pending transfer",
    "pin_blocked": "a blocked PIN",
    "receiving_money": "receiving money into your account",
    "refund_not_showing_up": "a refund that is not showing yet",
    "request_refund": "a refund request",
    "reverted_card_payment": "a card payment that was reverted",
    "supported_cards_and_currencies": "the cards and currencies we support",
    "terminate_account": "closing your account",
    "top_up_by_bank_transfer_charge": "charges for topping up by bank transfer",
    "top_up_by_card_charge": "charges for topping up by card",
    "top_up_by_cash_or_cheque": "topping up with cash or a cheque",
    "top_up_failed": "a failed top-up",
    "top_up_limits": "top-up limits",
    "top_up_reverted": "a top-up that was reverted",
    "topping_up_by_card": "topping up by card",
    "transaction_charged_twice": "a payment charged twice",
    "transfer_fee_charged": "a fee on a transfer",
    "transfer_into_account": "transferring money into your account",
    "transfer_not_received_by_recipient": "a transfer your recipient has not received",
    "transfer_timing": "how long transfers take",
    "unable_to_verify_identity": "trouble verifying your identity",
    "verify_my_identity": "verifying your identity",
    "verify_source_of_funds": "verifying the source of your funds",
    "verify_top_up": "verifying a top-up",
    "virtual_card_not_working": "your virtual card not working",
    "visa_or_mastercard": "whether your card is Visa or Mastercard",
    "why_verify_identity": "why we verify identity",
    "wrong_amount_of_cash_received": "receiving the wrong amount of cash",
    "wrong_exchange_rate_for_cash_withdrawal": "the exchange rate on a cash withdrawal",
}

# Categories where the customer may be losing money right now: the macro says so plainly, and
# nothing more (what to do comes from the cited article).
URGENT = frozenset(
    {
        "lost_or_stolen_card",
        "lost_or_stolen_phone",
        "compromised_card",
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "direct_debit_payment_not_recognised",
        "card_swallowed",
    }
)

_AMOUNT_RE = re.compile(
    r"(?:[£$€]\s?\d[\d,]*(?:\.\d{1,2})?"
    r"|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:GBP|USD|EUR|CHF|PLN|pounds?|dollars?|euros?)\b)",
    re.IGNORECASE,
)
_DATE_RE = re.compile(
    r"\b(?:\d{1,2}(?:st|nd|rd|th)?\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\s+\d{1,2}(?:st|nd|rd|th)?"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})\b"
)


@dataclass(frozen=True)
class LocalDraft:
    text: str
    citations: list[int]  # chunk ids actually used in text


def ticket_facts(ticket_text: str) -> list[str]:
    """Amounts and dates quoted verbatim from the ticket, in order, without duplicates."""
    found: list[str] = []
    for match in sorted(
        [*_AMOUNT_RE.finditer(ticket_text), *_DATE_RE.finditer(ticket_text)],
        key=lambda m: m.start(),
    ):
        value = match.group(0).strip()
        if value not in found:
            found.append(value)
    return found[:4]


# A customer-supplied value placed in a draft (a name, a restored placeholder) is never longer.
MAX_CUSTOMER_TEXT_CHARS = 200


def customer_text_clean(text: str, *, limit: int = MAX_CUSTOMER_TEXT_CHARS) -> str:
    """Customer-supplied text made safe to place in a reply: the draft goes out as plain-text
    e-mail and in callbacks whose receivers may show it as HTML, so escaping in our own UI is not
    enough. Markup is removed (nh3; script and style content with it), entities are decoded and
    the result cleaned again until it is stable (``&lt;script&gt;`` is markup once decoded), stray
    angle brackets are dropped, control and format characters (bidi overrides, zero-width) go,
    and whitespace is collapsed to single spaces: one line, as a name should be."""
    for _ in range(5):  # each round only removes; two are enough for any real input
        cleaned = html.unescape(nh3.clean(text, tags=set()))
        if cleaned == text:
            break
        text = cleaned
    text = text.replace("<", "").replace(">", "")
    text = "".join(_one_line_char(char) for char in text)
    return " ".join(text.split())[:limit].strip()


def _one_line_char(char: str) -> str:
    """Control characters (line breaks, escapes) become spaces; other invisible ones (format,
    private use, unassigned) go."""
    category = unicodedata.category(char)
    if category == "Cc":
        return " "
    return "" if category.startswith("C") else char


def draft_controls_strip(draft: str) -> str:
    """Control and format characters out of a whole draft (line breaks and tabs kept): a model can
    echo them from the ticket, and a bidi override reorders what the customer reads."""
    return "".join(
        char
        for char in draft
        if char in "\n\t" or unicodedata.category(char)[0] != "C"
    )


def _first_name(customer_name: str) -> str:
    name = customer_text_clean(customer_name)
    if not name or "@" in name:
        return ""
    return name.split(" ")[0]


def _plain(markdown: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), markdown)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^#{1,6}\s+", "", text, flags=re.MULTILINE)
    return text.strip()


def _quote(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """The chunk, verbatim, cut at a paragraph or sentence boundary when it is long."""
    text = _plain(text)
    if len(text) <= limit:
        return text
    paragraphs = text.split("\n\n")
    kept = ""
    for paragraph in paragraphs:
        candidate = f"{kept}\n\n{paragraph}" if kept else paragraph
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept = ""
    for sentence in sentences:
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or text[:limit].rsplit(" ", 1)[0]


def topic_for(category_slug: str) -> str:
    return TOPICS.get(category_slug) or category_slug.replace("_", " ")


def local_draft(
    *, category_slug: str, customer_name: str, ticket_text: str, hits: list[ChunkHit]
) -> LocalDraft:
    """A reply built from a macro and the best hit. ``hits`` are best first (kb_search order)."""
    first_name = _first_name(customer_name)
    lines = [f"Hello {first_name}," if first_name else "Hello,", ""]
    lines.append(f"Thank you for contacting {settings.ORGANISATION_NAME} about {topic_for(category_slug)}.")
    facts = ticket_facts(ticket_text)
    if facts:
        lines.append(f"You mentioned {', '.join(facts)} in your message; we have noted it.")
    if category_slug in URGENT:
        lines.append("We treat this as urgent.")
    citations: list[int] = []
    best = hits[0] if hits else None
    if best is not None and best.text.strip():
        lines += [
            "",
            f'Here is what our help article "{best.article_title}" says:',
            "",
            _quote(best.text),
        ]
        citations.append(best.chunk_id)
    else:
        lines += ["", "A member of our support team will follow up on your question."]
    lines += [
        "",
        "If anything is unclear, just reply to this message.",
        "",
        "Kind regards,",
        f"{settings.ORGANISATION_NAME} Support",
    ]
    return LocalDraft(text=draft_controls_strip("\n".join(lines)), citations=citations)
