"""Do MiniLM sentence embeddings help the local classifier? Nested cross-validation on BANKING77.

Approaches, each evaluated with the same procedure as ``bench/classifier_cv.py``: for each of
--folds stratified outer folds (random_state 42), on the other folds an inner 5-fold
cross-validation gives out-of-fold probabilities, ``threshold_select`` (the rule of
triage/classifier.py, Bonferroni-corrected Clopper-Pearson on a 0.01 grid) picks the threshold
at --target-error, the model is refitted on the whole training part and the untouched outer fold
measures accuracy, automation and realised error among the automated rows.

  a  tfidf   the current recipe (triage.classifier.build_pipeline)
  b  emb-lr  StandardScaler + multinomial LogisticRegression(C=1) on the 384-d embeddings
  c  avg     mean of the probabilities of a and b (thresholds from the mean OOF probabilities)
  d  concat  [word tfidf | char tfidf | EMB_WEIGHT * embedding] -> LinearSVC(C=1) + sigmoid
             calibration (5-fold ensemble), i.e. build_pipeline with one more feature block

Embeddings of the CSV's texts are cached in /tmp (keyed by a hash of the texts).

    OMP_NUM_THREADS=1 .venv/bin/python bench/embeddings_cv.py --encode-only   # cache + speed
    .venv/bin/python bench/embeddings_cv.py [--folds 5] [--target-error 0.02]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from review.demo.tenant import dataset_dir  # noqa: E402
from triage.classifier import build_pipeline, read_csv_rows  # noqa: E402
from triage.classifier.model import normalise_text as _normalise_text  # noqa: E402
from triage.classifier.recipe import TRAIN_THREADS  # noqa: E402
from triage.classifier.training import _folds, _training_threads  # noqa: E402
from triage.statistics import NO_THRESHOLD, threshold_select  # noqa: E402

EMB_WEIGHT = 1.0  # each of the three feature blocks has unit L2 norm per row
APPROACHES = ("tfidf", "emb-lr", "avg", "concat")


def cache_path(texts: list[str]) -> Path:
    digest = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()[:16]
    return Path(f"/tmp/minilm_embeddings_{digest}.npy")


def encode_and_measure(texts: list[str]) -> np.ndarray:
    """Encode all texts pinned to one core; print batch and single-text speed."""
    from triage.embeddings import MiniLMEncoder

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    started = time.perf_counter()
    encoder = MiniLMEncoder.load()
    print(f"encoder load {time.perf_counter() - started:.2f}s", flush=True)
    started = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=64)
    seconds = time.perf_counter() - started
    print(
        f"batch (64, length-sorted): {len(texts)} texts in {seconds:.1f}s = "
        f"{len(texts) / seconds:.0f} texts/s (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), 300, replace=False)]
    times = []
    for text in sample:
        t0 = time.perf_counter()
        encoder.encode([text])
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(
        f"single text: p50 {times[len(times) // 2]:.2f} ms, p99 {times[int(len(times) * 0.99)]:.2f} ms, "
        f"max {times[-1]:.2f} ms",
        flush=True,
    )
    return vectors


class ConcatModel:
    """build_pipeline's TF-IDF features + one dense embedding block -> calibrated LinearSVC."""

    def __init__(self, *, calibration_folds: int, seed: int = 0) -> None:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        self.features = build_pipeline()[0]
        self.model = CalibratedClassifierCV(
            LinearSVC(C=1.0, random_state=seed),
            method="sigmoid",
            cv=calibration_folds,
            n_jobs=TRAIN_THREADS,
        )

    def _stack(self, matrix, embeddings):
        import scipy.sparse as sp

        return sp.hstack([matrix, sp.csr_matrix(EMB_WEIGHT * embeddings)], format="csr")

    def fit(self, texts, embeddings, y):
        matrix = self.features.fit_transform(texts)
        with _training_threads():
            self.model.fit(self._stack(matrix, embeddings), y)
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, texts, embeddings):
        return self.model.predict_proba(self._stack(self.features.transform(texts), embeddings))


def fit_predict(train_x, train_e, train_y, test_x, test_e) -> dict[str, np.ndarray]:
    """Probabilities on the test rows for each approach (columns: sorted classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = _folds(train_y.tolist())
    out: dict[str, np.ndarray] = {}
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tfidf = build_pipeline(calibration_folds=folds)
    with _training_threads():
        tfidf.fit(list(train_x), train_y)
    out["tfidf"] = tfidf.predict_proba(list(test_x))
    timings["tfidf"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    lr.fit(train_e, train_y)
    out["emb-lr"] = lr.predict_proba(test_e)
    timings["emb-lr"] = time.perf_counter() - t0
    out["avg"] = (out["tfidf"] + out["emb-lr"]) / 2
    t0 = time.perf_counter()
    concat = ConcatModel(calibration_folds=folds).fit(list(train_x), train_e, train_y)
    out["concat"] = concat.predict_proba(list(test_x), test_e)
    timings["concat"] = time.perf_counter() - t0
    for model in (tfidf, lr, concat):
        assert list(model.classes_) == sorted(set(train_y.tolist()))
    fit_predict.timings = timings  # type: ignore[attr-defined]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=dataset_dir() / "train.csv")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--inner-folds", type=int, default=5)
    parser.add_argument("--target-error", type=float, default=0.02)
    parser.add_argument("--encode-only", action="store_true")
    parser.add_argument("--max-outer", type=int, default=0, help="stop after this many folds")
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold

    texts, labels = read_csv_rows(path=args.csv)
    texts = [_normalise_text(t) for t in texts]
    cache = cache_path(texts)
    if args.encode_only or not cache.exists():
        vectors = encode_and_measure(texts)
        np.save(cache, vectors)
        print(f"cached {vectors.shape} -> {cache}")
        if args.encode_only:
            return
    embeddings = np.load(cache)
    x = np.array(texts, dtype=object)
    y = np.array(labels)
    print(
        f"{len(texts)} rows, {len(set(labels))} labels, {args.folds}-fold outer CV x "
        f"{args.inner_folds}-fold inner CV, target error {args.target_error}",
        flush=True,
    )
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in APPROACHES}
    outer = StratifiedKFold(args.folds, shuffle=True, random_state=42)
    for fold, (train, test) in enumerate(outer.split(x, y), start=1):
        started = time.perf_counter()
        classes = np.array(sorted(set(y[train].tolist())))
        oof = {name: np.zeros((len(train), len(classes))) for name in APPROACHES}
        inner = StratifiedKFold(args.inner_folds, shuffle=True, random_state=0)
        for inner_train, inner_test in inner.split(x[train], y[train]):
            a, b = train[inner_train], train[inner_test]
            probabilities = fit_predict(x[a], embeddings[a], y[a], x[b], embeddings[b])
            for name in APPROACHES:
                oof[name][inner_test] = probabilities[name]
        final = fit_predict(x[train], embeddings[train], y[train], x[test], embeddings[test])
        timings = fit_predict.timings  # type: ignore[attr-defined]
        for name in APPROACHES:
            oof_correct = classes[oof[name].argmax(axis=1)] == y[train]
            selection = threshold_select(
                confidences=oof[name].max(axis=1), wrong=~oof_correct, target_error=args.target_error
            )
            threshold = selection.threshold if selection.threshold is not None else NO_THRESHOLD
            probabilities = final[name]
            correct = classes[probabilities.argmax(axis=1)] == y[test]
            automated = probabilities.max(axis=1) >= threshold
            row = {
                "oof_accuracy": float(oof_correct.mean()),
                "accuracy": float(correct.mean()),
                "threshold": threshold,
                "automation": float(automated.mean()),
                "realised_error": float((~correct[automated]).mean()) if automated.any() else 0.0,
            }
            rows[name].append(row)
            print(
                f"fold {fold} {name:7s} accuracy {row['accuracy']:.4f}  threshold "
                f"{threshold:.2f}  automated {row['automation']:.4f}  realised error "
                f"{row['realised_error']:.4f}  (inner OOF acc {row['oof_accuracy']:.4f}, "
                f"final fit {timings.get(name, 0):.1f}s)",
                flush=True,
            )
        print(f"fold {fold}: {time.perf_counter() - started:.0f}s", flush=True)
        if args.max_outer and fold >= args.max_outer:
            break
    print()
    for name in APPROACHES:
        r = rows[name]
        print(
            f"mean {name:7s} "
            + "  ".join(
                f"{key} {statistics.mean(x[key] for x in r):.4f} "
                f"(min {min(x[key] for x in r):.4f}, max {max(x[key] for x in r):.4f})"
                for key in ("accuracy", "automation", "realised_error")
            )
        )


if __name__ == "__main__":
    main()
