"""Providers behind one interface (``base.Provider``): ``openai`` (any OpenAI-compatible
endpoint) and ``local`` (trained classifier + KB drafts). ``chain.chain_run`` walks
``settings.LLM_CHAIN``. The ``openai`` package is imported only in ``openai_provider``."""

from __future__ import annotations

from django.conf import settings

from triage.budget import budget_exhausted
from triage.classifier import LocalClassifier
from triage.providers.base import Provider
from triage.providers.breaker import breaker_is_open
from triage.providers.local import LocalProvider

PROVIDER_NAMES = ("openai", "local")


def provider_get(name: str, *, model: str = "", classifier: LocalClassifier | None = None) -> Provider:
    """A provider by name. ``model`` overrides ``LLM_MODEL`` and ``classifier`` the active local
    model: a triage configuration names its own."""
    # Imported on use: a deployment on the local model alone never loads the openai SDK.
    if name == "openai":
        from triage.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(model=model)
    if name == "local":
        return LocalProvider(classifier=classifier)
    raise ValueError(f"unknown provider {name!r}")


def providers_from_settings() -> list[Provider]:
    return [provider_get(name) for name in settings.LLM_CHAIN]


def chain_healthy(providers: list[Provider] | None = None) -> bool:
    """False when the primary provider cannot be used right now: its circuit is open, the daily
    budget is spent (paid providers), or it is not usable at all (no key, no trained model)."""
    if providers is None:
        if not settings.LLM_CHAIN:
            return False
        providers = [provider_get(settings.LLM_CHAIN[0])]
    if not providers:
        return False
    primary = providers[0]
    if not primary.available():
        return False
    if primary.external:
        return not breaker_is_open(primary.name) and not budget_exhausted()
    return True
