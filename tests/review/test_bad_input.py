"""Issue 13, point 5: every bad id, parameter or payload is a 4xx that says what was wrong,
never a 500. One case per URL pattern of review/urls.py (and the project's own root URLs); a
completeness test fails when a pattern is added without one. Each case was a 500 (or leaked)
before, or pins a 4xx that a refactor could lose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, reverse

from review import urls as review_urls
from review.models import AuditSample
from support.models import Category, OutboundMessage

pytestmark = pytest.mark.django_db

HUGE = 10**30  # past bigint: PostgreSQL raised "out of range" for OFFSET
UNKNOWN = 987_654


@dataclass(frozen=True)
class Case:
    method: str
    args: tuple[Any, ...] = ()
    data: dict[str, str] = field(default_factory=dict)
    status: int = 404
    says: str = "No such ticket"
    htmx: bool = False


# URL name → bad requests; ``"ticket"`` in args is replaced by a real ticket's id.
CASES: dict[str, list[Case]] = {
    "queue": [
        Case("get", data={"offset": str(HUGE)}, status=400, says="Offset"),
        Case("get", data={"offset": "-3"}, status=400, says="Offset"),
        Case("get", data={"limit": "lots"}, status=400, says="Limit"),
        Case("get", data={"team": "no-such-team"}, status=400, says="Team"),
        Case("get", data={"offset": "abc"}, status=400, says="Offset", htmx=True),
    ],
    "next": [
        Case("post", data={"skip": "abc"}, status=400, says="Ticket to skip"),
        Case("post", data={"skip": "²"}, status=400, says="Ticket to skip"),  # "²".isdigit() is True
        Case("post", data={"skip": str(HUGE)}, status=400, says="Ticket to skip"),
    ],
    "bulk": [
        Case("post", data={"action": "explode", "ticket": "1"}, status=400, says="Action"),
        Case("post", data={"action": "spam"}, status=400, says="Select at least one ticket"),
        Case("post", data={"action": "spam", "ticket": str(HUGE)}, status=400, says="Select at least"),
        Case("post", data={"action": "snooze", "ticket": "1", "minutes": "7"}, status=400, says="Snooze"),
        Case("post", data={"action": "assign", "ticket": "1", "assignee": "x"}, status=400, says="Assign to"),
    ],
    "macros": [Case("get", (UNKNOWN,), says='"detail": "No such ticket."')],
    "ticket": [
        Case("get", (UNKNOWN,)),
        Case("get", (HUGE,)),
        Case("get", (UNKNOWN,), data={"fragment": "delivery"}, htmx=True),
    ],
    "claim": [Case("post", (UNKNOWN,)), Case("post", (HUGE,))],
    "heartbeat": [Case("post", (UNKNOWN,), says='"detail": "No such ticket."')],
    "release": [Case("post", (UNKNOWN,))],
    "approve": [Case("post", (UNKNOWN,), data={"body_text": "Hello"})],
    "reject": [Case("post", (UNKNOWN,), data={"reason_code": "wrong_category"})],
    "override": [Case("post", (UNKNOWN,), data={"priority": "high"})],
    "escalate": [Case("post", (UNKNOWN,))],
    "snooze": [Case("post", (UNKNOWN,), data={"minutes": "15"})],
    "delivery_retry": [
        Case("post", ("ticket", UNKNOWN), says="No such reply"),
        Case("post", (UNKNOWN, UNKNOWN)),
        Case("post", ("ticket", "other-ticket-outbound"), says="No such reply"),
    ],
    "note": [Case("post", (UNKNOWN,), data={"body": "hi"}), Case("post", ("ticket",), data={}, status=302, says="")],
    "status": [
        Case("post", (UNKNOWN,), data={"status": "solved"}),
        Case("post", ("ticket",), data={"status": "closed"}, status=302, says=""),
    ],
    "reopen": [Case("post", (UNKNOWN,)), Case("post", ("ticket",), status=302, says="")],
    "regenerate": [Case("post", (UNKNOWN,)), Case("post", (HUGE,))],
    "attachment": [
        Case("get", (UNKNOWN, UNKNOWN)),
        Case("get", ("ticket", UNKNOWN), says="No such attachment"),
    ],
    "mentions": [Case("get", data={"junk": "\x00"}, status=200, says="Mentions")],
    "mentions_read": [Case("post", status=302, says="")],
    "audit": [Case("get", data={"junk": "\x00"}, status=200, says="Audit queue")],
    "audit_grade": [
        Case("post", (UNKNOWN,), data={"grade": "correct"}, says="No such audit sample"),
        Case("post", (HUGE,), data={"grade": "nonsense"}, says="No such audit sample"),
    ],
    "dashboard": [Case("get", data={"days": "forever"}, status=200, says="Dashboard")],
    "dashboard_csv": [
        Case("get", ("no-such-table",), says="No such dashboard table"),
        Case("get", ("categories",), data={"days": "forever"}, status=200, says="Category,Tickets"),
    ],
    "releases": [Case("get", data={"junk": "\x00"}, status=200, says="Releases")],
    "release_prompts": [Case("get", data={"show": "\x00", "old": "nope", "new": str(HUGE)}, status=200, says="Prompt")],
    "release_run": [
        Case("get", (UNKNOWN,), says="No such evaluation run"),
        Case("get", (HUGE,), data={"against": str(HUGE)}, says="No such evaluation run"),
    ],
    "release_promote": [Case("post", ("no-such-configuration",), data={"reason": "x"}, status=302, says="")],
    "release_rollback": [Case("post", data={"reason": "nothing to roll back to"}, status=302, says="")],
    "automation": [Case("get", data={"page": "-1"}, status=200, says="Automation")],
    "automation_resume": [
        Case("post", (UNKNOWN,), data={"reason": "fixed"}, says="No such category"),
        Case("post", (UNKNOWN,), data={}, says="No such category"),
    ],
}


def _cases() -> list[Any]:
    return [
        pytest.param(name, case, id=f"{name}-{index}")
        for name, cases in CASES.items()
        for index, case in enumerate(cases)
    ]


def test_every_review_url_pattern_has_a_bad_input_case():
    names = {p.name for p in review_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names == set(CASES)


@pytest.mark.parametrize(("name", "case"), _cases())
def test_bad_input_is_a_clear_4xx_never_a_500(client, manager_user, make_review_ticket, name, case):
    # Given a manager (every page is open to them) and a real ticket for "known id" cases
    ticket = make_review_ticket()
    other = make_review_ticket()
    other_outbound = OutboundMessage.objects.create(
        ticket=other, kind="email", idempotency_key=f"bad-input:{other.pk}",
        to_address="x@example.com", body_text="hi", status="failed",
    )
    replacements = {"ticket": ticket.pk, "other-ticket-outbound": other_outbound.pk}
    args = [replacements.get(arg, arg) if isinstance(arg, str) else arg for arg in case.args]
    client.force_login(manager_user)
    client.raise_request_exception = False
    headers = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}

    response = getattr(client, case.method)(
        reverse(f"review:{name}", args=args), case.data, **headers
    )

    assert response.status_code == case.status, response.content[:500]
    assert case.says in response.content.decode()
    if case.status == 404 and name not in {"heartbeat", "macros"}:  # those answer in JSON
        assert "Back to" in response.content.decode()  # a styled page with a way out
    other_outbound.refresh_from_db()
    assert other_outbound.status == "failed"


def test_an_unknown_category_id_for_resume_changes_no_category(client, manager_user, catalogue):
    client.force_login(manager_user)
    Category.objects.update(braked=True)

    response = client.post(reverse("review:automation_resume", args=[UNKNOWN]), {"reason": "x"})

    assert response.status_code == 404
    assert not Category.objects.filter(braked=False).exists()


def test_an_unknown_audit_sample_is_a_404_for_agents_too(client, agent_user, catalogue):
    client.force_login(agent_user)
    assert not AuditSample.objects.exists()

    response = client.post(reverse("review:audit_grade", args=[UNKNOWN]), {"grade": "correct"})

    assert response.status_code == 404


# --- the project's root URLs (support/urls.py) ---------------------------------------------------

ROOT_CASES = [
    ("get", "/", {}, {302}),
    ("get", "/healthz", {"junk": "\x00"}, {200}),
    ("post", "/healthz", {}, {405}),
    ("get", "/metrics", {}, {401}),
    ("post", "/accounts/login/", {"username": "a\x00b", "password": "x" * 5000}, {200}),
    ("get", "/accounts/logout/", {}, {302, 405}),  # logout is POST only; anonymous → login
    ("get", "/admin/support/ticket/not-a-number/change/", {}, {302}),
    ("get", f"/admin/support/ticket/{HUGE}/change/", {}, {302}),
    ("get", "/api/v1/tickets/abc", {}, {404}),
    ("get", f"/api/v1/tickets/{HUGE}", {}, {401, 403, 404}),
    ("post", "/api/v1/tickets", {"junk": "1"}, {400, 401, 403, 415}),
    ("get", "/review/t/abc/", {}, {404}),
]


@pytest.mark.parametrize(("method", "path", "data", "statuses"), ROOT_CASES, ids=lambda v: str(v)[:40])
def test_root_urls_answer_bad_input_with_a_4xx(client, manager_user, method, path, data, statuses):
    client.raise_request_exception = False
    if path.startswith(("/admin/", "/review/")):
        client.force_login(manager_user)

    response = getattr(client, method)(path, data)

    assert response.status_code in statuses
