"""Versioned model artifacts under ``settings.CLASSIFIER_DIR`` and the per-process model cache.

Pointers are plain files replaced atomically (``os.replace``), so an activation in one process
(``train_classifier``) is seen by every worker at its next prediction without a restart."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import joblib
from django.conf import settings

from triage.classifier.errors import ClassifierError
from triage.classifier.model import LocalClassifier
from triage.embeddings import EmbeddingsUnavailable, get_encoder

ACTIVE_POINTER = "ACTIVE"


MODEL_FILE = "model.joblib"


EMBEDDING_HEAD_FILE = "embedding_head.joblib"


METADATA_FILE = "metadata.json"


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ClassifierError(f"Invalid model name {name!r}: letters, digits, '_', '-', '.' only.")
    return name


def _root() -> Path:
    return Path(settings.CLASSIFIER_DIR)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def store_version(
    *, name: str, version_dir: str, pipeline: Any, metadata: dict[str, Any], embedding_head: Any = None
) -> Path:
    target = _root() / name / version_dir
    staging = target.with_name(f".{version_dir}.{os.getpid()}.partial")
    staging.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, staging / MODEL_FILE, compress=3)
    if embedding_head is not None:
        joblib.dump(embedding_head, staging / EMBEDDING_HEAD_FILE, compress=3)
    (staging / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, sort_keys=True), encoding="utf-8"
    )
    if target.exists():  # same second, same data: the newer one wins
        import shutil

        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def classifier_activate(*, name: str, version: str | None = None) -> None:
    """Point ``name`` at ``version`` (a version directory; the newest when None) and make
    ``name`` the active model of every process."""
    check_name(name)
    model_dir = _root() / name
    if version is None:
        versions = classifier_versions(name=name)
        if not versions:
            raise ClassifierError(f"No stored versions of model {name!r} in {model_dir}")
        version = versions[-1]
    if not (model_dir / version / MODEL_FILE).exists():
        raise ClassifierError(f"Model {name!r} has no version {version!r}")
    _write_atomic(model_dir / ACTIVE_POINTER, version)
    _write_atomic(_root() / ACTIVE_POINTER, name)


def classifier_versions(*, name: str) -> list[str]:
    model_dir = _root() / name
    if not model_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in model_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MODEL_FILE).exists()
    )


def _read_pointer(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return value or None


def active_version(*, name: str) -> str | None:
    """The active version directory of ``name``, when it exists on disk."""
    version = _read_pointer(_root() / name / ACTIVE_POINTER)
    if version and (_root() / name / version / MODEL_FILE).exists():
        return version
    return None


def active_model_name() -> str | None:
    return _read_pointer(_root() / ACTIVE_POINTER)


_cache_lock = threading.Lock()


_cache: dict[tuple[str, str, str], LocalClassifier] = {}


def load_classifier(*, name: str, version: str | None = None) -> LocalClassifier:
    """Load (and cache per process) a stored model; ``version`` defaults to its active one."""
    check_name(name)
    version = version or active_version(name=name)
    if version is None:
        raise ClassifierError(f"Model {name!r} has no active version in {_root()}")
    key = (str(_root()), name, version)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        directory = _root() / name / version
        try:
            pipeline = joblib.load(directory / MODEL_FILE)
            metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
            head = joblib.load(directory / EMBEDDING_HEAD_FILE) if metadata.get("embeddings") else None
        except FileNotFoundError as exc:
            raise ClassifierError(
                f"Model {name!r} version {version!r} is incomplete: {exc}"
            ) from exc
        if head is not None:
            try:
                get_encoder()  # load it now: a missing encoder must not surface mid-triage
            except EmbeddingsUnavailable as exc:
                raise ClassifierError(f"Model {name!r} needs the sentence encoder: {exc}") from exc
        classifier = LocalClassifier(
            pipeline=pipeline,
            threshold=float(metadata.get("threshold", 1.01)),
            model_name=name,
            model_version=str(metadata.get("version", f"{name}@{version}")),
            metadata=metadata,
            embedding_head=head,
        )
        # Keep only the models in use: an old version is dropped once a new one is loaded.
        for stale in [k for k in _cache if k[:2] == key[:2]]:
            del _cache[stale]
        _cache[key] = classifier
        return classifier


def active_classifier() -> LocalClassifier | None:
    """The active model, cached per process; None when none is trained.

    Two tiny pointer files are read per call, so a new activation is picked up at once by every
    process; the model itself is loaded once per version.
    """
    name = active_model_name()
    if name is None or not _NAME_RE.match(name):
        return None
    version = active_version(name=name)
    if version is None:
        return None
    try:
        return load_classifier(name=name, version=version)
    except ClassifierError:
        return None


def classifier_clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
