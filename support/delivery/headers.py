"""What makes a reply thread in the customer's mail client: our address, the subject token, In-Reply-To and References."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings

from support.models import Message, Ticket

_REFERENCES_KEEP = 20


def support_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def message_id_domain() -> str:
    address = support_address()
    return address.rsplit("@", 1)[1] if "@" in address else "switchboard.localhost"


def reply_subject(*, ticket: Ticket) -> str:
    """``Re: <subject> [#SB-123]``: the token is what intake threads a customer's answer on."""
    subject = " ".join(ticket.subject.split()) or "(no subject)"
    token = f"[#{ticket.reference}]"
    if token not in subject:
        subject = f"{subject} {token}"
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return subject


@dataclass(frozen=True)
class Threading:
    in_reply_to: str
    references: str


def reply_threading(*, ticket: Ticket) -> Threading:
    """In-Reply-To = the latest inbound Message-ID; References = its References + that id."""
    latest = (
        ticket.messages.filter(direction=Message.Direction.INBOUND)
        .exclude(message_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None:
        return Threading(in_reply_to="", references="")
    chain = [ref for ref in latest.references.split() if ref]
    if latest.message_id not in chain:
        chain.append(latest.message_id)
    if len(chain) > _REFERENCES_KEEP:
        # RFC 5322 §3.6.4 allows trimming; keep the thread root and the most recent ones.
        chain = chain[:1] + chain[-(_REFERENCES_KEEP - 1) :]
    return Threading(in_reply_to=latest.message_id, references=" ".join(chain))
