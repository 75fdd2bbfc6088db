"""The manager's release pages (docs/releases.md): configurations and their log, an evaluation
run beside production's run on the same set, prompt versions and diffs, promote and roll back.
Thin adapters over ``review.release_selectors`` and ``triage.configuration.services``."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from review import release_selectors as selectors
from triage.configuration import services
from triage.configuration.gate import gate_evaluate

PERMISSION = "support.manage_automation"


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def releases(request: HttpRequest) -> HttpResponse:
    return render(request, "review/releases.html", selectors.releases_overview())


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def release_run(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(run_id)
    if run is None:
        return render(request, "review/not_found.html", {"title": "No such evaluation run", "detail": "It does not exist.", "back_url": "/review/releases/", "back_label": "Back to releases"}, status=404)
    reference = selectors.run_reference(run, against=_int_or_none(request.GET.get("against")))
    return render(request, "review/releases_run.html", {
        "run": run, "reference": reference, **selectors.run_comparison(run, reference),
    })


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def release_prompts(request: HttpRequest) -> HttpResponse:
    versions = selectors.prompt_versions()
    shown = selectors.prompt_get(request.GET.get("show", ""))
    old, new = selectors.prompt_get(request.GET.get("old", "")), selectors.prompt_get(request.GET.get("new", ""))
    diff = selectors.prompt_versions_diff(old, new) if old is not None and new is not None else None
    return render(request, "review/releases_prompts.html",
                  {"versions": versions, "shown": shown, "old": old, "new": new, "diff": diff})


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def release_promote(request: HttpRequest, name: str) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()[:2000]
    try:
        services.configuration_promote(name=name, reason=reason, gate=gate_evaluate, actor=cast(User, request.user),
                                       actor_label=f"web:{request.user.get_username()}")
    except services.PromotionRefused as refused:
        messages.error(request, f"Promotion of {name} refused. Failed gates: {', '.join(refused.gate.failures)}")
    except services.ConfigurationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{name} promoted to production.")
    return redirect("review:releases")


@require_POST
@permission_required(PERMISSION, raise_exception=True)
def release_rollback(request: HttpRequest) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()[:2000]
    try:
        restored = services.configuration_rollback(reason=reason, actor=cast(User, request.user),
                                                   actor_label=f"web:{request.user.get_username()}")
    except services.ConfigurationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Rolled back: {restored.name} is production again.")
    return redirect("review:releases")
