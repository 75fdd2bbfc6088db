"""Our numpy all-MiniLM-L6-v2 against the reference implementation.

The golden vectors were produced once by sentence-transformers (PyTorch) from the same files,
by bench/encoder_golden.py; the texts cover short, long (past 128 tokens), non-Latin, emoji,
punctuation-only and empty inputs. Both sides truncate at 128 tokens, the length the model was
trained at and our encoder's default; the texts past it are also checked at 256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from triage.embeddings import MODEL_FILES, MiniLMEncoder, get_encoder

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "encoder_golden.json").read_text("utf-8"))
# Rounding the golden vectors to 6 decimals moves a cosine by < 1e-9; float32 sums in another
# order by ~1e-7 (measured: cosine >= 0.9999995, max abs diff 6.8e-7). The absolute bound is the
# sharp one: the tanh approximation of GELU still scores cosine 0.999998 but differs by 2.9e-4.
MIN_COSINE = 0.9999
MAX_ABS_DIFF = 1e-5


def _assert_close_to_golden(ours: np.ndarray, golden: Any, texts: list[str]) -> None:
    expected = np.asarray(golden, dtype=np.float64)
    assert ours.shape == expected.shape
    cosines = (ours * expected).sum(axis=1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(ours, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= MIN_COSINE, f"cosine {cosines[worst]:.6f} for {texts[worst]!r}"
    differences = np.abs(ours - expected).max(axis=1)
    worst = int(np.argmax(differences))
    assert differences.max() <= MAX_ABS_DIFF, f"max abs diff {differences[worst]:.2e} for {texts[worst]!r}"


def test_golden_vectors_were_made_from_the_weights_we_load() -> None:
    assert GOLDEN["model_safetensors_sha256"] == MODEL_FILES["model.safetensors"]
    assert GOLDEN["max_seq_length"] == get_encoder().max_length


def test_our_vectors_match_sentence_transformers_batched() -> None:
    texts = GOLDEN["texts"]
    _assert_close_to_golden(get_encoder().encode(texts), GOLDEN["vectors"], texts)


@pytest.mark.parametrize("index", range(len(GOLDEN["texts"])))
def test_our_vectors_match_sentence_transformers_one_text_at_a_time(index: int) -> None:
    text = GOLDEN["texts"][index]
    _assert_close_to_golden(get_encoder().encode([text]), [GOLDEN["vectors"][index]], [text])


def test_texts_past_128_tokens_match_at_256_too() -> None:
    # Given the texts that are longer than our truncation
    long = GOLDEN["long"]
    assert long["indices"], "the golden set must hold texts past 128 tokens"
    texts = [GOLDEN["texts"][i] for i in long["indices"]]
    # When our encoder truncates at 256 like sentence-transformers' own config
    encoder = MiniLMEncoder.load(max_length=long["max_seq_length"])
    # Then it still computes the reference's vectors
    _assert_close_to_golden(encoder.encode(texts), long["vectors"], texts)
