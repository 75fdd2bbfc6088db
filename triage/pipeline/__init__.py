"""The triage pipeline: claim a ticket, ask the provider chain, validate, check, decide, record.

A run (``run.triage_run_execute``, called by ``triage.tasks.triage_ticket_task``) is these steps,
each in its own module:

1. ``claim``: ``new -> triaging`` with a conditional UPDATE (a redelivered twin does nothing);
2. ``context``: the ticket's text, the local model's probabilities (the high-stakes probability
   comes from them whatever provider answers), knowledge-base passages, the injection scan, and
   the prompt with personal data redacted (ticket text only as labelled, delimited, untrusted
   data in the user message; the system prompt carries a canary);
3. the provider chain (``triage.providers``: retries, breaker, budget, cache, one repair,
   fallback), each answer checked by ``validation`` and each failed attempt written at once to
   the ``decision_log``;
4. ``checks``: placeholders restored in the draft, grounding, the output scan, risk flags;
5. ``finalise``: in ONE transaction, and only if the claim is still ours: classification,
   routing, SLA, ``triage.policy``, the final decision, then the automatic reply or the review
   queue with every reason.
"""

from triage.pipeline.claim import triage_claim_token, triage_requeue_stuck
from triage.pipeline.decision_log import decision_summary
from triage.pipeline.finalise import TriageOutcome, triage_hand_to_human
from triage.pipeline.run import TriageRerunRefused, triage_rerun, triage_run_claimed, triage_run_execute

__all__ = [
    "TriageOutcome",
    "TriageRerunRefused",
    "decision_summary",
    "triage_claim_token",
    "triage_hand_to_human",
    "triage_requeue_stuck",
    "triage_rerun",
    "triage_run_claimed",
    "triage_run_execute",
]
