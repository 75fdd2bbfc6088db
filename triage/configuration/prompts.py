"""Prompt versions as rows. The files in ``triage/prompts/`` are imported as the first versions the
first time a configuration needs one; a version is immutable (its name carries its hash)."""

from __future__ import annotations

import difflib

from triage.configuration.models import PromptVersion
from triage.prompts import PROMPT_DIR, Prompt, prompt_digest, prompt_parse, prompt_version_of


class PromptNotFound(LookupError):
    pass


def prompt_versions_import() -> list[PromptVersion]:
    """Every prompt file as a version (idempotent: a version already stored is left alone)."""
    imported = []
    for path in sorted(PROMPT_DIR.glob("*.md")):
        content = path.read_text(encoding="utf-8")
        prompt_parse(name=path.stem, content=content, origin=str(path))  # refuse a malformed file
        row, _created = PromptVersion.objects.get_or_create(
            version=prompt_version_of(name=path.stem, content=content),
            defaults={"name": path.stem, "sha256": prompt_digest(content), "text": content,
                      "source": f"file:triage/prompts/{path.name}"},
        )
        imported.append(row)
    return imported


def prompt_version_get(reference: str) -> PromptVersion:
    """A version by its full name (``triage-3f2a9c1e``), or by prompt name (``triage``: the file's
    current text, imported if needed)."""
    row = PromptVersion.objects.filter(version=reference).first()
    if row is not None:
        return row
    for imported in prompt_versions_import():
        if imported.name == reference and imported.source.startswith("file:"):
            path = PROMPT_DIR / f"{reference}.md"
            if imported.version == prompt_version_of(name=reference, content=path.read_text(encoding="utf-8")):
                return imported
    raise PromptNotFound(f"no prompt version {reference!r}")


def prompt_from_row(row: PromptVersion) -> Prompt:
    return prompt_parse(name=row.name, content=row.text, origin=f"prompt version {row.version}")


def prompt_diff(*, old: PromptVersion, new: PromptVersion) -> str:
    """A unified diff between two versions' texts (the manager's prompt page)."""
    return "".join(
        difflib.unified_diff(
            old.text.splitlines(keepends=True), new.text.splitlines(keepends=True),
            fromfile=old.version, tofile=new.version,
        )
    )
