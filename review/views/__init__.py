"""Thin adapters for the review pages: validate input, call one service or selector, render.

One view serves a page and its fragments: an htmx request gets ``page.html#partial``.
Every action is a plain POST form followed by a redirect, so the pages work without JavaScript;
review.js adds keyboard shortcuts and the claim heartbeat.

Bad input never reaches a service as an exception: an unknown id, or a ticket outside the agent's
teams (``Ticket.objects.visible_to``), is a 404 page (JSON for the heartbeat, which answers in
JSON); a malformed parameter is a 400 page that says which one.

The views live in modules by page: ``queue`` (the queue, Next ticket), ``ticket`` (the ticket
page and its actions), ``manager`` (audits, brakes, dashboard); ``common`` holds the shared guard.
"""

from review.views.manager import (
    audit,
    audit_grade,
    automation,
    automation_resume,
    dashboard,
    dashboard_csv,
)
from review.views.queue import next_ticket, queue
from review.views.ticket import (
    approve,
    claim,
    delivery_retry,
    escalate,
    heartbeat,
    override,
    reject,
    release,
    snooze,
    ticket,
)

__all__ = [
    "approve",
    "audit",
    "audit_grade",
    "automation",
    "automation_resume",
    "claim",
    "dashboard",
    "dashboard_csv",
    "delivery_retry",
    "escalate",
    "heartbeat",
    "next_ticket",
    "override",
    "queue",
    "reject",
    "release",
    "snooze",
    "ticket",
]
