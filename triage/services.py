"""The triage pipeline: claim a ticket, ask the provider chain, validate, decide, record.

Flow of ``triage_run_execute`` (called by ``triage.tasks.triage_ticket_task``):

1. claim the ticket ``new → triaging`` with a conditional UPDATE (a redelivered twin does nothing);
2. scan the ticket for prompt injection, ask the local classifier for its probabilities (the
   high-stakes probability is computed from them whatever provider answers), retrieve KB chunks;
3. redact personal data and build the prompt (ticket text only as labelled, delimited, untrusted
   data in the user message; the system prompt carries a canary);
4. run the provider chain (retries, breaker, budget, cache, one repair, fallback); every failed
   attempt is written to the decision log at once;
5. restore placeholders in the draft, check grounding and scan the output;
6. in ONE transaction, and only if the claim is still ours: set category/priority/language, route,
   apply the SLA, ask ``triage.policy.policy_evaluate``, then either auto-reply (outbox row +
   audit sampling) or hand to a human with every reason; write the final decision.

Every path ends in ``awaiting_review`` or ``auto_replied``; an unexpected error hands the ticket
to a human with ``ai_unavailable``, and a killed worker's ticket is re-queued by the sweeper.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from support.models import Category, Customer, Message, Team, Ticket
from support.services import ticket_event_record, triage_dispatch
from triage.grounding import grounding_check
from triage.injection import EMAIL_RE, InjectionResult, injection_scan, output_scan
from triage.models import TriageDecision
from triage.pii import (
    CUSTOMER_FIRST_NAME_PLACEHOLDER,
    CUSTOMER_NAME_PLACEHOLDER,
    pii_redact,
    pii_redact_text,
    pii_restore,
)
from triage.prompts import canary_token, prompt_load
from triage.providers import chain_healthy, providers_from_settings
from triage.providers.base import TriageRequest
from triage.providers.chain import Attempt, ChainResult, chain_run
from triage.schemas import (
    OutputInvalid,
    TriageOutput,
    triage_output_json_schema,
    triage_output_parse,
)

logger = logging.getLogger(__name__)

RECORD_MAX_CHARS = 20_000
KB_HITS_IN_PROMPT = 5
REASON_AI_UNAVAILABLE = "ai_unavailable"


# --- Claiming -------------------------------------------------------------------------------------


def triage_claim_token(*, ticket_id: int) -> datetime | None:
    """Move a ticket new → triaging and return the claim's start time, or None if someone else
    has it. The start time is the claim token: finalising checks it is unchanged, so a worker
    whose claim was swept (it was presumed dead) cannot write a second outcome."""
    started = timezone.now()
    claimed = Ticket.objects.filter(pk=ticket_id, status=Ticket.Status.NEW).update(
        status=Ticket.Status.TRIAGING,
        triage_started_at=started,
        triage_attempts=F("triage_attempts") + 1,
    )
    return started if claimed == 1 else None


def triage_claim(*, ticket_id: int) -> bool:
    """Move a ticket new → triaging. Exactly one caller wins; a redelivered twin gets False."""
    return triage_claim_token(ticket_id=ticket_id) is not None


# --- The pipeline ---------------------------------------------------------------------------


@dataclass
class _Context:
    ticket: Ticket
    started: datetime
    subject: str
    body: str
    thread_texts: list[str]
    classifier_text: str
    injection: InjectionResult
    high_stakes_probability: float | None
    local_label: str | None
    prompt_version: str
    input_hash: str
    mapping: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


@dataclass(frozen=True)
class TriageOutcome:
    status: str
    decision: TriageDecision | None


def triage_run_execute(*, ticket_id: int) -> str:
    """Triage one ticket end to end. Returns a short status string for the task result."""
    started = triage_claim_token(ticket_id=ticket_id)
    if started is None:
        return "skipped: not new"
    return triage_run_claimed(ticket_id=ticket_id, started=started).status


def triage_run_claimed(
    *, ticket_id: int, started: datetime, use_cache: bool = True
) -> TriageOutcome:
    """The pipeline body. Precondition: the caller holds the claim identified by ``started``."""
    try:
        return _pipeline(ticket_id=ticket_id, started=started, use_cache=use_cache)
    except Exception as exc:
        # Never a ticket stuck in triaging: whatever broke, a human gets it, visibly.
        logger.exception("triage pipeline failed for ticket %s", ticket_id)
        decision = _hand_over_if_ours(
            ticket_id=ticket_id,
            started=started,
            reasons=[REASON_AI_UNAVAILABLE],
            fallback_reason=f"pipeline error: {type(exc).__name__}",
            error_class=type(exc).__name__,
        )
        return TriageOutcome(
            status="awaiting_review" if decision else "skipped: claim lost", decision=decision
        )


def _pipeline(*, ticket_id: int, started: datetime, use_cache: bool) -> TriageOutcome:
    ticket = Ticket.objects.select_related("customer").get(pk=ticket_id)
    messages = list(ticket.messages.order_by("created_at", "id"))
    inbound = [
        m for m in messages if m.direction == Message.Direction.INBOUND and not m.is_automated
    ]
    body = "\n\n".join((m.body_for_model or m.body_text).strip() for m in inbound) or ticket.subject
    subject = ticket.subject
    classifier_text = _classifier_text(subject=subject, body=body)

    prediction = _local_prediction(classifier_text)
    high_stakes_probability = None
    if prediction is not None:
        high_stakes = set(Category.objects.filter(high_stakes=True).values_list("slug", flat=True))
        high_stakes_probability = round(
            sum(p for slug, p in prediction.probabilities.items() if slug in high_stakes), 6
        )

    prompt = prompt_load()
    categories = list(Category.objects.select_related("default_team").order_by("slug"))
    teams = list(Team.objects.order_by("slug"))
    kb_hits = _kb_hits(classifier_text)
    (red_subject, red_body), redaction = pii_redact(
        [subject, body], customer_name=ticket.customer.name
    )
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
    ctx = _Context(
        ticket=ticket,
        started=started,
        subject=subject,
        body=body,
        thread_texts=[m.body_text for m in messages] + [m.body_for_model for m in messages],
        classifier_text=classifier_text,
        injection=injection_scan(f"{subject}\n{body}"),
        high_stakes_probability=high_stakes_probability,
        local_label=prediction.label if prediction else None,
        prompt_version=prompt.version,
        mapping=redaction.mapping,
        input_hash=hashlib.sha256(f"{subject}\n{body}".encode()).hexdigest(),
        # Attempt numbers continue across runs (an operator's --force re-run, a swept claim).
        attempts=TriageDecision.objects.filter(ticket=ticket).count(),
    )
    request = TriageRequest(
        ticket_id=ticket.pk,
        prompt_version=prompt.version,
        system_prompt=system_prompt,
        user_prompt_redacted=user_prompt,
        ticket_text=classifier_text,
        customer_name=ticket.customer.name,
        kb_hits=kb_hits,
        local_prediction=prediction,
        category_teams={c.slug: c.default_team.slug for c in categories},
    )
    category_slugs = {c.slug for c in categories}
    team_slugs = {t.slug for t in teams}

    def validate(raw: str) -> TriageOutput:
        return _validate(raw, category_slugs=category_slugs, team_slugs=team_slugs)

    result = chain_run(
        providers=providers_from_settings(),
        request=request,
        validate=validate,
        repair_instruction=lambda error: prompt.render_repair(error=error),
        on_attempt=lambda attempt: _record_attempt_quiet(ctx, attempt),
        use_cache=use_cache,
    )
    if result.winner is None or result.winner.output is None:
        reasons = [REASON_AI_UNAVAILABLE] + (
            ["injection_suspected"] if ctx.injection.suspected else []
        )
        decision = _hand_over_if_ours(
            ticket_id=ticket.pk,
            started=started,
            reasons=reasons,
            fallback_reason="; ".join(result.fallback_reasons)
            or "no provider in LLM_CHAIN answered",
            ctx=ctx,
        )
        return TriageOutcome(
            status="awaiting_review" if decision else "skipped: claim lost", decision=decision
        )
    return _finalise(ctx, result)


def _customer_label(mapping: dict[str, str]) -> str:
    if CUSTOMER_NAME_PLACEHOLDER not in mapping:
        return "(name unknown)"
    if CUSTOMER_FIRST_NAME_PLACEHOLDER in mapping:
        return f"{CUSTOMER_NAME_PLACEHOLDER} (first name {CUSTOMER_FIRST_NAME_PLACEHOLDER})"
    return CUSTOMER_NAME_PLACEHOLDER


def _classifier_text(*, subject: str, body: str) -> str:
    from triage.classifier import ticket_text  # lazy: scikit-learn loads only when triage runs

    return ticket_text(subject=subject, body=body)


def _local_prediction(text: str) -> Any:
    from triage.classifier import active_classifier

    classifier = active_classifier()
    if classifier is None:
        return None
    try:
        return classifier.predict(text)
    except Exception:  # a broken model file: carry on without it (high-stakes unknown → review)
        logger.warning("local classifier failed", exc_info=True)
        return None


def _kb_hits(text: str) -> list[Any]:
    try:
        from triage.kb.retrieval import kb_search

        return kb_search(query=text, limit=KB_HITS_IN_PROMPT)
    except Exception:  # retrieval is an aid; the ticket is still triaged without it
        logger.warning("knowledge-base search failed", exc_info=True)
        return []


def _validate(raw: str, *, category_slugs: set[str], team_slugs: set[str]) -> TriageOutput:
    """Schema first (strict), then our own data: the category, team and cited chunks must exist."""
    from triage.kb.models import Chunk

    output = triage_output_parse(raw)
    problems = []
    if output.category not in category_slugs:
        problems.append(f"category {output.category!r} does not exist")
    if output.team not in team_slugs:
        problems.append(f"team {output.team!r} does not exist")
    cited = set(output.citations)
    if cited:
        known = set(Chunk.objects.filter(pk__in=cited).values_list("pk", flat=True))
        if unknown := sorted(cited - known):
            problems.append(f"cited knowledge-base chunks {unknown} do not exist")
    if problems:
        raise OutputInvalid("; ".join(problems))
    return output


def _cap(text: str) -> str:
    return text if len(text) <= RECORD_MAX_CHARS else text[:RECORD_MAX_CHARS] + "\n…[truncated]"


def _output_fields(output: TriageOutput | None) -> dict[str, Any]:
    if output is None:
        return {}
    return {
        "category_slug": output.category,
        "priority": output.priority,
        "sentiment": output.sentiment,
        "language": output.language,
        "team_slug": output.team,
        "confidence": output.confidence,
        "citations": list(output.citations),
        "rationale": output.rationale[:1000],
    }


def _record_attempt(ctx: _Context, attempt: Attempt) -> TriageDecision:
    """A failed attempt, written at once (its own transaction): the log survives a killed worker."""
    ctx.attempts += 1
    return TriageDecision.objects.create(
        ticket=ctx.ticket,
        attempt=ctx.attempts,
        provider=attempt.provider,
        model=attempt.model[:120],
        prompt_version=ctx.prompt_version,
        input_hash=ctx.input_hash,
        request_redacted=_cap(attempt.request_record),
        response_redacted=_cap(pii_redact_text(attempt.content)),
        **_output_fields(attempt.output),
        high_stakes_probability=ctx.high_stakes_probability,
        needs_review=True,
        is_final=False,
        succeeded=False,
        tokens_in=attempt.tokens_in,
        tokens_out=attempt.tokens_out,
        cost_usd=attempt.cost_usd,
        latency_ms=attempt.latency_ms,
        cache_hit=attempt.cache_hit,
        fallback_reason=(("repair: " if attempt.repair else "") + attempt.error)[:200],
        error_class=attempt.error_class[:120],
    )


def _record_attempt_quiet(ctx: _Context, attempt: Attempt) -> None:
    _record_attempt(ctx, attempt)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _finalise(ctx: _Context, result: ChainResult) -> TriageOutcome:
    from triage.autonomy import automation_record_sent
    from triage.kb.models import Chunk
    from triage.policy import policy_evaluate
    from triage.routing import route_ticket
    from triage.sla import sla_apply

    winner = result.winner
    assert winner is not None and winner.output is not None
    output = winner.output
    ticket = ctx.ticket
    customer = ticket.customer
    draft = pii_restore(output.reply_draft, ctx.mapping)
    rationale = pii_restore(output.rationale, ctx.mapping)

    cited_texts = list(Chunk.objects.filter(pk__in=output.citations).values_list("text", flat=True))
    own_addresses = _own_addresses()
    sources = [
        ctx.subject,
        *ctx.thread_texts,
        customer.email,
        customer.name,
        *cited_texts,
        *own_addresses,
    ]
    ungrounded = grounding_check(draft=draft, sources=sources)
    draft_emails = {address.lower() for address in EMAIL_RE.findall(draft)}
    other_customers = (
        set(
            Customer.objects.filter(email__in=draft_emails)
            .exclude(pk=customer.pk)
            .values_list("email", flat=True)
        )
        if draft_emails
        else set()
    )
    findings = output_scan(
        text=f"{draft}\n{rationale}",
        canary=canary_token(),
        customer_email=customer.email,
        own_addresses=own_addresses,
        other_customer_emails=other_customers,
    )

    flag_details: dict[str, Any] = {}
    risk_flags: list[str] = list(output.risk_flags)
    for flag in output.risk_flags:
        flag_details[flag] = {"evidence": [f"model: {rationale[:200]}"], "source": "model"}
    if ctx.injection.suspected:
        risk_flags.append("injection_suspected")
        flag_details["injection_suspected"] = {
            "evidence": ctx.injection.evidence,
            "rules": ctx.injection.rules,
            "score": ctx.injection.score,
            "source": "detector",
        }
    if ungrounded:
        risk_flags.append("ungrounded")
        flag_details["ungrounded"] = {
            "evidence": [f"{item.kind}: {item.value}" for item in ungrounded],
            "source": "grounding",
        }
    for finding in findings:
        risk_flags.append(finding.flag)
        entry = flag_details.setdefault(finding.flag, {"evidence": [], "source": "output_scan"})
        entry["evidence"].append(f"{finding.kind}: {finding.evidence}")
    risk_flags = _dedupe(risk_flags)
    healthy = chain_healthy()

    with transaction.atomic():
        locked = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("customer", "assignee", "team")
            .get(pk=ticket.pk)
        )
        if not _claim_is_ours(locked, ctx.started):
            _record_attempt(ctx, _lost(winner))
            return TriageOutcome(status="skipped: claim lost", decision=None)
        category = Category.objects.select_related("default_team").get(slug=output.category)
        before = {
            "category": locked.category.slug if locked.category is not None else None,
            "priority": locked.priority,
        }
        locked.category = category
        locked.priority = output.priority
        locked.language = output.language
        locked.risk_flags = risk_flags
        locked.save(update_fields=["category", "priority", "language", "risk_flags", "updated_at"])
        routing = route_ticket(ticket=locked, category=category, language=output.language)
        sla_apply(ticket=locked)
        verdict = policy_evaluate(
            ticket=locked,
            category=category,
            team=routing.team,
            confidence=output.confidence,
            high_stakes_probability=ctx.high_stakes_probability,
            risk_flags=risk_flags,
            chain_healthy=healthy,
        )
        ctx.attempts += 1
        fields = _output_fields(output) | {"rationale": rationale[:1000]}
        decision = TriageDecision.objects.create(
            ticket=locked,
            attempt=ctx.attempts,
            provider=winner.provider,
            model=winner.model[:120],
            prompt_version=ctx.prompt_version,
            input_hash=ctx.input_hash,
            request_redacted=_cap(winner.request_record),
            response_redacted=_cap(pii_redact_text(winner.content)),
            **fields,
            reply_draft=draft if verdict.draft_allowed else "",
            risk_flags=risk_flags,
            flag_details=flag_details,
            high_stakes_probability=ctx.high_stakes_probability,
            needs_review=not verdict.auto_send,
            review_reasons=list(verdict.reasons),
            is_final=True,
            succeeded=True,
            tokens_in=winner.tokens_in,
            tokens_out=winner.tokens_out,
            cost_usd=winner.cost_usd,
            latency_ms=winner.latency_ms,
            cache_hit=winner.cache_hit,
            fallback_reason="; ".join(result.fallback_reasons)[:200],
            error_class=("repaired: " + winner.error_class)[:120] if winner.repair else "",
        )
        ticket_event_record(
            ticket=locked,
            verb="triaged",
            actor_label="ai",
            before=before,
            after={
                "category": category.slug,
                "priority": output.priority,
                "provider": winner.provider,
                "decision": decision.pk,
            },
        )
        if verdict.auto_send:
            from support.delivery import outbound_reply_create

            outbound, _created = outbound_reply_create(
                ticket=locked,
                body_text=draft,
                created_by=None,
                auto_submitted=True,
                idempotency_key=f"auto:{locked.pk}",
            )
            automation_record_sent(ticket=locked, outbound=outbound, decision=decision)
            locked.status = Ticket.Status.AUTO_REPLIED
            locked.review_reasons = []
            ticket_event_record(
                ticket=locked,
                verb="auto_replied",
                actor_label="ai",
                after={"outbound": outbound.pk, "decision": decision.pk},
            )
        else:
            locked.status = Ticket.Status.AWAITING_REVIEW
            locked.review_reasons = list(verdict.reasons)
            ticket_event_record(
                ticket=locked,
                verb="needs_review",
                actor_label="ai",
                after={"reasons": list(verdict.reasons), "decision": decision.pk},
            )
        locked.save(update_fields=["status", "review_reasons", "updated_at"])
    # Ids and codes only: the ticket text never goes to the log.
    logger.info(
        "triaged ticket %s: %s via %s/%s (cache_hit=%s, cost=%s, reasons=%s, fallback=%s)",
        locked.pk,
        locked.status,
        winner.provider,
        winner.model,
        winner.cache_hit,
        winner.cost_usd,
        ",".join(verdict.reasons) or "-",
        "; ".join(result.fallback_reasons) or "-",
    )
    return TriageOutcome(status=str(locked.status), decision=decision)


def _lost(winner: Attempt) -> Attempt:
    winner.error_class = "ClaimLost"
    winner.error = (
        "another worker re-claimed this ticket (swept as stuck); this result was not applied"
    )
    return winner


def _own_addresses() -> list[str]:
    from email.utils import parseaddr

    addresses = [settings.DEFAULT_FROM_EMAIL, *settings.SUPPORT_ADDRESSES]
    return _dedupe([parseaddr(address)[1].lower() for address in addresses])


def _claim_is_ours(ticket: Ticket, started: datetime) -> bool:
    return (
        ticket.status == Ticket.Status.TRIAGING
        and ticket.triage_started_at == started
        and not TriageDecision.objects.filter(ticket=ticket, is_final=True).exists()
    )


def _hand_over_if_ours(
    *,
    ticket_id: int,
    started: datetime,
    reasons: list[str],
    fallback_reason: str,
    ctx: _Context | None = None,
    error_class: str = "",
) -> TriageDecision | None:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if not _claim_is_ours(ticket, started):
            return None
        details: dict[str, Any] = {}
        flags: list[str] = []
        if ctx is not None and ctx.injection.suspected:
            flags.append("injection_suspected")
            details["injection_suspected"] = {
                "evidence": ctx.injection.evidence,
                "rules": ctx.injection.rules,
                "score": ctx.injection.score,
                "source": "detector",
            }
        return triage_hand_to_human(
            ticket=ticket,
            reasons=reasons,
            fallback_reason=fallback_reason,
            risk_flags=flags,
            flag_details=details,
            high_stakes_probability=ctx.high_stakes_probability if ctx else None,
            prompt_version=ctx.prompt_version if ctx else "",
            input_hash=ctx.input_hash if ctx else "",
            attempt=(ctx.attempts + 1) if ctx else 1,
            error_class=error_class,
        )


def triage_hand_to_human(
    *,
    ticket: Ticket,
    reasons: list[str],
    fallback_reason: str = "",
    risk_flags: list[str] | None = None,
    flag_details: dict[str, Any] | None = None,
    high_stakes_probability: float | None = None,
    prompt_version: str = "",
    input_hash: str = "",
    attempt: int = 1,
    error_class: str = "",
) -> TriageDecision:
    """Write the final 'no AI decision' row and put the ticket in the review queue."""
    with transaction.atomic():
        decision = TriageDecision.objects.create(
            ticket=ticket,
            attempt=attempt,
            provider="none",
            prompt_version=prompt_version,
            input_hash=input_hash,
            needs_review=True,
            review_reasons=reasons,
            risk_flags=risk_flags or [],
            flag_details=flag_details or {},
            high_stakes_probability=high_stakes_probability,
            is_final=True,
            fallback_reason=fallback_reason[:200],
            error_class=error_class[:120],
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Ticket.Status.AWAITING_REVIEW,
            review_reasons=reasons,
            risk_flags=risk_flags or [],
        )
        ticket_event_record(
            ticket=ticket, verb="needs_review", actor_label="ai", after={"reasons": reasons}
        )
    logger.info(
        "ticket %s handed to a human: %s (%s)", ticket.pk, ",".join(reasons), fallback_reason or "-"
    )
    return decision


def triage_requeue_stuck() -> int:
    """Tickets left in ``triaging`` past the deadline (a killed worker) go back to ``new``."""
    cutoff = timezone.now() - timedelta(seconds=settings.TRIAGE_STUCK_SECONDS)
    stuck = list(
        Ticket.objects.filter(
            status=Ticket.Status.TRIAGING, triage_started_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    reset = Ticket.objects.filter(pk__in=stuck, status=Ticket.Status.TRIAGING).update(
        status=Ticket.Status.NEW
    )
    if stuck:
        triage_dispatch(ticket_ids=stuck)
    return reset


# --- Operator re-runs -----------------------------------------------------------------------

RERUNNABLE = (Ticket.Status.NEW, Ticket.Status.TRIAGING, Ticket.Status.AWAITING_REVIEW)


class TriageRerunRefused(Exception):
    pass


def triage_rerun(*, ticket_id: int, actor_label: str = "operator") -> TriageOutcome:
    """Re-triage a ticket on an operator's request (``triage_ticket --force``).

    Allowed while nobody has answered the customer (new, triaging, awaiting_review). The previous
    final decision stays in the log but loses ``is_final`` (the one row we ever update: the
    partial unique index allows one final row per ticket); an event records who re-ran it.
    """
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.status not in RERUNNABLE:
            raise TriageRerunRefused(
                f"ticket {ticket_id} is {ticket.status}: a reply already went out, "
                "re-triage refused"
            )
        previous = TriageDecision.objects.filter(ticket=ticket, is_final=True).first()
        if previous is not None:
            TriageDecision.objects.filter(pk=previous.pk).update(is_final=False)
        started = timezone.now()
        Ticket.objects.filter(pk=ticket.pk).update(
            status=Ticket.Status.TRIAGING,
            triage_started_at=started,
            triage_attempts=F("triage_attempts") + 1,
        )
        ticket_event_record(
            ticket=ticket,
            verb="retriage",
            actor_label=actor_label,
            before={"status": ticket.status, "decision": previous.pk if previous else None},
        )
    # A re-run asks the provider again: serving the cached answer would only repeat the old one.
    return triage_run_claimed(ticket_id=ticket_id, started=started, use_cache=False)


def decision_summary(decision: TriageDecision) -> dict[str, Any]:
    """The operator's view of a decision (``triage_ticket --json``)."""
    ticket = decision.ticket
    return {
        "ticket_id": ticket.pk,
        "decision_id": decision.pk,
        "status": ticket.status,
        "provider": decision.provider,
        "model": decision.model,
        "prompt_version": decision.prompt_version,
        "category": decision.category_slug or None,
        "priority": decision.priority or None,
        "sentiment": decision.sentiment or None,
        "language": decision.language or None,
        "team": decision.team_slug or None,
        "confidence": decision.confidence,
        "high_stakes_probability": decision.high_stakes_probability,
        "needs_review": decision.needs_review,
        "review_reasons": list(decision.review_reasons),
        "risk_flags": list(decision.risk_flags),
        "citations": list(decision.citations),
        "tokens_in": decision.tokens_in,
        "tokens_out": decision.tokens_out,
        "cost_usd": float(Decimal(decision.cost_usd)),
        "latency_ms": decision.latency_ms,
        "cache_hit": decision.cache_hit,
        "fallback_reason": decision.fallback_reason or None,
        "attempts": ticket.triage_decisions.count(),
        "reply_draft": decision.reply_draft,
    }
