"""What a triage run uses: the prompt, the provider chain, the local model and the thresholds,
from the deciding configuration, or from settings when no configuration is in production.

Thresholds belong to the configuration that learnt them. A threshold is compared only with a
confidence from the provider it was calibrated on (``calibration["provider"]``): an LLM's
self-reported confidence never meets a threshold fitted on the local model's probabilities, and
a configuration without calibration evidence automates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from support.models import Category
from triage.classifier import ClassifierError, LocalClassifier, active_classifier, load_classifier
from triage.configuration.models import TriageConfiguration
from triage.configuration.prompts import prompt_from_row
from triage.prompts import Prompt, prompt_load
from triage.providers import provider_get
from triage.providers.base import Provider


@dataclass
class TriageSetup:
    configuration: TriageConfiguration | None  # None: settings mode
    prompt: Prompt
    providers: list[Provider]
    classifier: LocalClassifier | None
    shadow: bool = False

    def threshold_for(self, *, category: Category, provider: str) -> float | None:
        """The auto-send threshold for a confidence from ``provider``; None: no threshold applies
        (no evidence for this category, or the confidence is on a scale nobody calibrated)."""
        if self.configuration is None:
            return category.auto_threshold  # settings mode: as before configurations
        calibration = self.configuration.calibration
        if not calibration or calibration.get("provider") != provider:
            return None
        # A per-category entry (None: judged, no qualifying threshold) wins: first the
        # configuration's own (calibrate_thresholds on its reviews), then the local model's
        # out-of-fold one, then the model-level threshold of an older model.
        thresholds = self.configuration.thresholds
        model_thresholds = calibration.get("thresholds") or {}
        if category.slug in thresholds:
            value = thresholds[category.slug]
        elif category.slug in model_thresholds:
            value = model_thresholds[category.slug]
        else:
            value = calibration.get("threshold")
        return float(value) if value is not None else None


def configuration_classifier(configuration: TriageConfiguration) -> LocalClassifier | None:
    """The configuration's own local model version (None when it names none or it is missing:
    the run then has no local view, so high stakes are unknown and a human reviews)."""
    if not configuration.local_model:
        return None
    try:
        return load_classifier(name=configuration.local_model, version=configuration.local_model_version or None)
    except ClassifierError:
        return None


def triage_setup(configuration: TriageConfiguration | None, *, shadow: bool = False) -> TriageSetup:
    if configuration is None:
        return TriageSetup(
            configuration=None,
            prompt=prompt_load(),
            providers=[provider_get(name) for name in settings.LLM_CHAIN],
            classifier=active_classifier(),
        )
    classifier = configuration_classifier(configuration)
    providers = [
        provider_get(name, model=configuration.llm_model, classifier=classifier)
        for name in configuration.provider_chain
    ]
    return TriageSetup(
        configuration=configuration,
        prompt=prompt_from_row(configuration.prompt),
        providers=providers,
        classifier=classifier,
        shadow=shadow,
    )


def production_setup() -> TriageSetup:
    """The live pipeline's setup: the production configuration, else settings."""
    return triage_setup(TriageConfiguration.objects.production())
