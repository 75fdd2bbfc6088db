"""What every review view shares: the permission, the agent, the 404/400 pages, and the
team-visibility guard every view under ``t/<ticket_id>/`` goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from review import ticket_selectors

review_required = permission_required("support.review_ticket", raise_exception=True)


def agent_of(request: HttpRequest) -> User:
    """The logged-in user (LoginRequiredMiddleware and the permission checks ran already)."""
    return cast(User, request.user)


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


NO_SUCH_TICKET = "No such ticket"


def not_found(
    request: HttpRequest,
    title: str = NO_SUCH_TICKET,
    detail: str = "",
    back: tuple[str, str] | None = None,
) -> HttpResponse:
    back_url, back_label = back or (reverse("review:queue"), "Back to the review queue")
    return render(
        request,
        "review/not_found.html",
        {"title": title, "detail": detail, "back_url": back_url, "back_label": back_label},
        status=404,
    )


def bad_request(request: HttpRequest, errors: list[str]) -> HttpResponse:
    return render(
        request,
        "review/bad_request.html",
        {"errors": errors, "back_url": reverse("review:queue")},
        status=400,
    )


def form_errors(form: Any) -> list[str]:
    return [
        f"{form[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    ]


def visible_ticket_required(*, as_json: bool = False) -> Callable[..., Any]:
    """404 unless the ticket exists and the agent may see it (their teams' tickets; managers
    all). Every view under ``t/<ticket_id>/`` goes through this before it reads or writes."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, ticket_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            if ticket_selectors.ticket_visible(agent=agent_of(request), ticket_id=ticket_id):
                return view(request, ticket_id, *args, **kwargs)
            if as_json:
                return JsonResponse({"ok": False, "detail": f"{NO_SUCH_TICKET}."}, status=404)
            return not_found(request)

        return wrapped

    return decorator


def regenerated_draft_key(ticket_id: int) -> str:
    """Where the session keeps a draft regenerated for ``ticket_id`` (review.services.regenerate)."""
    return f"review:regenerated_draft:{ticket_id}"
