"""Issue 13, point 5: schemathesis over the review URLs finds no 5xx.

The review pages are HTML forms, not an API, so they have no generated OpenAPI schema: the small
schema below describes each route of review/urls.py with its path ids, query parameters and form
fields. schemathesis drives it in-process through the real WSGI stack (session cookie, CSRF,
middleware) as a logged-in manager (who may open every page) and as a team-restricted agent, with
data that fits the schema and data that does not; every answer must be below 500.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.generation.modes import GenerationMode

from support.models import AgentProfile, Category, OutboundMessage, Team

CSRF_TOKEN = "fuzzcsrf" * 4  # 32 characters: Django accepts an unmasked secret as the token


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _slug(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[-a-z0-9_]{1,30}$"}}


def _form(**fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": fields, "additionalProperties": False}
            }
        },
    }


STRING = {"type": "string", "maxLength": 40}
HTMX = {"name": "HX-Request", "in": "header", "required": False, "schema": {"type": "string", "enum": ["true"]}}
ANSWERS = {"default": {"description": "any answer below 500"}}


def _get(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"parameters": list(parameters), "responses": ANSWERS}}


def _post(*path_ids: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"parameters": [_id(name) for name in path_ids], "responses": ANSWERS}
    if body is not None:
        operation["requestBody"] = body
    return {"post": operation}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


REVIEW_SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Switchboard review pages", "version": "1"},
    "paths": {
        "/review/": _get(
            *[
                _query(name, STRING)
                for name in ("team", "category", "priority", "reason", "sla", "confidence", "mine", "q", "view")
            ],
            _query("offset", {"type": "integer"}),
            _query("limit", {"type": "integer"}),
            HTMX,
        ),
        "/review/next/": _post(body=_form(skip={"type": "string"})),
        "/review/bulk/": _post(
            body=_form(
                action=STRING, ticket={"type": "string"}, assignee=STRING, minutes=STRING, confirmed=STRING
            )
        ),
        "/review/t/{ticket_id}/macros/": {
            "get": {"parameters": [_id("ticket_id")], "responses": ANSWERS}
        },
        "/review/t/{ticket_id}/": {
            "get": {
                "parameters": [_id("ticket_id"), _query("fragment", {"type": "string", "enum": ["delivery", "x"]}), HTMX],
                "responses": ANSWERS,
            }
        },
        "/review/t/{ticket_id}/claim/": _post("ticket_id"),
        "/review/t/{ticket_id}/heartbeat/": _post("ticket_id"),
        "/review/t/{ticket_id}/release/": _post("ticket_id"),
        "/review/t/{ticket_id}/approve/": _post("ticket_id", body=_form(body_text={"type": "string"})),
        "/review/t/{ticket_id}/reject/": _post(
            "ticket_id",
            body=_form(reason_code=STRING, own_reply={"type": "string"}, note=STRING, close_unanswered=STRING),
        ),
        "/review/t/{ticket_id}/override/": _post(
            "ticket_id", body=_form(category=STRING, priority=STRING, team=STRING, note=STRING)
        ),
        "/review/t/{ticket_id}/escalate/": _post("ticket_id", body=_form(note=STRING)),
        "/review/t/{ticket_id}/snooze/": _post("ticket_id", body=_form(minutes={"type": "string"})),
        "/review/t/{ticket_id}/outbound/{outbound_id}/retry/": _post("ticket_id", "outbound_id"),
        "/review/t/{ticket_id}/note/": _post("ticket_id", body=_form(body={"type": "string"})),
        "/review/t/{ticket_id}/status/": _post("ticket_id", body=_form(status=STRING, note=STRING)),
        "/review/t/{ticket_id}/reopen/": _post("ticket_id", body=_form(note=STRING)),
        "/review/t/{ticket_id}/regenerate/": _post("ticket_id"),
        "/review/t/{ticket_id}/attachments/{attachment_id}/": {
            "get": {
                "parameters": [_id("ticket_id"), _id("attachment_id"), _query("inline", STRING)],
                "responses": ANSWERS,
            }
        },
        "/review/mentions/": _get(),
        "/review/mentions/read/": _post(),
        "/review/audit/": _get(),
        "/review/audit/{sample_id}/grade/": _post("sample_id", body=_form(grade=STRING, reason_code=STRING)),
        "/review/dashboard/": _get(_query("days", STRING), HTMX),
        "/review/automation/": _get(),
        "/review/automation/{category_id}/resume/": _post("category_id", body=_form(reason={"type": "string"})),
        "/review/dashboard/{table}.csv": {
            "get": {"parameters": [_slug("table"), _query("days", STRING)], "responses": ANSWERS}
        },
        "/review/releases/": _get(),
        "/review/releases/prompts/": _get(_query("show", STRING), _query("old", STRING), _query("new", STRING)),
        "/review/releases/runs/{run_id}/": {
            "get": {"parameters": [_id("run_id"), _query("against", STRING)], "responses": ANSWERS}
        },
        "/review/releases/rollback/": _post(body=_form(reason=STRING)),
        "/review/releases/{name}/promote/": {
            "post": {"parameters": [_slug("name")], "requestBody": _form(reason=STRING), "responses": ANSWERS}
        },
    },
}


def test_the_fuzz_schema_covers_every_review_route():
    from django.urls import URLPattern

    from review import urls as review_urls

    described = {path.removeprefix("/review/") for path in REVIEW_SCHEMA["paths"]}
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern))
        for p in review_urls.urlpatterns
        if isinstance(p, URLPattern)
    }
    assert routes == described


@pytest.mark.django_db
def test_schemathesis_over_the_review_urls_finds_no_server_error(
    make_user, manager_user, make_review_ticket
):
    # Given real rows for the generated ids to hit, and a manager and a one-team agent
    tickets = [make_review_ticket(), make_review_ticket(team_slug="payments", category_slug="failed_transfer")]
    for ticket in tickets:
        OutboundMessage.objects.create(
            ticket=ticket, kind="email", idempotency_key=f"fuzz:{ticket.pk}",
            to_address="fuzz@example.com", body_text="hi", status="failed",
        )
    outbound_ids = list(OutboundMessage.objects.values_list("pk", flat=True))
    category_ids = list(Category.objects.values_list("pk", flat=True))
    ranges = {
        "ticket_id": (tickets[0].pk, tickets[-1].pk),
        "outbound_id": (min(outbound_ids), max(outbound_ids)),
        "sample_id": (1, 3),
        "attachment_id": (1, 3),
        "category_id": (min(category_ids), max(category_ids)),
        "run_id": (1, 3),
    }
    agent = make_user("fuzz-agent")
    AgentProfile.objects.create(user=agent).teams.set([Team.objects.get(slug="cards")])
    sessions = {}
    for user in (manager_user, agent):
        client = Client()
        client.force_login(user)
        sessions[user.username] = client.cookies["sessionid"].value

    # Like Django's test client: keep the test transaction's connection open between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        seen = _fuzz(list(sessions.values()), ranges)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    print("review fuzz status codes:", seen)
    assert sum(seen.values()) >= 200
    assert any(200 <= code < 400 for code in seen), seen  # the fuzzer really got through
    assert 404 in seen and 400 in seen, seen


def _with_id_ranges(ranges: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The schema with path ids drawn around the real rows, so positive cases reach the views'
    own logic instead of stopping at "no such ticket" (negative cases still go anywhere)."""
    schema = copy.deepcopy(REVIEW_SCHEMA)
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            for parameter in operation["parameters"]:
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    low, high = ranges[parameter["name"]]
                    parameter["schema"] = {"type": "integer", "minimum": low - 1, "maximum": high + 1}
    return schema


def _fuzz(session_ids: list[str], ranges: dict[str, tuple[int, int]]) -> dict[int, int]:
    schema = schemathesis.openapi.from_dict(_with_id_ranges(ranges))
    app = WSGIHandler()
    seen: dict[int, int] = {}

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @hypothesis_settings(max_examples=250, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        @given(case=schema.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            session = session_ids[hash(repr(case.path_parameters)) % len(session_ids)]
            response = case.call(
                app=app,
                headers={"X-CSRFToken": CSRF_TOKEN},
                cookies={"sessionid": session, "csrftoken": CSRF_TOKEN},
            )
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{response.status_code} for {case.method} {case.formatted_path} "
                f"query={case.query!r} body={case.body!r}"
            )

        check()
    return seen
