"""Prompts are versioned assets: files in this folder, version = name + content hash.

``settings.PROMPT_VERSION`` names the active file (``triage`` → ``triage/prompts/triage.md``);
every decision records the resulting ``prompt_version`` (e.g. ``triage-3f2a9c1e``), so a change to
the wording is visible in the decision log and in the cache key.

A file has three sections: the system prompt, ``=== user ===`` and ``=== repair ===``. Variables
use ``$name`` (string.Template), so JSON braces in a prompt need no escaping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PROMPT_DIR = Path(__file__).resolve().parent
_DELIMITER = re.compile(r"</?\s*untrusted_ticket\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    system: Template
    user: Template
    repair: Template

    def render_system(self, *, categories: str, teams: str, canary: str, schema: str = "") -> str:
        # The schema is spelled out for servers that only do JSON mode (no json_schema support).
        return self.system.safe_substitute(
            categories=categories, teams=teams, canary=canary, schema=schema
        )

    def render_user(self, *, subject: str, body: str, customer_name: str, kb_excerpts: str) -> str:
        # The ticket cannot close its own delimiter and smuggle text outside the untrusted block.
        return self.user.safe_substitute(
            subject=_DELIMITER.sub("[tag removed]", subject),
            body=_DELIMITER.sub("[tag removed]", body),
            customer_name=customer_name,
            kb_excerpts=kb_excerpts or "(none)",
        )

    def render_repair(self, *, error: str) -> str:
        return self.repair.safe_substitute(error=error[:1000])


def prompt_load(name: str | None = None) -> Prompt:
    return _load(name or settings.PROMPT_VERSION)


@lru_cache(maxsize=16)
def _load(name: str) -> Prompt:
    if not re.fullmatch(r"[a-z0-9_.-]+", name):
        raise ImproperlyConfigured(f"PROMPT_VERSION {name!r} is not a prompt file name")
    path = prompt_file(name)
    if not path.is_file():
        raise ImproperlyConfigured(f"PROMPT_VERSION {name!r}: no file {path}")
    return prompt_parse(name=name, content=path.read_text(encoding="utf-8"), origin=str(path))


def prompt_file(name: str) -> Path:
    return PROMPT_DIR / f"{name}.md"


def prompt_digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def prompt_version_of(*, name: str, content: str) -> str:
    """``<name>-<first 8 hex of the content's sha256>``: what every decision records."""
    return f"{name}-{prompt_digest(content)[:8]}"


def prompt_parse(*, name: str, content: str, origin: str = "prompt") -> Prompt:
    """A prompt from its text (a file here, or a ``PromptVersion`` row)."""
    try:
        system, rest = content.split("=== user ===\n", 1)
        user, repair = rest.split("=== repair ===\n", 1)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{origin} needs '=== user ===' and '=== repair ===' sections"
        ) from exc
    return Prompt(
        name=name,
        version=prompt_version_of(name=name, content=content),
        system=Template(system.strip()),
        user=Template(user.strip()),
        repair=Template(repair.strip()),
    )


def canary_token() -> str:
    """A per-deployment marker put in the system prompt: seeing it in an answer means the prompt
    leaked. Derived from SECRET_KEY so it is stable across workers but not guessable from
    outside."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), b"switchboard-prompt-canary", hashlib.sha256
    ).hexdigest()
    return f"SBX-{digest[:20]}"
