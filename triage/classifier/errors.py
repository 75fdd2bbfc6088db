"""Errors a human must fix."""

from __future__ import annotations


class ClassifierError(Exception):
    """A training or loading problem a human must fix (bad CSV, unknown model name...)."""
