"""Golden vectors for tests/triage/test_encoder_parity.py, from the reference implementation.

sentence-transformers (PyTorch) embeds a fixed set of texts with the very files our numpy encoder
reads (ENCODER_DIR, put there by `manage.py encoder_install`), and the vectors are written as a
small JSON fixture with the library versions used. Run it once, outside the project's venv
(PyTorch is no dependency of Switchboard), and commit the fixture:

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.13.0            # the CPU wheel
    /tmp/stvenv/bin/pip install sentence-transformers torch==2.13.0
    HF_HUB_OFFLINE=1 /tmp/stvenv/bin/python bench/encoder_golden.py \
        [--model-dir var/encoder/all-MiniLM-L6-v2] [--out tests/fixtures/encoder_golden.json]

The vectors are taken at max_seq_length 128, our encoder's truncation (the length the model was
trained at), not the 256 of sentence_bert_config.json; texts longer than 128 tokens are also
embedded at 256, so the test can check ours at that length too. No Django and no hub access here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECIMALS = 6
MAX_SEQ_LENGTH = 128  # triage.embeddings.DEFAULT_MAX_LENGTH
LONG_MAX_SEQ_LENGTH = 256  # sentence_bert_config.json

_LONG_EMAIL = (
    "Hello, I am writing again about the card payment that was declined at the supermarket on "
    "Saturday. I had more than enough money in my account, the card is not expired, and the "
    "contactless limit should not apply because I typed my PIN. The cashier tried three times. "
    "Afterwards I got a text message saying a transaction was blocked for my protection, but I "
    "never received a call or an email explaining why. I then tried the same card online to buy "
    "train tickets and it failed again with the message 'do not honour'. This is the second time "
    "this month and it is really embarrassing. Could you please check what is wrong with my card, "
    "whether there is a fraud flag on my account, and tell me if I need to order a replacement? "
    "I am travelling to Portugal next week and need a card that works abroad. Thank you, Maria."
)

TEXTS: list[str] = [
    "How do I reset my PIN?",
    "I forgot my card PIN",
    "What is the exchange rate for euros?",
    "This is an example sentence",
    "card",
    "?",
    "",
    "   ",
    "My card still hasn't arrived after 2 weeks!!! Where is it???",
    "I was charged TWICE for the same purchase -- £49.99 on 03/11 -- please refund one of them.",
    "Why is there a €1.50 fee on my top-up?",
    "URGENT: someone used my account, I don't recognise these payments: https://example.com/tx/8812",
    "Can I change my address online, or do I have to call?",
    "Mi tarjeta fue rechazada en el cajero automático, ¿qué hago?",
    "Ma carte bancaire a été bloquée après trois essais de code.",
    "Ich habe meine Karte verloren. Bitte sperren Sie sie sofort.",
    "我的银行卡被吞了，怎么办？",
    "カードが届きません",
    "Моя карта не работает за границей",
    "الرجاء إلغاء بطاقتي",
    "thx 🙏 the transfer went through 👍",
    "refund refund refund refund refund refund refund refund",
    _LONG_EMAIL,
    " ".join([_LONG_EMAIL] * 3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "var" / "encoder" / "all-MiniLM-L6-v2")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "encoder_golden.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the files in --model-dir or nothing

    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(args.model_dir), device="cpu")
    model.eval()

    def embed(texts: list[str], max_seq_length: int) -> list[list[float]]:
        model.max_seq_length = max_seq_length
        vectors = model.encode(texts, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
        return [[round(float(x), DECIMALS) for x in row] for row in vectors]

    token_counts = [len(model.tokenizer(text)["input_ids"]) for text in TEXTS]
    long_indices = [i for i, count in enumerate(token_counts) if count > MAX_SEQ_LENGTH]
    fixture = {
        "about": "all-MiniLM-L6-v2 embeddings by sentence-transformers (mean pooling, normalised), "
        "produced by bench/encoder_golden.py from the files in ENCODER_DIR",
        "model_safetensors_sha256": hashlib.sha256((args.model_dir / "model.safetensors").read_bytes()).hexdigest(),
        "versions": {
            "python": platform.python_version(),
            "sentence-transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
        },
        "decimals": DECIMALS,
        "max_seq_length": MAX_SEQ_LENGTH,
        "texts": TEXTS,
        "token_counts": token_counts,
        "vectors": embed(TEXTS, MAX_SEQ_LENGTH),
        "long": {
            "max_seq_length": LONG_MAX_SEQ_LENGTH,
            "indices": long_indices,
            "vectors": embed([TEXTS[i] for i in long_indices], LONG_MAX_SEQ_LENGTH),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(TEXTS)} texts ({len(long_indices)} past {MAX_SEQ_LENGTH} tokens) -> {args.out} "
          f"({args.out.stat().st_size / 1024:.0f} KB); token counts {token_counts}")


if __name__ == "__main__":
    main()
