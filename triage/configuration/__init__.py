"""Triage configurations as data: what the AI does is a row, changed only by promotion or rollback.

A ``TriageConfiguration`` names a prompt version (``PromptVersion`` rows; the files in
``triage/prompts/`` are imported as first versions at first use), a provider chain, an LLM model
name, a local model version, a target error, and its OWN per-category thresholds and confidence
calibration. Exactly one configuration is ``production`` (a partial unique constraint); the
pipeline runs it (``runtime.triage_setup``). With none, the pipeline runs from settings as before
configurations existed (a fresh install, the tests). Every promotion, rollback and calibration is
a ``ConfigurationEvent`` with actor, reason and evidence.

- ``models``: the rows; ``prompts``: prompt versions; ``services``: create, promote, rollback,
  shadow, calibration writes; ``runtime``: the prompt, providers, classifier and thresholds a run
  uses; ``gate``: the promotion gate over evaluation runs (``triage.evaluation``).
"""
