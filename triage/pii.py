"""Redaction of personal data before a ticket leaves for an external provider.

``pii_redact`` swaps e-mail addresses, phone numbers, card numbers (Luhn-checked) and IBANs
(mod-97-checked) for stable placeholders (``[EMAIL_1]``); ``pii_restore`` puts the originals back
into the draft. The kinds come from ``settings.PII_REDACT``. The same text always gives the same
placeholders, which is what lets the response cache serve identical redacted requests.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
# 13–19 digits, optionally grouped by spaces or dashes (the way people type card numbers).
CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"  # international
    r"|\(?0\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}"  # national trunk prefix 0
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}"  # North American
    r")(?![\w])"
)
CUSTOMER_NAME_PLACEHOLDER = "[CUSTOMER_NAME]"
CUSTOMER_FIRST_NAME_PLACEHOLDER = "[CUSTOMER_FIRST_NAME]"


def luhn_valid(number: str) -> bool:
    digits = [int(ch) for ch in number if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


@dataclass
class Redaction:
    text: str
    # placeholder -> original
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for placeholder in self.mapping:
            kind = placeholder.strip("[]").rsplit("_", 1)[0].lower()
            counts[kind] = counts.get(kind, 0) + 1
        return counts


class _Redactor:
    def __init__(self, kinds: set[str]) -> None:
        self.kinds = kinds
        self.mapping: dict[str, str] = {}
        self._reverse: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}

    def placeholder(self, kind: str, original: str) -> str:
        key = (kind, original)
        if key not in self._reverse:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            token = f"[{kind.upper()}_{self._counters[kind]}]"
            self._reverse[key] = token
            self.mapping[token] = original
        return self._reverse[key]

    def run(self, text: str) -> str:
        # Order matters: IBANs and cards contain digit runs a phone pattern would also take.
        if "email" in self.kinds:
            text = EMAIL_RE.sub(lambda m: self.placeholder("email", m.group(0)), text)
        if "iban" in self.kinds:
            text = IBAN_RE.sub(self._iban, text)
        if "card" in self.kinds:
            text = CARD_RE.sub(
                lambda m: (
                    self.placeholder("card", m.group(0)) if luhn_valid(m.group(0)) else m.group(0)
                ),
                text,
            )
        if "phone" in self.kinds:
            text = PHONE_RE.sub(self._phone, text)
        return text

    def _iban(self, match: re.Match[str]) -> str:
        # The pattern may have swallowed a following upper-case word: shorten until it checks.
        candidate = match.group(0)
        while len(candidate.replace(" ", "")) >= 15:
            if iban_valid(candidate):
                rest = match.group(0)[len(candidate) :]
                return self.placeholder("iban", candidate) + rest
            candidate = candidate[:-1].rstrip()
        return match.group(0)

    def _phone(self, match: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in match.group(0))
        if not 7 <= digits <= 15:
            return match.group(0)
        return self.placeholder("phone", match.group(0))


def pii_redact(
    texts: list[str], *, kinds: list[str] | None = None, customer_name: str = ""
) -> tuple[list[str], Redaction]:
    """Redact several texts with one shared placeholder table (subject and body of one ticket)."""
    redactor = _Redactor(set(settings.PII_REDACT if kinds is None else kinds))
    out = [redactor.run(text) for text in texts]
    name = " ".join(customer_name.split())
    if len(name) >= 3:
        # Whole words only ("Al" must not eat "also"); the full name first, then the first name.
        replacements = [(name, CUSTOMER_NAME_PLACEHOLDER)]
        first = name.split(" ")[0]
        if first != name and len(first) >= 3:
            replacements.append((first, CUSTOMER_FIRST_NAME_PLACEHOLDER))
        for value, placeholder in replacements:
            pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
            redactor.mapping[placeholder] = value
            out = [pattern.sub(placeholder, text) for text in out]
    return out, Redaction(text="\n".join(out), mapping=redactor.mapping)


def pii_redact_text(text: str, *, kinds: list[str] | None = None) -> str:
    """Redact one text for storage or logs, placeholders discarded."""
    return pii_redact([text], kinds=kinds)[0][0]


def pii_restore(text: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return text
    pattern = re.compile(
        "|".join(re.escape(token) for token in sorted(mapping, key=len, reverse=True))
    )
    return pattern.sub(lambda m: mapping[m.group(0)], text)


class PiiLogFilter(logging.Filter):
    """Attach to a handler to redact personal data from log lines (``logs are redacted too``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        redacted = pii_redact_text(message, kinds=["email", "phone", "card", "iban"])
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
