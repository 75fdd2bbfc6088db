"""Shared set-up for the triage benchmarks: Django, a database with the demo tenant, a small real
local model, the loopback OpenAI-compatible server, and a supply of realistic tickets.

Run from the repository root with the virtualenv's python, e.g.
  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sb_bench REDIS_URL=redis://127.0.0.1:6379/5 \
  .venv/bin/python bench/triage_overhead.py
Without DATABASE_URL a throw-away SQLite file under var/bench/ is used.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench"))
    # The encoder installed by `make install`, not a missing one under var/bench/.
    os.environ.setdefault("ENCODER_DIR", str(ROOT / "var" / "encoder" / "all-MiniLM-L6-v2"))
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from review.demo import tenant as demo  # noqa: E402
from support.models import Ticket  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

ROWS_PER_LABEL = 40


def setup_database() -> None:
    call_command("migrate", verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from review.demo.seeding import demo_seed

    demo_seed(ticket_count=0)


def setup_local_model() -> None:
    """Train a small real model (ROWS_PER_LABEL rows of each BANKING77 label) in a temp dir."""
    from triage import classifier

    settings.CLASSIFIER_DIR = Path(tempfile.mkdtemp(prefix="sb-bench-model-"))
    texts, labels, counts = [], [], {}
    with (demo.dataset_dir() / "train.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = demo.category_slug(row["category"])
            if counts.get(label, 0) < ROWS_PER_LABEL:
                counts[label] = counts.get(label, 0) + 1
                texts.append(row["text"])
                labels.append(label)
    classifier.classifier_train(texts=texts, labels=labels, name="bench", target_error=0.1,
                                source="bench")
    assert classifier.active_classifier() is not None


def setup_fake_llm(delay: float = 0.0) -> FakeOpenAI:
    """The loopback server as the first provider; every answer is valid and takes ``delay``."""
    import json

    server = FakeOpenAI().start()
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "sk-bench-loopback"
    settings.LLM_MODEL = server.model
    settings.LLM_CHAIN = ["openai", "local"]
    settings.LLM_PRICES = {server.model: {"input": 0.15, "output": 0.60}}
    settings.LLM_DAILY_BUDGET_USD = 1e9
    settings.LLM_CACHE_SECONDS = 0  # every ticket is a real call
    answer = json.dumps({
        "category": "card_arrival", "priority": "normal", "sentiment": "neutral", "language": "en",
        "team": "cards", "confidence": 0.9, "citations": [], "risk_flags": [],
        "reply_draft": "Hello [CUSTOMER_NAME], cards arrive within a few working days.",
        "rationale": "bench",
    })

    def reply(request: dict) -> str:
        if delay:
            time.sleep(delay)
        return answer

    server.default = reply
    return server


def tickets_create(count: int, *, tag: str) -> list[int]:
    """``count`` committed tickets from the BANKING77 test split, status ``new``. Written directly
    (not through ticket_create) so nothing is dispatched to a broker another worker might read."""
    from support.models import Message
    from support.services import customer_get_or_create

    rows = demo.demo_rows(count)
    ids = []
    for index, (text, _label) in enumerate(rows):
        customer = customer_get_or_create(email=f"bench{index}@customers.example", name="Ada Bench")
        ticket = Ticket.objects.create(subject=text[:60], channel="email", source="bench",
                                       external_id=f"{tag}-{index}", customer=customer)
        body = f"Hi,\n\n{text}\n\nThanks,\nAda"
        Message.objects.create(ticket=ticket, direction=Message.Direction.INBOUND,
                               author_email=customer.email, body_text=body, body_for_model=body)
        ids.append(ticket.pk)
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
