"""Checks on the model's answer, against our own data: personal data restored into the draft,
grounding (every fact from the ticket, the customer record or a cited chunk), the output scan
(canary, links, other customers' addresses) and the risk flags with their evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from django.conf import settings

from support.models import Customer
from triage.drafting import customer_text_clean, draft_controls_strip
from triage.grounding import grounding_check
from triage.injection import EMAIL_RE, InjectionResult, output_scan
from triage.kb.models import Chunk
from triage.pii import pii_restore
from triage.pipeline.context import PipelineContext
from triage.prompts import canary_token
from triage.schemas import TriageOutput

FlagDetails = dict[str, dict[str, Any]]


@dataclass
class CheckedOutput:
    draft: str  # placeholders restored
    rationale: str
    risk_flags: list[str] = field(default_factory=list)
    flag_details: FlagDetails = field(default_factory=dict)


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def own_addresses() -> list[str]:
    addresses = [settings.DEFAULT_FROM_EMAIL, *settings.SUPPORT_ADDRESSES]
    return dedupe([parseaddr(address)[1].lower() for address in addresses])


def injection_flag(injection: InjectionResult) -> FlagDetails:
    """The detector's evidence, when it suspects an injection in the ticket."""
    if not injection.suspected:
        return {}
    return {
        "injection_suspected": {
            "evidence": injection.evidence,
            "rules": injection.rules,
            "score": injection.score,
            "source": "detector",
        }
    }


def output_check(context: PipelineContext, output: TriageOutput) -> CheckedOutput:
    customer = context.ticket.customer
    # The originals behind the placeholders are the customer's own text (their name, an address
    # they typed): normalised before they go into a reply that leaves the building.
    restorable = {placeholder: customer_text_clean(value) for placeholder, value in context.mapping.items()}
    draft = draft_controls_strip(pii_restore(output.reply_draft, restorable))
    rationale = pii_restore(output.rationale, context.mapping)
    cited_texts = list(Chunk.objects.filter(pk__in=output.citations).values_list("text", flat=True))
    ours = own_addresses()
    sources = [context.subject, *context.thread_texts, customer.email, customer.name, *cited_texts, *ours]
    ungrounded = grounding_check(draft=draft, sources=sources)
    draft_emails = {address.lower() for address in EMAIL_RE.findall(draft)}
    other_customers = (
        set(Customer.objects.filter(email__in=draft_emails).exclude(pk=customer.pk).values_list("email", flat=True))
        if draft_emails
        else set()
    )
    findings = output_scan(
        text=f"{draft}\n{rationale}",
        canary=canary_token(),
        customer_email=customer.email,
        own_addresses=ours,
        other_customer_emails=other_customers,
    )

    checked = CheckedOutput(draft=draft, rationale=rationale, risk_flags=list(output.risk_flags))
    details = checked.flag_details
    for flag in output.risk_flags:
        details[flag] = {"evidence": [f"model: {rationale[:200]}"], "source": "model"}
    if injection := injection_flag(context.injection):
        checked.risk_flags.append("injection_suspected")
        details.update(injection)
    if ungrounded:
        checked.risk_flags.append("ungrounded")
        details["ungrounded"] = {
            "evidence": [f"{item.kind}: {item.value}" for item in ungrounded],
            "source": "grounding",
        }
    for finding in findings:
        checked.risk_flags.append(finding.flag)
        entry = details.setdefault(finding.flag, {"evidence": [], "source": "output_scan"})
        entry["evidence"].append(f"{finding.kind}: {finding.evidence}")
    checked.risk_flags = dedupe(checked.risk_flags)
    return checked
