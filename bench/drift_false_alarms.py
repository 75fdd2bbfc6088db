"""False alarms and detection of the drift checks (review/monitoring/), on samples, no database.

Usage: .venv/bin/python bench/drift_false_alarms.py [--windows 300] [--reference 3000]
       [--recent 200 1000] [--seed 1] [--csv PATH]

Each window draws a reference sample (``--reference`` tickets: ~100 a day over the 30-day
reference) and a recent sample (``--recent`` tickets: one day's traffic) independently from the
same stable traffic, and runs every check with the default thresholds (support/settings.py). The
share of windows in which a check breaches is its false-alarm rate (with a 95 % Clopper-Pearson
upper bound). Then, per check, the recent sample gets one injected shift (below) and the share of
windows that breach is the detection rate.

Traffic: intents and ticket texts are BANKING77's training set (review/demo/banking77/train.csv,
CC BY 4.0, PolyAI), so the category mix (77 intents) and ticket length are real. BANKING77 has no
confidence, language, reviewer, audit, latency, error or cost data: those are drawn per ticket from
fixed synthetic distributions (``STABLE`` below), stated in bench/drift.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from review.monitoring.checks import CHECKS, CHECKS_BY_NAME, ERROR_TYPES, Samples  # noqa: E402
from review.monitoring.statistics import DriftThresholds  # noqa: E402

CSV = Path(__file__).resolve().parent.parent / "review" / "demo" / "banking77" / "train.csv"
REASONS = ("low_confidence", "no_threshold", "high_stakes", "injection_suspected")


@dataclass(frozen=True)
class Traffic:
    """Synthetic per-ticket distributions for what BANKING77 lacks; the shifts replace fields."""

    confidence_a: float = 17.0
    confidence_b: float = 3.0  # Beta mean 0.85
    confidence_shift: float = 0.0
    spanish: float = 0.10
    reason_weights: tuple[float, ...] = (0.5, 0.3, 0.15, 0.05)
    length_factor: float = 1.0
    override: float = 0.08
    reject: float = 0.05
    audited_error: float = 0.02
    errors: tuple[tuple[str, float], ...] = (("timeout", 0.01), ("rate_limit", 0.005),
                                            ("connection", 0.005), ("validation", 0.01))
    fallback: float = 0.03
    latency_factor: float = 1.0
    cost_factor: float = 1.0
    tripled_intent: bool = False


STABLE = Traffic()

# One injected shift per check: what a "real" drift of that kind looks like here.
SHIFTS: dict[str, tuple[str, Traffic]] = {
    "category_mix": ("one random intent (of 77) triples", replace(STABLE, tripled_intent=True)),
    "confidence": ("confidence drops by 0.10 (mean 0.85 -> 0.75)", replace(STABLE, confidence_shift=0.10)),
    "language_mix": ("Spanish 10 % -> 25 %", replace(STABLE, spanish=0.25)),
    "ticket_length": ("tickets 30 % longer", replace(STABLE, length_factor=1.3)),
    "review_reason_mix": ("high_stakes 15 % -> 35 % of reasons", replace(STABLE, reason_weights=(0.4, 0.2, 0.35, 0.05))),
    "override_rate": ("override 8 % -> 16 %", replace(STABLE, override=0.16)),
    "reject_rate": ("reject 5 % -> 10 %", replace(STABLE, reject=0.10)),
    "audited_error": ("audited error 2 % -> 6 %", replace(STABLE, audited_error=0.06)),
    "latency_p95": ("latency x2", replace(STABLE, latency_factor=2.0)),
    **{
        f"error_rate_{kind}": (f"{kind} rate x4", replace(STABLE, errors=tuple(
            (name, rate * 4 if name == kind else rate) for name, rate in STABLE.errors)))
        for kind in ERROR_TYPES
    },
    "fallback_rate": ("fallback 3 % -> 8 %", replace(STABLE, fallback=0.08)),
    "cost_per_ticket": ("cost per ticket x2", replace(STABLE, cost_factor=2.0)),
}


def load(path: Path) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    intents = [row["category"] for row in rows]
    lengths = np.array([len(row["text"]) for row in rows], dtype=float)
    by_intent: dict[str, list[int]] = {}
    for index, intent in enumerate(intents):
        by_intent.setdefault(intent, []).append(index)
    return intents, lengths, {intent: np.array(indices) for intent, indices in by_intent.items()}


def draw(rng: np.random.Generator, n: int, traffic: Traffic, data: tuple[list[str], np.ndarray, dict[str, np.ndarray]]) -> Samples:
    intents, lengths, by_intent = data
    if traffic.tripled_intent:
        # Weight every row of one random intent 3x (its share triples, the others shrink a little).
        chosen = sorted(by_intent)[rng.integers(len(by_intent))]
        weights = np.ones(len(intents))
        weights[by_intent[chosen]] = 3.0
        rows = rng.choice(len(intents), size=n, p=weights / weights.sum())
    else:
        rows = rng.integers(0, len(intents), size=n)
    confidences = np.clip(rng.beta(traffic.confidence_a, traffic.confidence_b, size=n) - traffic.confidence_shift, 0, 1)
    reasons = rng.choice(len(REASONS), size=n, p=np.array(traffic.reason_weights) / sum(traffic.reason_weights))
    return Samples(
        categories=dict(Counter(intents[row] for row in rows)),
        languages=dict(Counter("es" if spanish else "en" for spanish in rng.random(n) < traffic.spanish)),
        review_reasons=dict(Counter(REASONS[reason] for reason in reasons)),
        confidences=confidences.tolist(),
        ticket_lengths=(lengths[rows] * traffic.length_factor).tolist(),
        latencies_ms=(rng.lognormal(np.log(400), 0.5, size=n) * traffic.latency_factor).tolist(),
        costs_per_ticket=(rng.gamma(4.0, 0.0001, size=n) * traffic.cost_factor).tolist(),
        judged=n,
        overridden=int(rng.binomial(n, traffic.override)),
        rejected=int(rng.binomial(n, traffic.reject)),
        audits_graded=n,
        audits_incorrect=int(rng.binomial(n, traffic.audited_error)),
        attempts=n,
        errors={kind: int(rng.binomial(n, rate)) for kind, rate in traffic.errors},
        finals=n,
        fallbacks=int(rng.binomial(n, traffic.fallback)),
    )


def upper_bound(hits: int, trials: int) -> float:
    """95 % one-sided Clopper-Pearson upper bound on a rate."""
    return 1.0 if hits == trials else float(stats.beta.ppf(0.95, hits + 1, trials - hits))


def run(windows: int, reference: int, recent: int, seed: int, data: tuple[list[str], np.ndarray, dict[str, np.ndarray]],
        thresholds: DriftThresholds) -> dict[str, tuple[int, int]]:
    rng = np.random.default_rng(seed)
    false_alarms = dict.fromkeys(CHECKS_BY_NAME, 0)
    detected = dict.fromkeys(CHECKS_BY_NAME, 0)
    for _ in range(windows):
        before = draw(rng, reference, STABLE, data)
        now = draw(rng, recent, STABLE, data)
        for check in CHECKS:
            false_alarms[check.name] += check.run(before, now, thresholds).breached
        for name, (_label, traffic) in SHIFTS.items():
            shifted = draw(rng, recent, traffic, data)
            detected[name] += CHECKS_BY_NAME[name].run(before, shifted, thresholds).breached
    return {name: (false_alarms[name], detected[name]) for name in CHECKS_BY_NAME}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--reference", type=int, default=3000)
    parser.add_argument("--recent", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv", type=Path, default=CSV)
    args = parser.parse_args()
    thresholds = DriftThresholds.from_settings()
    data = load(args.csv)
    print(f"BANKING77 rows {len(data[0])}, intents {len(data[2])}; windows {args.windows}, reference {args.reference}; "
          f"thresholds {thresholds}; load average {os.getloadavg()[0]:.1f}")
    results: dict[int, dict[str, tuple[int, int]]] = {}
    started = time.perf_counter()
    for recent in args.recent:
        results[recent] = run(args.windows, args.reference, recent, args.seed + recent, data, thresholds)
    elapsed = time.perf_counter() - started
    header = "| check | injected shift | " + " | ".join(
        f"false alarms, recent {recent} (95 % upper) | detected, recent {recent}" for recent in args.recent) + " |"
    print(header)
    print("|" + "---|" * (2 + 2 * len(args.recent)))
    for check in CHECKS:
        cells = []
        for recent in args.recent:
            alarms, hits = results[recent][check.name]
            cells.append(f"{alarms}/{args.windows} ({upper_bound(alarms, args.windows):.1%})")
            cells.append(f"{hits / args.windows:.0%}")
        print(f"| `{check.name}` | {SHIFTS[check.name][0]} | " + " | ".join(cells) + " |")
    total = sum(results[recent][name][0] for recent in args.recent for name in CHECKS_BY_NAME)
    print(f"any check, any window: {total} false alarm(s) in {args.windows * len(args.recent) * len(CHECKS)} check runs; "
          f"{elapsed:.1f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()


