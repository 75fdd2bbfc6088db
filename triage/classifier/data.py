"""Training and prediction inputs: CSV rows, label slugs, the text the model reads for a ticket."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from triage.classifier.errors import ClassifierError
from triage.classifier.model import normalise_text


def label_slug(label: str) -> str:
    """Labels as category slugs: ``Refund_not_showing_up`` -> ``refund_not_showing_up``,
    ``reverted_card_payment?`` -> ``reverted_card_payment``."""
    return re.sub(r"[^a-z0-9_]+", "", label.strip().lower())


def read_csv_rows(
    *,
    path: Path,
    text_column: str = "text",
    label_column: str | None = "category",
) -> tuple[list[str], list[str]]:
    """(texts, labels) from a CSV; labels normalised to category slugs. With label_column None,
    labels is empty."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ClassifierError(f"Cannot read {path}: {exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if text_column not in columns:
            raise ClassifierError(f"{path} has no column {text_column!r} (columns: {columns})")
        if label_column is not None and label_column not in columns:
            raise ClassifierError(f"{path} has no column {label_column!r} (columns: {columns})")
        texts: list[str] = []
        labels: list[str] = []
        for row in reader:
            text = (row.get(text_column) or "").strip()
            if label_column is None:
                texts.append(text)
                continue
            label = label_slug(row.get(label_column) or "")
            if text and label:
                texts.append(text)
                labels.append(label)
    return texts, labels


def ticket_text(*, subject: str, body: str) -> str:
    """What the classifier reads for a ticket: the subject (unless the body repeats it) and
    the body."""
    subject = normalise_text(subject)
    body = normalise_text(body)
    if not subject or subject.lower() in body.lower():
        return body
    return f"{subject}. {body}" if body else subject


def iter_batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
