"""Building evaluation sets: from a CSV, from reviewed tickets (rows given by the review app), or
from a suite shipped in the repository. A set is frozen: building a name again with the same
content does nothing, with other content it is refused (choose a new name)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from support.models import Category
from triage.classifier import ClassifierError, label_slug, read_csv_rows
from triage.evaluation.models import EvalCase, EvalSet

SUITE_DIR = Path(__file__).resolve().parent / "suites"
EVALSET_DIR = Path(__file__).resolve().parent.parent / "evalsets"
# The sets the repository ships, built on first use by the gate and `make eval`.
COMMITTED_CSV = {"banking77-demo": EVALSET_DIR / "banking77_demo.csv"}
SUITES = ("adversarial",)


class EvalSetError(Exception):
    pass


@dataclass(frozen=True)
class CaseSpec:
    text: str
    subject: str = ""
    expected_category: str = ""
    expected_high_stakes: bool = False
    kind: str = EvalCase.Kind.ORDINARY
    pii_values: list[str] = field(default_factory=list)
    reviewer_verdict: str = ""
    sent_reply: str = ""


@dataclass(frozen=True)
class BuildResult:
    evalset: EvalSet
    created: bool


def _hash(cases: list[CaseSpec]) -> str:
    return hashlib.sha256(json.dumps([asdict(case) for case in cases], sort_keys=True).encode()).hexdigest()


def evalset_store(*, name: str, source: str, origin: str, cases: list[CaseSpec]) -> BuildResult:
    if not cases:
        raise EvalSetError("no cases: nothing to build")
    content_hash = _hash(cases)
    existing = EvalSet.objects.filter(name=name).first()
    if existing is not None:
        if existing.content_hash == content_hash:
            return BuildResult(existing, created=False)
        raise EvalSetError(f"evaluation set {name!r} exists with other content (sets are frozen); choose a new name")
    with transaction.atomic():
        evalset = EvalSet.objects.create(name=name, source=source, origin=origin[:300], content_hash=content_hash)
        EvalCase.objects.bulk_create(
            EvalCase(evalset=evalset, position=index, **asdict(case)) for index, case in enumerate(cases)
        )
    return BuildResult(evalset, created=True)


def _high_stakes() -> set[str]:
    return set(Category.objects.filter(high_stakes=True).values_list("slug", flat=True))


def evalset_build_csv(*, name: str, path: Path, text_column: str = "text", label_column: str = "category") -> BuildResult:
    try:
        texts, labels = read_csv_rows(path=path, text_column=text_column, label_column=label_column)
    except ClassifierError as exc:  # it names the missing file or column
        raise EvalSetError(str(exc)) from exc
    high_stakes = _high_stakes()
    cases = [
        CaseSpec(text=text, expected_category=label_slug(label), expected_high_stakes=label_slug(label) in high_stakes)
        for text, label in zip(texts, labels, strict=True)
    ]
    return evalset_store(name=name, source=EvalSet.Source.CSV, origin=str(path), cases=cases)


def evalset_build_suite(*, name: str, suite: str) -> BuildResult:
    if suite not in SUITES:
        raise EvalSetError(f"unknown suite {suite!r} (known: {', '.join(SUITES)})")
    document = yaml.safe_load((SUITE_DIR / f"{suite}.yaml").read_text(encoding="utf-8"))
    high_stakes = _high_stakes()
    cases = []
    for raw in document["cases"]:
        expected = str(raw.get("expected_category", ""))
        cases.append(CaseSpec(
            text=str(raw["text"]), subject=str(raw.get("subject", "")), expected_category=expected,
            expected_high_stakes=bool(raw.get("expected_high_stakes", False)) or expected in high_stakes,
            kind=str(raw["kind"]), pii_values=[str(value) for value in raw.get("pii_values", [])],
        ))
    return evalset_store(name=name, source=EvalSet.Source.SUITE, origin=f"suite:{suite}", cases=cases)


def evalset_build_committed(name: str) -> BuildResult | None:
    """Build a set the repository ships, by its gate name (None: not one of ours)."""
    if name in COMMITTED_CSV:
        return evalset_build_csv(name=name, path=COMMITTED_CSV[name])
    if name in SUITES:
        return evalset_build_suite(name=name, suite=name)
    return None
