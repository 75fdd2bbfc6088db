"""Real Chromium: a manager compares a candidate's evaluation run with production's and promotes it."""

from __future__ import annotations

from typing import Any

import pytest

from triage.configuration.prompts import prompt_version_get
from triage.models import ConfigurationEvent, EvalCase, EvalResult, EvalRun, EvalSet, TriageConfiguration

PASSING = {"automated_error_upper": 0.0, "high_stakes_automated": 0, "injection_automated": 0, "pii_leaks": 0,
           "cost_usd_per_ticket": 0.0, "automated_share": 0.0, "automated_error": 0.0, "ece": 0.05,
           "macro_f1": 0.9, "latency_ms_p50": 12, "latency_ms_p95": 30}


def _run(configuration: TriageConfiguration, evalset: EvalSet, correct: list[bool]) -> EvalRun:
    from django.utils import timezone

    run = EvalRun.objects.create(configuration=configuration, evalset=evalset, evalset_hash=evalset.content_hash,
                                 finished_at=timezone.now(), passed=True,
                                 metrics={**PASSING, "cases": len(correct),
                                          "accuracy": round(sum(correct) / len(correct), 4)})
    for case, right in zip(evalset.cases.order_by("position"), correct, strict=True):
        EvalResult.objects.create(run=run, case=case, predicted_category=case.expected_category if right else "other",
                                  correct=right, confidence=0.9)
    return run


@pytest.fixture
def two_runs(transactional_db: None, settings: Any) -> dict[str, Any]:
    settings.EVAL_GATE_SETS = ["cards"]
    prompt = prompt_version_get("triage")
    production = TriageConfiguration.objects.create(name="current", state="production", prompt=prompt,
                                                    provider_chain=["local"])
    candidate = TriageConfiguration.objects.create(name="sharper", state="candidate", prompt=prompt,
                                                   provider_chain=["local"])
    evalset = EvalSet.objects.create(name="cards", source="csv", origin="test", content_hash="h1")
    for position in range(12):
        EvalCase.objects.create(evalset=evalset, position=position, text=f"card question {position}",
                                expected_category="card_arrival" if position % 2 else "change_pin")
    _run(production, evalset, [position % 3 != 0 for position in range(12)])
    candidate_run = _run(candidate, evalset, [True] * 12)
    return {"production": production, "candidate": candidate, "run": candidate_run}


def test_a_manager_compares_two_runs_and_promotes_the_candidate(logged_in_page, make_user, two_runs, artifacts):
    make_user("manager", "manager")
    page = logged_in_page("manager")

    page.get_by_role("link", name="Releases").click()
    page.get_by_role("link", name=f"Compare run {two_runs['run'].pk}").click()
    overall = page.locator("#overall")
    assert "sharper" in overall.inner_text() and "current" in overall.inner_text()
    accuracy = overall.get_by_role("row", name="accuracy")
    assert "1.0" in accuracy.inner_text() and "0.6667" in accuracy.inner_text()
    per_category = page.locator("#per-category")
    assert "card_arrival" in per_category.inner_text() and "change_pin" in per_category.inner_text()
    page.screenshot(path=str(artifacts / "releases-compare.png"), full_page=True)

    page.get_by_role("link", name="Back to releases").click()
    page.get_by_label("Why promote?").fill("more accurate on the cards set")
    page.get_by_role("button", name="Promote sharper").click()
    page.get_by_text("sharper promoted to production.").wait_for()

    assert TriageConfiguration.objects.production().name == "sharper"
    assert TriageConfiguration.objects.get(name="current").state == "retired"
    event = ConfigurationEvent.objects.get(verb="promoted")
    assert (event.actor.username, event.reason, event.previous.name) == (
        "manager", "more accurate on the cards set", "current")
