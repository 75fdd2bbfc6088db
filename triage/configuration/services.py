"""Writes to configurations: create a draft, promote through the gate, roll back, shadow, and
store calibration. Production changes only here, in one transaction each, with an event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from triage.classifier import ClassifierError, active_model_name, active_version, classifier_versions, load_classifier
from triage.configuration.models import ConfigurationEvent, TriageConfiguration
from triage.configuration.prompts import PromptNotFound, prompt_version_get
from triage.providers import PROVIDER_NAMES
from triage.statistics import NO_THRESHOLD

State = TriageConfiguration.State


class ConfigurationError(Exception):
    pass


@dataclass
class GateResult:
    passed: bool
    failures: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


class PromotionRefused(ConfigurationError):
    def __init__(self, name: str, gate: GateResult) -> None:
        super().__init__(f"promotion of {name!r} refused: failed gates: {', '.join(gate.failures)}")
        self.gate = gate


Actor = AbstractBaseUser | None


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.pk is not None else None


def configuration_get(name: str) -> TriageConfiguration:
    found = TriageConfiguration.objects.select_related("prompt").filter(name=name).first()
    if found is None:
        raise ConfigurationError(f"no configuration {name!r}")
    return found


def _local_model(reference: str) -> tuple[str, str]:
    """``NAME`` (its newest stored version) or ``NAME@VERSION``."""
    name, _, version = reference.partition("@")
    versions = classifier_versions(name=name)
    if not versions:
        raise ConfigurationError(f"no stored local model {name!r} (train_classifier --name {name})")
    version = version or versions[-1]
    if version not in versions:
        raise ConfigurationError(f"local model {name!r} has no version {version!r}")
    return name, version


def local_model_calibration(*, name: str, version: str) -> dict[str, Any]:
    """The local model's own evidence: the threshold ``train_classifier`` chose on its out-of-fold
    predictions (``triage.statistics.threshold_select``). It calibrates the local provider's
    confidence only; empty when the model is missing or qualified no threshold."""
    try:
        model = load_classifier(name=name, version=version)
    except ClassifierError:
        return {}
    if model.threshold >= NO_THRESHOLD or model.threshold > 1:
        return {}
    return {
        "provider": "local",
        "model": model.model_version,
        "threshold": round(float(model.threshold), 4),
        "method": "out-of-fold threshold of the local model (train_classifier, triage.statistics.threshold_select)",
        "target_error": model.metadata.get("target_error"),
        "source": f"local model {name}@{version}",
    }


def configuration_create(
    *,
    name: str,
    source: str = "production",
    local_model: str | None = None,
    prompt: str | None = None,
    chain: list[str] | None = None,
    model: str | None = None,
    target_error: float | None = None,
    actor: Actor = None,
    actor_label: str = "",
) -> TriageConfiguration:
    """A draft from ``source`` (``production``, ``settings`` or a configuration's name), changing
    only what is given. Thresholds are never copied: the draft's calibration comes from its own
    local model's evidence, and per-category thresholds from its own reviews and runs."""
    if TriageConfiguration.objects.filter(name=name).exists():
        raise ConfigurationError(f"configuration {name!r} already exists")
    based_on: TriageConfiguration | None = None
    base: dict[str, Any]
    if source == "settings":
        base_model = active_model_name() or ""
        base = {"prompt": settings.PROMPT_VERSION, "chain": list(settings.LLM_CHAIN), "model": settings.LLM_MODEL,
                "local": f"{base_model}@{active_version(name=base_model)}" if base_model and active_version(
                    name=base_model) else "", "target_error": settings.TARGET_ERROR}
    else:
        based_on = TriageConfiguration.objects.production() if source == "production" else configuration_get(source)
        if based_on is None:
            raise ConfigurationError("no configuration is in production (create one --from settings)")
        base = {"prompt": based_on.prompt.version, "chain": list(based_on.provider_chain), "model": based_on.llm_model,
                "local": f"{based_on.local_model}@{based_on.local_model_version}" if based_on.local_model else "",
                "target_error": based_on.target_error}
    chain = chain if chain is not None else list(base["chain"])
    if not chain or set(chain) - set(PROVIDER_NAMES):
        raise ConfigurationError(f"--chain must name providers among {', '.join(PROVIDER_NAMES)}")
    try:
        prompt_row = prompt_version_get(prompt or str(base["prompt"]))
    except PromptNotFound as exc:
        raise ConfigurationError(str(exc)) from exc
    local_name, local_version = _local_model(local_model or str(base["local"])) if (local_model or base["local"]) \
        else ("", "")
    calibration = local_model_calibration(name=local_name, version=local_version) if local_name else {}
    with transaction.atomic():
        configuration = TriageConfiguration.objects.create(
            name=name,
            state=State.DRAFT,
            prompt=prompt_row,
            provider_chain=chain,
            llm_model=model if model is not None else str(base["model"]),
            local_model=local_name,
            local_model_version=local_version,
            target_error=target_error if target_error is not None else float(base["target_error"]),
            calibration=calibration,
            based_on=based_on,
            created_by=_user(actor),
        )
        ConfigurationEvent.objects.create(
            configuration=configuration, verb=ConfigurationEvent.Verb.CREATED, actor=_user(actor),
            actor_label=actor_label, reason=f"from {source}", evidence={"configuration": configuration.summary()},
        )
    return configuration


def _make_production(*, configuration: TriageConfiguration, previous: TriageConfiguration | None) -> None:
    """Call inside the transaction, rows locked. The old production leaves first: the partial
    unique constraint allows one production row at any instant."""
    if previous is not None:
        TriageConfiguration.objects.filter(pk=previous.pk).update(state=State.RETIRED, shadow_sample=0)
    TriageConfiguration.objects.filter(pk=configuration.pk).update(
        state=State.PRODUCTION, shadow_sample=0, promoted_at=timezone.now()
    )


def configuration_promote(
    *,
    name: str,
    reason: str,
    gate: Callable[[TriageConfiguration, TriageConfiguration | None], GateResult],
    actor: Actor = None,
    actor_label: str = "",
) -> TriageConfiguration:
    """Make ``name`` production if ``gate`` passes (it runs outside the transaction: evaluation
    runs take minutes); else record the refusal and raise ``PromotionRefused``, production untouched."""
    if not reason.strip():
        raise ConfigurationError("a promotion needs a reason")
    candidate = configuration_get(name)
    if candidate.state == State.PRODUCTION:
        raise ConfigurationError(f"{name!r} is already in production")
    production = TriageConfiguration.objects.production()
    result = gate(candidate, production)
    with transaction.atomic():
        locked = list(TriageConfiguration.objects.select_for_update().filter(
            pk__in=[candidate.pk] + ([production.pk] if production else [])))
        current = TriageConfiguration.objects.production()
        if (current.pk if current else None) != (production.pk if production else None):
            raise ConfigurationError("production changed while the gate ran; promote again")
        assert locked
        if not result.passed:
            ConfigurationEvent.objects.create(
                configuration=candidate, previous=production, verb=ConfigurationEvent.Verb.REFUSED,
                actor=_user(actor), actor_label=actor_label, reason=reason,
                evidence={"failures": result.failures, **result.evidence},
            )
        else:
            _make_production(configuration=candidate, previous=production)
            ConfigurationEvent.objects.create(
                configuration=candidate, previous=production, verb=ConfigurationEvent.Verb.PROMOTED,
                actor=_user(actor), actor_label=actor_label, reason=reason, evidence=result.evidence,
            )
    if not result.passed:
        raise PromotionRefused(name, result)
    candidate.refresh_from_db()
    return candidate


def configuration_bootstrap(*, name: str, actor_label: str = "") -> tuple[TriageConfiguration, bool]:
    """The first production configuration, from settings, when none is in production (``make
    demo``, a fresh install). There is nothing to compare it with and it is what already runs, so
    no gate; ``make eval`` evaluates it. Idempotent: returns (configuration, created)."""
    production = TriageConfiguration.objects.production()
    if production is not None:
        return production, False
    configuration = TriageConfiguration.objects.filter(name=name).first() or configuration_create(
        name=name, source="settings", actor_label=actor_label)
    with transaction.atomic():
        _make_production(configuration=configuration, previous=None)
        ConfigurationEvent.objects.create(
            configuration=configuration, verb=ConfigurationEvent.Verb.PROMOTED, actor_label=actor_label,
            reason="first production configuration (none before): what settings already ran",
            evidence={"gate": "none: first production, run `make eval` for its evidence"},
        )
    configuration.refresh_from_db()
    return configuration, True


def configuration_rollback(*, reason: str, actor: Actor = None, actor_label: str = "") -> TriageConfiguration:
    """Restore the production configuration that the current one replaced, in one step."""
    if not reason.strip():
        raise ConfigurationError("a rollback needs a reason")
    with transaction.atomic():
        current = TriageConfiguration.objects.select_for_update().filter(state=State.PRODUCTION).first()
        if current is None:
            raise ConfigurationError("no configuration is in production")
        arrival = (ConfigurationEvent.objects.filter(
            configuration=current, verb__in=[ConfigurationEvent.Verb.PROMOTED, ConfigurationEvent.Verb.ROLLED_BACK])
            .select_related("previous").first())
        previous = arrival.previous if arrival is not None else None
        if previous is None:
            raise ConfigurationError(f"{current.name!r} replaced no configuration: nothing to roll back to")
        _make_production(configuration=previous, previous=current)
        ConfigurationEvent.objects.create(
            configuration=previous, previous=current, verb=ConfigurationEvent.Verb.ROLLED_BACK, actor=_user(actor),
            actor_label=actor_label, reason=reason,
            evidence={"restored": previous.name, "replaced": current.name},
        )
    previous.refresh_from_db()
    return previous


def configuration_shadow(*, name: str, sample: float, actor: Actor = None, actor_label: str = "") -> TriageConfiguration:
    if not 0 < sample <= 1:
        raise ConfigurationError("--sample must be in (0, 1]")
    with transaction.atomic():
        configuration = TriageConfiguration.objects.select_for_update().filter(name=name).first()
        if configuration is None:
            raise ConfigurationError(f"no configuration {name!r}")
        if configuration.state in (State.PRODUCTION, State.RETIRED):
            raise ConfigurationError(f"{name!r} is {configuration.state}: only a draft or candidate can shadow")
        TriageConfiguration.objects.filter(pk=configuration.pk).update(state=State.SHADOW, shadow_sample=sample)
        ConfigurationEvent.objects.create(
            configuration=configuration, verb=ConfigurationEvent.Verb.SHADOW, actor=_user(actor),
            actor_label=actor_label, reason=f"shadow on {sample:.0%} of live tickets", evidence={"sample": sample},
        )
    configuration.refresh_from_db()
    return configuration


def configuration_thresholds_store(
    *, configuration: TriageConfiguration, thresholds: dict[str, float | None], evidence: dict[str, Any],
    actor_label: str = "calibrate_thresholds",
) -> int:
    """Per-category thresholds learnt on ``configuration``'s own evidence. Returns how many changed."""
    with transaction.atomic():
        locked = TriageConfiguration.objects.select_for_update().get(pk=configuration.pk)
        before = dict(locked.thresholds)
        after = dict(thresholds)  # None: this category automates nothing, whatever the model-level threshold
        changed = sum(before.get(slug) != after.get(slug) for slug in set(before) | set(after))
        calibration = dict(locked.calibration)
        # Reviewed decisions carry the confidence of whichever provider answered; the thresholds
        # hold for the configuration's primary provider, whose decisions dominate its reviews.
        calibration.setdefault("provider", locked.provider_chain[0] if locked.provider_chain else "local")
        calibration["per_category"] = {"computed_at": timezone.now().isoformat(), **evidence}
        TriageConfiguration.objects.filter(pk=locked.pk).update(thresholds=after, calibration=calibration)
        ConfigurationEvent.objects.create(
            configuration=locked, verb=ConfigurationEvent.Verb.CALIBRATED, actor_label=actor_label,
            reason=f"{changed} category thresholds changed", evidence={"before": before, "after": after, **evidence},
        )
    return changed
