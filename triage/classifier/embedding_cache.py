"""Training-set sentence embeddings, computed once per (text, encoder) and kept under var/.

Embedding BANKING77's 10,000 rows is the slowest part of training (minutes on a busy 2-core
machine); the encoder is frozen, so the same text and the same weights always give the same
vector. The cache is one file per encoder, named by the SHA-256 of its weights, holding the
SHA-256 of each text beside its vector: a retrain on the same CSV embeds nothing, a CSV with new
rows embeds only those, and a changed encoder never reuses stale vectors. It lives in
``CLASSIFIER_DIR/.cache/embeddings/`` (var/models by default; a model name cannot start with a
dot, so no model clashes with it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from tqdm import tqdm

from triage.classifier.model import embed_texts
from triage.embeddings import MODEL_FILES

CHUNK = 256  # texts per progress step


def embedding_cache_path() -> Path:
    encoder = MODEL_FILES["model.safetensors"]
    return Path(settings.CLASSIFIER_DIR) / ".cache" / "embeddings" / f"{encoder}.npz"


def _text_keys(texts: Sequence[str]) -> np.ndarray:
    return np.array([hashlib.sha256(text.encode("utf-8")).digest() for text in texts], dtype="S32")


def training_embeddings(texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
    """(len(texts), 384) vectors; only texts not embedded before by this encoder are embedded."""
    path = embedding_cache_path()
    keys = _text_keys(texts)
    try:
        with np.load(path, allow_pickle=False) as stored:
            known_keys, known_vectors = stored["keys"], stored["vectors"]
    except (OSError, KeyError, ValueError):
        known_keys, known_vectors = np.zeros(0, dtype="S32"), np.zeros((0, 384), dtype=np.float32)
    index = {key: row for row, key in enumerate(known_keys.tolist())}
    missing = sorted({row for row, key in enumerate(keys.tolist()) if key not in index})
    if missing:
        parts = []
        with tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress) as bar:
            for start in range(0, len(missing), CHUNK):
                chunk = [texts[row] for row in missing[start : start + CHUNK]]
                parts.append(embed_texts(chunk))
                bar.update(len(chunk))
        new_keys = np.unique(keys[missing], return_index=True)[1]
        added_keys = keys[missing][new_keys]
        added_vectors = np.concatenate(parts)[new_keys]
        known_keys = np.concatenate([known_keys, added_keys])
        known_vectors = np.concatenate([known_vectors, added_vectors.astype(np.float32)])
        index = {key: row for row, key in enumerate(known_keys.tolist())}
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(staging, keys=known_keys, vectors=known_vectors)
        os.replace(staging, path)
    return known_vectors[[index[key] for key in keys.tolist()]]
