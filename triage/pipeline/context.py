"""Everything one triage run knows before it asks a provider: the ticket's text, the local
model's view (its probabilities give the high-stakes probability, whatever provider answers), the
knowledge-base passages, the redacted prompt and the injection scan."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from support.models import Category, Message, Team, Ticket
from triage.classifier import LocalClassifier, Prediction, ticket_text
from triage.configuration.runtime import TriageSetup
from triage.embeddings import get_encoder
from triage.injection import InjectionResult, injection_scan
from triage.kb.retrieval import ChunkHit, hybrid_enabled, kb_search
from triage.models import TriageDecision
from triage.pii import CUSTOMER_FIRST_NAME_PLACEHOLDER, CUSTOMER_NAME_PLACEHOLDER, pii_redact
from triage.prompts import Prompt, canary_token
from triage.providers.base import TriageRequest
from triage.schemas import triage_output_json_schema

logger = logging.getLogger(__name__)

KB_HITS_IN_PROMPT = 5
# What the model reads of a thread. A support question fits in far less; the cap bounds the cost
# of redaction (it grows with length) and of the LLM call whatever a sender pastes.
MODEL_INPUT_MAX_CHARS = 20_000


@dataclass
class PipelineContext:
    ticket: Ticket
    started: datetime  # the claim token
    subject: str
    body: str
    thread_texts: list[str]
    classifier_text: str
    injection: InjectionResult
    high_stakes_probability: float | None
    local_label: str | None
    prompt_version: str
    input_hash: str
    setup: TriageSetup  # the deciding configuration's prompt, providers, model and thresholds
    mapping: dict[str, str] = field(default_factory=dict)  # PII placeholder -> original
    attempts: int = 0  # decision-log rows written for this ticket so far
    # The ticket's sentence embedding (classifier_text), computed once per run; None when no
    # part of the run uses the encoder.
    ticket_vector: np.ndarray | None = None


@dataclass(frozen=True)
class PreparedRun:
    context: PipelineContext
    request: TriageRequest
    prompt: Prompt
    category_slugs: set[str]
    team_slugs: set[str]


def context_build(*, ticket_id: int, started: datetime, setup: TriageSetup) -> PreparedRun:
    ticket = Ticket.objects.select_related("customer").get(pk=ticket_id)
    messages = list(ticket.messages.order_by("created_at", "id"))
    inbound = [m for m in messages if m.direction == Message.Direction.INBOUND and not m.is_automated]
    body = "\n\n".join((m.body_for_model or m.body_text).strip() for m in inbound) or ticket.subject
    return context_prepare(
        ticket=ticket,
        started=started,
        subject=ticket.subject,
        body=body,
        thread_texts=[m.body_text for m in messages] + [m.body_for_model for m in messages],
        setup=setup,
        # Attempt numbers continue across runs (an operator's --force re-run, a swept claim).
        attempts=TriageDecision.objects.filter(ticket=ticket).count(),
    )


def context_prepare(
    *,
    ticket: Ticket,
    started: datetime,
    subject: str,
    body: str,
    thread_texts: list[str],
    setup: TriageSetup,
    attempts: int = 0,
) -> PreparedRun:
    """Everything before the provider chain, from text: the live run passes a stored ticket, an
    evaluation run an unsaved one (``triage.evaluation.running``), so both run the same steps."""
    body = body[:MODEL_INPUT_MAX_CHARS]
    classifier_text = ticket_text(subject=subject, body=body)

    # Embedded once, here: the classifier's embedding half finds it in the encoder's cache of
    # recent texts, and the KB search takes it as is.
    ticket_vector = _ticket_embedding(classifier_text, setup.classifier)
    prediction = _local_prediction(classifier_text, setup.classifier)
    categories = list(Category.objects.select_related("default_team").order_by("slug"))
    high_stakes_probability = None
    if prediction is not None:
        high_stakes = {c.slug for c in categories if c.high_stakes}
        high_stakes_probability = round(
            sum(p for slug, p in prediction.probabilities.items() if slug in high_stakes), 6
        )

    prompt = setup.prompt
    teams = list(Team.objects.order_by("slug"))
    kb_hits = _kb_hits(classifier_text, ticket_vector)
    (red_subject, red_body), redaction = pii_redact([subject, body], customer_name=ticket.customer.name)
    system_prompt = prompt.render_system(
        categories="\n".join(f"- {c.slug}: {c.name}" for c in categories),
        teams="\n".join(f"- {t.slug}: {t.name}" for t in teams),
        canary=canary_token(),
        schema=json.dumps(triage_output_json_schema(), separators=(",", ":")),
    )
    user_prompt = prompt.render_user(
        subject=red_subject,
        body=red_body,
        customer_name=_customer_label(redaction.mapping),
        # Our own published help text: not personal data, sent as is.
        kb_excerpts="\n\n".join(
            f"[{hit.chunk_id}] {hit.article_title} / {hit.heading}\n{hit.text}" for hit in kb_hits
        ),
    )
    context = PipelineContext(
        ticket=ticket,
        started=started,
        subject=subject,
        body=body,
        thread_texts=thread_texts,
        classifier_text=classifier_text,
        injection=injection_scan(f"{subject}\n{body}"),
        high_stakes_probability=high_stakes_probability,
        local_label=prediction.label if prediction else None,
        prompt_version=prompt.version,
        mapping=redaction.mapping,
        input_hash=hashlib.sha256(f"{subject}\n{body}".encode()).hexdigest(),
        setup=setup,
        attempts=attempts,
        ticket_vector=ticket_vector,
    )
    request = TriageRequest(
        ticket_id=ticket.pk or 0,  # 0: an evaluation case, not a stored ticket
        prompt_version=prompt.version,
        system_prompt=system_prompt,
        user_prompt_redacted=user_prompt,
        ticket_text=classifier_text,
        customer_name=ticket.customer.name,
        kb_hits=kb_hits,
        local_prediction=prediction,
        category_teams={c.slug: c.default_team.slug for c in categories},
    )
    return PreparedRun(
        context=context,
        request=request,
        prompt=prompt,
        category_slugs={c.slug for c in categories},
        team_slugs={t.slug for t in teams},
    )


def _customer_label(mapping: dict[str, str]) -> str:
    if CUSTOMER_NAME_PLACEHOLDER not in mapping:
        return "(name unknown)"
    if CUSTOMER_FIRST_NAME_PLACEHOLDER in mapping:
        return f"{CUSTOMER_NAME_PLACEHOLDER} (first name {CUSTOMER_FIRST_NAME_PLACEHOLDER})"
    return CUSTOMER_NAME_PLACEHOLDER


def _local_prediction(text: str, classifier: LocalClassifier | None) -> Prediction | None:
    if classifier is None:
        return None
    try:
        return classifier.predict(text)
    except Exception:  # a broken model file: carry on without it (high-stakes unknown -> review)
        logger.warning("local classifier failed", exc_info=True)
        return None


def _ticket_embedding(text: str, classifier: LocalClassifier | None) -> np.ndarray | None:
    """The ticket's vector when the classifier's embedding half or hybrid KB retrieval needs it."""
    if not hybrid_enabled() and (classifier is None or classifier.embedding_head is None):
        return None
    try:
        return get_encoder().encode([text])[0]
    except Exception:  # logged as an ERROR by get_encoder; the consumers degrade as before
        logger.warning("ticket embedding failed", exc_info=True)
        return None


def _kb_hits(text: str, vector: np.ndarray | None) -> list[ChunkHit]:
    try:
        return kb_search(query=text, limit=KB_HITS_IN_PROMPT, query_vector=vector)
    except Exception:  # retrieval is an aid; the ticket is still triaged without it
        logger.warning("knowledge-base search failed", exc_info=True)
        return []
