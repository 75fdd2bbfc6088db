"""Redaction of personal data before a ticket leaves for an external provider.

``pii_redact`` swaps e-mail addresses, phone numbers (libphonenumber), card numbers (Luhn-checked),
IBANs (mod-97-checked), dates of birth, street addresses and postcodes, bank account numbers and
sort codes, the customer's name and other people's names for stable placeholders (``[EMAIL_1]``,
``[PERSON_2]``, ``[CUSTOMER_NAME]``); ``pii_restore`` puts the originals back into the draft.
``pii_detect`` gives the spans themselves (``bench/pii_eval.py`` measures them; ``bench/pii.md``
has recall and precision per kind). The detectors beyond e-mail, card and IBAN live in
``triage/pii_detectors.py``. The kinds come from ``settings.PII_REDACT``. The same text always gives the same
placeholders, which is what lets the response cache serve identical redacted requests.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings

from triage import pii_detectors

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
# 13–19 digits, optionally grouped by spaces or dashes (the way people type card numbers).
CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
# A loose phone shape, kept for triage/grounding.py (is every phone-like string in a draft in our
# sources?). Redaction finds phone numbers with libphonenumber instead (triage/pii_detectors.py).
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


@dataclass(frozen=True)
class PiiSpan:
    start: int
    end: int
    kind: str

    def overlaps(self, other: PiiSpan) -> bool:
        return self.start < other.end and other.start < self.end


# Where two detections overlap, the earlier kind wins: the checksummed and cue-anchored kinds are
# surer than a phone number (an account number after its cue may also pass Luhn as a "card") (a sort code or a date of birth also parses as one), and the customer's
# own name gets its dedicated placeholder before the name heuristic sees it.
KIND_PRIORITY = ("email", "iban", "account", "card", "sort_code", "dob", "phone", "address", "customer_name",
                 "customer_first_name", "person")
ALL_KINDS = ("email", "phone", "card", "iban", "dob", "address", "account", "sort_code", "person")


def _customer_spans(text: str, customer_name: str) -> list[PiiSpan]:
    # Whole words only ("Al" must not eat "also"); the full name first, then the first name.
    name = " ".join(customer_name.split())
    if len(name) < 3:
        return []
    spans = [PiiSpan(*m.span(), "customer_name")
             for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)]
    first = name.split(" ")[0]
    if first != name and len(first) >= 3:
        spans += [PiiSpan(*m.span(), "customer_first_name")
                  for m in re.finditer(rf"(?<!\w){re.escape(first)}(?!\w)", text, re.IGNORECASE)]
    return spans


def _raw_spans(text: str, kinds: set[str]) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    if "email" in kinds:
        spans += [PiiSpan(*m.span(), "email") for m in EMAIL_RE.finditer(text)]
    if "iban" in kinds:
        spans += [span for m in IBAN_RE.finditer(text) if (span := _iban_span(m)) is not None]
    if "card" in kinds:
        spans += [PiiSpan(*m.span(), "card") for m in CARD_RE.finditer(text) if luhn_valid(m.group(0))]
    detectors = {
        "sort_code": pii_detectors.sort_code_spans,
        "account": pii_detectors.account_spans,
        "dob": pii_detectors.dob_spans,
        "address": pii_detectors.address_spans,
        "person": pii_detectors.person_spans,
    }
    for kind, detector in detectors.items():
        if kind in kinds:
            spans += [PiiSpan(start, end, kind) for start, end in detector(text)]
    if "phone" in kinds:
        regions = settings.PII_PHONE_REGIONS
        spans += [PiiSpan(start, end, "phone") for start, end in pii_detectors.phone_spans(text, regions=regions)]
    return spans


def _iban_span(match: re.Match[str]) -> PiiSpan | None:
    # The pattern may have swallowed a following upper-case word: shorten until it checks.
    candidate = match.group(0)
    while len(candidate.replace(" ", "")) >= 15:
        if iban_valid(candidate):
            return PiiSpan(match.start(), match.start() + len(candidate), "iban")
        candidate = candidate[:-1].rstrip()
    return None


def pii_detect(text: str, *, kinds: list[str] | None = None, customer_name: str = "") -> list[PiiSpan]:
    """Non-overlapping spans of personal data in ``text``, in order (kinds from ``PII_REDACT``)."""
    wanted = set(settings.PII_REDACT if kinds is None else kinds)
    candidates = _raw_spans(text, wanted) + _customer_spans(text, customer_name)
    rank = {kind: index for index, kind in enumerate(KIND_PRIORITY)}
    candidates.sort(key=lambda span: (rank[span.kind], span.start - span.end, span.start))
    kept: list[PiiSpan] = []
    for span in candidates:
        if span.end > span.start and not any(span.overlaps(other) for other in kept):
            kept.append(span)
    return sorted(kept, key=lambda span: span.start)


class _Redactor:
    def __init__(self, kinds: list[str], customer_name: str) -> None:
        self.kinds = kinds
        self.customer_name = " ".join(customer_name.split())
        self.mapping: dict[str, str] = {}
        self._reverse: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}

    def placeholder(self, kind: str, original: str) -> str:
        if kind == "customer_name":
            self.mapping[CUSTOMER_NAME_PLACEHOLDER] = self.customer_name
            return CUSTOMER_NAME_PLACEHOLDER
        if kind == "customer_first_name":
            self.mapping[CUSTOMER_FIRST_NAME_PLACEHOLDER] = self.customer_name.split(" ")[0]
            return CUSTOMER_FIRST_NAME_PLACEHOLDER
        key = (kind, original)
        if key not in self._reverse:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            token = f"[{kind.upper()}_{self._counters[kind]}]"
            self._reverse[key] = token
            self.mapping[token] = original
        return self._reverse[key]

    def run(self, text: str) -> str:
        pieces: list[str] = []
        position = 0
        for span in pii_detect(text, kinds=self.kinds, customer_name=self.customer_name):
            pieces += [text[position : span.start], self.placeholder(span.kind, text[span.start : span.end])]
            position = span.end
        pieces.append(text[position:])
        return "".join(pieces)


def pii_redact(
    texts: list[str], *, kinds: list[str] | None = None, customer_name: str = ""
) -> tuple[list[str], Redaction]:
    """Redact several texts with one shared placeholder table (subject and body of one ticket)."""
    redactor = _Redactor(list(settings.PII_REDACT if kinds is None else kinds), customer_name)
    out = [redactor.run(text) for text in texts]
    name = redactor.customer_name
    if len(name) >= 3:
        # Always in the table, so a draft that greets "[CUSTOMER_NAME]" restores even when the
        # ticket text never spelled the name out.
        redactor.mapping.setdefault(CUSTOMER_NAME_PLACEHOLDER, name)
        first = name.split(" ")[0]
        if first != name and len(first) >= 3:
            redactor.mapping.setdefault(CUSTOMER_FIRST_NAME_PLACEHOLDER, first)
    return out, Redaction(text="\n".join(out), mapping=redactor.mapping)


def pii_redact_text(text: str, *, kinds: list[str] | None = None) -> str:
    """Redact one text for storage or logs, placeholders discarded."""
    return pii_redact([text], kinds=kinds)[0][0]


def pii_redact_stored(text: str, mapping: dict[str, str]) -> str:
    """Redact a text for the decision log: the detectors, and every value already redacted from
    this ticket's input (``mapping``: placeholder -> original). A model may echo a value without
    the context that let a detector find it ("my date of birth is ..." -> just the date)."""
    for placeholder, original in sorted(mapping.items(), key=lambda item: len(item[1]), reverse=True):
        if len(original) >= 4:
            text = text.replace(original, placeholder)
    return pii_redact_text(text)


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
        # Names are left to the ticket redaction: the heuristic would garble log vocabulary.
        redacted = pii_redact_text(message, kinds=[kind for kind in ALL_KINDS if kind != "person"])
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
