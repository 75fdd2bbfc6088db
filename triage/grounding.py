"""Grounding: every checkable fact in a draft must come from somewhere we trust.

Order/transaction ids, amounts, e-mail addresses, phone numbers and URLs in the draft must appear
in the ticket thread, the customer record or a cited knowledge-base chunk; anything else is an
invention and the draft is flagged ``ungrounded`` (the reviewer sees which items).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from triage.injection import EMAIL_RE, URL_RE
from triage.pii import PHONE_RE

# An identifier: letters and digits mixed with at least 4 digits (ORD-2024-0042, TX99812),
# #48213977,
# or a long run of digits introduced by an order/transaction word.
ID_RE = re.compile(
    r"(?<![\w-])#?(?=[A-Za-z0-9-]*[A-Za-z])(?=(?:[A-Za-z-]*\d){4})[A-Za-z0-9][A-Za-z0-9-]{4,}[A-Za-z0-9](?![\w-])"
    r"|(?<![\w-])#?\d{6,}(?![\w-])|#\d{4,}"
)
ID_AFTER_WORD_RE = re.compile(
    r"\b(?:order|transaction|txn|invoice|reference|ref|case|ticket|payment|transfer|account)s?"
    r"(?:\s+(?:id|number|no\.?|nr\.?))?\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,})",
    re.IGNORECASE,
)
AMOUNT_RE = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|CHF|JPY|dollars?|euros?|pounds?)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class UngroundedItem:
    kind: str
    value: str


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _amount_value(text: str) -> Decimal | None:
    number = re.sub(r"[^\d.]", "", text.replace(",", ""))
    try:
        return Decimal(number).normalize() if number else None
    except InvalidOperation:
        return None


def _ids(text: str) -> set[str]:
    found = {match.group(0).lstrip("#").upper() for match in ID_RE.finditer(text)}
    found |= {
        match.group(1).upper()
        for match in ID_AFTER_WORD_RE.finditer(text)
        if any(ch.isdigit() for ch in match.group(1))
    }
    return found


def grounding_check(*, draft: str, sources: list[str]) -> list[UngroundedItem]:
    """Return the draft's facts that appear in none of the sources (empty list: grounded)."""
    corpus = "\n".join(sources)
    corpus_upper = corpus.upper()
    corpus_digits = {_digits(match.group(0)) for match in PHONE_RE.finditer(corpus)}
    corpus_digit_runs = _digits(corpus)
    corpus_amounts = {_amount_value(match) for match in AMOUNT_RE.findall(corpus)}
    corpus_amounts |= {_amount_value(match) for match in re.findall(r"\d[\d,]*(?:\.\d+)?", corpus)}
    corpus_emails = {match.lower() for match in EMAIL_RE.findall(corpus)}
    corpus_urls = {url.rstrip(".,;:!?/").lower() for url in URL_RE.findall(corpus)}
    missing: list[UngroundedItem] = []

    text = draft
    for url in URL_RE.findall(text):
        clean = url.rstrip(".,;:!?/").lower()
        if clean not in corpus_urls and not any(known.startswith(clean) for known in corpus_urls):
            missing.append(UngroundedItem("url", url))
    text = URL_RE.sub(" ", text)
    for email in EMAIL_RE.findall(text):
        if email.lower() not in corpus_emails:
            missing.append(UngroundedItem("email", email))
    text = EMAIL_RE.sub(" ", text)
    for amount in AMOUNT_RE.findall(text):
        if _amount_value(amount) not in corpus_amounts:
            missing.append(UngroundedItem("amount", amount.strip()))
    text = AMOUNT_RE.sub(" ", text)
    for phone in (match.group(0) for match in PHONE_RE.finditer(text)):
        digits = _digits(phone)
        if (
            7 <= len(digits) <= 15
            and digits not in corpus_digits
            and digits not in corpus_digit_runs
        ):
            missing.append(UngroundedItem("phone", phone.strip()))
    text = PHONE_RE.sub(" ", text)
    for identifier in sorted(_ids(text)):
        if identifier not in corpus_upper:
            missing.append(UngroundedItem("id", identifier))
    return missing
