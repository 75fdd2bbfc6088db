"""PII redaction quality and speed on the labelled corpus in bench/pii/corpus.jsonl.

Each corpus line is a realistic support-ticket sentence (en-GB, en-US, fr, de, es) with every
personal-data span labelled with its kind, or a PII-free sentence full of look-alikes (order
numbers, amounts, dates that are not birth dates, card last-4, product versions). Scoring, per kind:

- recall: a labelled span counts as found when detections *of the same kind* cover all of its
  characters; "masked" is laxer and counts a span hidden by a detection of *any* kind (what matters
  for privacy: nothing of it reaches the provider);
- precision: a detection counts as right when it overlaps a labelled span of the same kind.

Speed: the mean time of ``pii_redact`` on one corpus sentence, and on a ~1,500-character ticket
(twenty sentences joined), over --repeat runs, in CPU time of this process (steadier than wall
clock on a shared machine); and the CPU time on inputs built to make a
backtracking pattern explode. No database needed.

    .venv/bin/python bench/pii_eval.py [--corpus bench/pii/corpus.jsonl] [--show-misses] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

from triage.pii import ALL_KINDS, PiiSpan, pii_detect, pii_redact  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "pii" / "corpus.jsonl"


@dataclass(frozen=True)
class Gold:
    start: int
    end: int
    kind: str


def gold_spans(text: str, labels: list[dict[str, str]]) -> list[Gold]:
    spans: list[Gold] = []
    for label in labels:
        start = text.find(label["text"])
        if start < 0:
            raise SystemExit(f"label {label['text']!r} is not in {text!r}")
        spans.append(Gold(start, start + len(label["text"]), label["kind"]))
    return spans


def covered(gold: Gold, detections: list[PiiSpan]) -> bool:
    return all(
        text_char_is_space or any(d.start <= index < d.end for d in detections)
        for index, text_char_is_space in ((i, False) for i in range(gold.start, gold.end))
    )


def evaluate(rows: list[dict[str, object]], show_misses: bool) -> None:
    true_pos: dict[str, int] = defaultdict(int)
    gold_total: dict[str, int] = defaultdict(int)
    masked: dict[str, int] = defaultdict(int)
    detected_total: dict[str, int] = defaultdict(int)
    detected_right: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    for row in rows:
        text = str(row["text"])
        labels = row["pii"]
        assert isinstance(labels, list)
        golds = gold_spans(text, labels)
        detections = pii_detect(text, kinds=list(ALL_KINDS))
        for gold in golds:
            gold_total[gold.kind] += 1
            same_kind = [d for d in detections if d.kind == gold.kind]
            if covered(gold, same_kind):
                true_pos[gold.kind] += 1
            elif show_misses:
                misses.append(f"MISS {gold.kind:9} {text[gold.start:gold.end]!r} in [{row['locale']}] {text!r}")
            if covered(gold, detections):
                masked[gold.kind] += 1
        for detection in detections:
            detected_total[detection.kind] += 1
            if any(g.kind == detection.kind and g.start < detection.end and detection.start < g.end for g in golds):
                detected_right[detection.kind] += 1
            elif show_misses:
                misses.append(f"FP   {detection.kind:9} {text[detection.start:detection.end]!r} in "
                              f"[{row['locale']}] {text!r}")
    print(f"{'kind':10} {'gold':>5} {'recall':>7} {'masked':>7} {'detected':>9} {'precision':>10}")
    for kind in ALL_KINDS:
        gold_n, found_n = gold_total[kind], detected_total[kind]
        recall = f"{true_pos[kind] / gold_n:.2f}" if gold_n else "-"
        masked_rate = f"{masked[kind] / gold_n:.2f}" if gold_n else "-"
        precision = f"{detected_right[kind] / found_n:.2f}" if found_n else "-"
        print(f"{kind:10} {gold_n:>5} {recall:>7} {masked_rate:>7} {found_n:>9} {precision:>10}")
    all_gold = sum(gold_total.values())
    all_found = sum(detected_total.values())
    print(f"{'all':10} {all_gold:>5} {sum(true_pos.values()) / all_gold:>7.2f} {sum(masked.values()) / all_gold:>7.2f}"
          f" {all_found:>9} {sum(detected_right.values()) / max(all_found, 1):>10.2f}")
    clean = [row for row in rows if not row["pii"]]
    over = sum(1 for row in clean if pii_detect(str(row["text"]), kinds=list(ALL_KINDS)))
    print(f"PII-free sentences with any redaction: {over} of {len(clean)}")
    for line in misses:
        print(line)


def timing(rows: list[dict[str, object]], repeat: int) -> None:
    texts = [str(row["text"]) for row in rows]
    started = time.process_time()
    for _ in range(repeat):
        for text in texts:
            pii_redact([text], kinds=list(ALL_KINDS), customer_name="Ada Lovelace")
    per_sentence = (time.process_time() - started) / (repeat * len(texts))
    ticket = " ".join(texts[:20])
    started = time.process_time()
    for _ in range(repeat):
        pii_redact(["Charged twice", ticket], kinds=list(ALL_KINDS), customer_name="Ada Lovelace")
    per_ticket = (time.process_time() - started) / repeat
    print(f"pii_redact: {per_sentence * 1000:.2f} ms per sentence (mean of {len(texts)} x {repeat}); "
          f"{per_ticket * 1000:.2f} ms per {len(ticket)}-character ticket (subject + body)")


# Inputs shaped to make a backtracking regex explode (a hyphen chain before a required street
# suffix cost 1.5 s at 22 repeats before the patterns were bounded). Linear detectors stay in ms.
ADVERSARIAL = {
    "hyphen chain before a street suffix": "12 " + "Ab-" * 200 + "x!",
    "particle chain in a Spanish street": "calle " + "de " * 200 + "x",
    "glued particles in a French street": "12 rue " + "de" * 200 + "x",
    "digit soup for the phone matcher": "+" + "1 " * 1000,
    "name words after a relation cue": "my husband " + "Ab " * 200,
}


def adversarial() -> None:
    for label, text in ADVERSARIAL.items():
        started = time.process_time()
        pii_redact([text], kinds=list(ALL_KINDS))
        print(f"adversarial, {label} ({len(text)} chars): {(time.process_time() - started) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    locales = sorted({str(row["locale"]) for row in rows})
    print(f"{len(rows)} sentences ({', '.join(locales)}), {sum(len(row['pii']) for row in rows)} labelled spans")
    evaluate(rows, args.show_misses)
    timing(rows, args.repeat)
    adversarial()


if __name__ == "__main__":
    main()
