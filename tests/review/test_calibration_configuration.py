"""calibrate_thresholds writes into the production (or named) configuration, fitted only on the
decisions that configuration made; another configuration's thresholds and Category.auto_threshold
stay untouched."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from support.models import Category, Team
from tests.review.test_calibration import _history, well_behaved
from triage.configuration.prompts import prompt_version_get
from triage.models import ConfigurationEvent, TriageConfiguration, TriageDecision

pytestmark = pytest.mark.django_db


def test_it_calibrates_only_the_configuration_whose_decisions_were_reviewed(agent_user) -> None:
    team = Team.objects.create(slug="cards", name="Cards")
    category = Category.objects.create(slug="card_arrival", name="Card arrival", default_team=team)
    prompt = prompt_version_get("triage")
    production = TriageConfiguration.objects.create(name="prod", state="production", prompt=prompt,
                                                    provider_chain=["local"])
    other = TriageConfiguration.objects.create(name="other", state="candidate", prompt=prompt,
                                               provider_chain=["local"])
    _history(category=category, count=1500, error_model=well_behaved, rng=np.random.default_rng(3),
             reviewer=agent_user)
    TriageDecision.objects.update(configuration=production)  # production made every reviewed decision

    call_command("calibrate_thresholds", "--target-error", "0.02", stdout=io.StringIO())
    call_command("calibrate_thresholds", "--target-error", "0.02", "--config", "other", stdout=io.StringIO())

    production.refresh_from_db()
    other.refresh_from_db()
    assert 0.5 < production.thresholds["card_arrival"] < 1.0
    assert production.calibration["provider"] == "local"
    assert other.thresholds == {}  # no evidence of its own: nothing carried over
    assert Category.objects.get(pk=category.pk).auto_threshold is None
    assert ConfigurationEvent.objects.filter(configuration=production, verb="calibrated").exists()
