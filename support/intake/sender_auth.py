"""Is the From address of an inbound e-mail really the sender? (issue 13, point 1)

We do not check DKIM/SPF/DMARC ourselves: by the time a message reaches us (through an ESP's
inbound webhook, an IMAP mailbox or a file an MTA delivered) the DNS context of the SMTP session
is gone. The receiving MTA or ESP checked, and wrote an ``Authentication-Results`` header
(RFC 8601). Anyone can write such a header too, so only headers whose authserv-id is one we
trust (``EMAIL_AUTHSERV_IDS``: our MTA's, the ESP's, the mailbox provider's) count, and of those
only the topmost (the last hop adds its header on top; the receiving MTA must strip forged ones
carrying its id). The design is in docs/security.md.

The verdict, from that one header and the From domain:

- ``pass``: DMARC passed, or (no DMARC result) DKIM or SPF passed for a domain aligned with the
  From domain (same domain or a parent of it, i.e. relaxed alignment);
- ``fail``: DMARC failed, or DKIM/SPF failed (SPF softfail included) with no aligned pass; also
  when the ESP flagged the message as spam;
- ``none``: no trusted header, or only neutral/none/temporary results.

``sender_unverified`` says what intake does with it: ``fail`` always, ``none`` when
``EMAIL_SENDER_AUTH_REQUIRED`` (on by default in production).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import authres
from django.conf import settings

FAILING = {"fail", "softfail", "permerror"}


@dataclass(frozen=True)
class SenderVerdict:
    result: str  # pass | fail | none (InboundEmail.SenderAuth)
    detail: str

    @property
    def unverified(self) -> bool:
        """True when the message must not be taken as the From address's own words."""
        return self.result == "fail" or (self.result == "none" and settings.EMAIL_SENDER_AUTH_REQUIRED)


def _aligned(domain: str, from_domain: str) -> bool:
    domain = domain.strip().strip(".").lower()
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    # A bare suffix ("com") aligns with nothing: it would vouch for every domain under it.
    return "." in domain and (from_domain == domain or from_domain.endswith("." + domain)
                             or domain.endswith("." + from_domain))


def _trusted_header(values: Iterable[str], trusted_ids: set[str]) -> authres.AuthenticationResultsHeader | None:
    for value in values:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except Exception:  # authres raises its own SyntaxError and, on odd input, others
            continue
        if str(header.authserv_id or "").lower() in trusted_ids:
            return header
    return None


def sender_verdict(*, authentication_results: Iterable[str], from_email: str,
                   spam_detected: bool | None = None) -> SenderVerdict:
    """The verdict on ``from_email`` from the message's ``Authentication-Results`` values
    (topmost first) and the ESP's spam flag."""
    trusted_ids = {value.lower() for value in settings.EMAIL_AUTHSERV_IDS}
    from_domain = from_email.rsplit("@", 1)[-1].lower()
    spam_note = "; the ESP flagged it as spam" if spam_detected else ""
    header = _trusted_header(authentication_results, trusted_ids)
    if header is None:
        result = "fail" if spam_detected else "none"
        return SenderVerdict(result, f"no Authentication-Results from a trusted authserv-id{spam_note}")

    results: dict[str, str] = {}
    aligned_pass: list[str] = []
    for item in header.results:
        method, outcome = str(item.method).lower(), str(item.result).lower()
        results.setdefault(method, outcome)
        if method in {"dkim", "spf"} and outcome == "pass":
            domains = [str(prop.value) for prop in item.properties
                       if (prop.type, prop.name) in {("header", "d"), ("header", "i"), ("smtp", "mailfrom")}]
            if any(_aligned(domain, from_domain) for domain in domains):
                aligned_pass.append(method)
    summary = " ".join(f"{method}={outcome}" for method, outcome in results.items()) or "no results"
    detail = f"{header.authserv_id}: {summary}{spam_note}"[:500]

    if spam_detected:
        return SenderVerdict("fail", detail)
    dmarc = results.get("dmarc")
    if dmarc == "pass":
        return SenderVerdict("pass", detail)
    if dmarc in FAILING:
        return SenderVerdict("fail", detail)
    if aligned_pass:
        return SenderVerdict("pass", detail)
    if any(results.get(method) in FAILING for method in ("dkim", "spf")):
        return SenderVerdict("fail", detail)
    return SenderVerdict("none", detail)
