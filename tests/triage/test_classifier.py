"""The local classifier: training, threshold selection, versioned artifacts, activation, CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.triage.conftest import TRAINED_LABELS, small_training_rows
from triage import classifier
from triage.statistics import error_upper_bound, threshold_select

REPO_ROOT = Path(__file__).resolve().parents[2]


def _write_csv(
    path: Path, texts: list[str], labels: list[str], label_column: str = "category"
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", label_column])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def test_trained_model_recognises_unseen_tickets(trained_classifier: Any) -> None:
    predictions = trained_classifier.predict_many(
        [
            "It's been two weeks and my new card still has not arrived in the post",
            "Someone stole my bag with my card in it last night",
            "How do I close my account for good?",
        ]
    )
    assert [p.label for p in predictions] == [
        "card_arrival",
        "lost_or_stolen_card",
        "terminate_account",
    ]
    for prediction in predictions:
        assert set(prediction.probabilities) == set(TRAINED_LABELS)
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction.confidence == max(prediction.probabilities.values())
        assert prediction.model_name == "tiny"
        assert prediction.model_version.startswith("tiny@")
        assert 0 < prediction.threshold <= 1.01


def test_single_prediction_equals_batch_prediction(trained_classifier: Any) -> None:
    text = "what exchange rate will I get for dollars"
    single = trained_classifier.predict(text)
    batch = trained_classifier.predict_many(["something else entirely", text])[1]
    assert single.label == batch.label == "exchange_rate"
    assert single.confidence == pytest.approx(batch.confidence)


def test_clopper_pearson_upper_bound_matches_the_closed_form_for_zero_errors() -> None:
    # With no errors the exact one-sided bound is 1 - alpha**(1/n).
    assert error_upper_bound(errors=0, total=100) == pytest.approx(
        1 - 0.05 ** (1 / 100)
    )
    assert error_upper_bound(errors=10, total=100) > 0.10
    assert error_upper_bound(errors=0, total=0) == 1.0


def test_threshold_is_the_lowest_grid_point_whose_corrected_error_bound_meets_the_target() -> None:
    # Given 3,000 confident correct predictions and 1,000 less confident ones, 10% wrong,
    rng = np.random.default_rng(0)
    confidences = np.r_[rng.uniform(0.9, 1.0, 3000), rng.uniform(0.3, 0.9, 1000)]
    correct = np.r_[np.ones(3000, bool), rng.uniform(size=1000) > 0.1]

    selection = threshold_select(confidences=confidences, wrong=~correct, target_error=0.02)
    threshold, rate, observed, upper = (
        selection.threshold, selection.automation_rate, selection.error_above, selection.upper_bound
    )
    assert threshold is not None

    def bound(t: float) -> float:
        chosen = confidences >= t
        # 95% for all 100 grid points at once: Bonferroni.
        return error_upper_bound(
            errors=int((~correct[chosen]).sum()), total=int(chosen.sum()), confidence=1 - 0.05 / 100
        )

    # then the automated set meets the corrected bound,
    automated = confidences >= threshold
    assert round(threshold * 100) == threshold * 100  # a grid point
    assert upper <= 0.02 and upper == pytest.approx(bound(threshold))
    assert rate == pytest.approx(automated.mean())
    assert observed == pytest.approx((~correct[automated]).sum() / automated.sum())
    assert automated.sum() > 3000
    # no lower grid point does,
    assert all(bound(t) > 0.02 for t in np.arange(0.01, threshold - 0.005, 0.01))
    # and the uncorrected bound alone would have allowed a lower threshold.
    lower = threshold - 0.01
    chosen = confidences >= lower
    assert (
        error_upper_bound(
            errors=int((~correct[chosen]).sum()), total=int(chosen.sum())
        )
        <= 0.02
    )


def test_no_threshold_qualifies_when_the_held_out_set_is_too_small_to_prove_the_target() -> None:
    selection = threshold_select(
        confidences=np.array([0.99, 0.98, 0.97]), wrong=np.array([False, False, False]), target_error=0.02
    )
    assert selection.threshold is None
    assert selection.automation_rate == 0.0


@pytest.mark.django_db  # train_classifier asks whether a configuration is in production
def test_train_classifier_stores_a_versioned_model_with_metadata_and_activates_it(
    tmp_path: Path, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(
        labels=("card_arrival", "refund_not_showing_up", "change_pin"), per_label=30
    )
    # BANKING77 spelling in the CSV: labels are normalised to category slugs.
    raw = [
        "Refund_not_showing_up" if label == "refund_not_showing_up" else label for label in labels
    ]
    data = _write_csv(tmp_path / "train.csv", texts, raw)

    call_command(
        "train_classifier",
        "--csv",
        str(data),
        "--name",
        "demo",
        "--target-error",
        "0.1",
        "--cv-folds",
        "2",
    )

    out = capsys.readouterr().out
    assert (
        "held-out accuracy:" in out and "threshold:" in out and "expected automation rate:" in out
    )
    versions = classifier.classifier_versions(name="demo")
    assert len(versions) == 1
    metadata = json.loads(
        (settings.CLASSIFIER_DIR / "demo" / versions[0] / "metadata.json").read_text()
    )
    assert metadata["labels"] == ["card_arrival", "change_pin", "refund_not_showing_up"]
    assert len(metadata["training_set_sha256"]) == 64
    assert metadata["created_at"].endswith("Z")
    assert 0 <= metadata["metrics"]["heldout_accuracy"] <= 1
    assert metadata["threshold"] == pytest.approx(
        float(out.split("threshold: ")[1].split()[0]), abs=1e-4
    )
    active = classifier.active_classifier()
    assert active is not None
    assert active.model_version == metadata["version"]
    assert active.predict("I still haven't received my refund").label == "refund_not_showing_up"


@pytest.mark.django_db  # train_classifier asks whether a configuration is in production
def test_if_missing_does_nothing_when_the_named_model_is_already_active(
    tmp_path: Path, settings: Any
) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(labels=("card_arrival", "change_pin"), per_label=20)
    data = _write_csv(tmp_path / "train.csv", texts, labels)
    call_command(
        "train_classifier", "--csv", str(data), "--name", "demo", "--if-missing", "--cv-folds", "2"
    )
    first = classifier.classifier_versions(name="demo")

    call_command(
        "train_classifier", "--csv", str(data), "--name", "demo", "--if-missing", "--cv-folds", "2"
    )

    assert classifier.classifier_versions(name="demo") == first
    assert classifier.active_version(name="demo") == first[0]


def test_a_new_activation_is_seen_by_a_running_process_and_by_another_process(
    tmp_path: Path, settings: Any
) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(labels=("card_arrival", "change_pin"), per_label=20)
    first = classifier.classifier_train(
        texts=texts, labels=labels, name="demo", target_error=0.1, cv_folds=2
    )
    assert classifier.active_classifier().model_version == first.version  # loaded and cached

    # Different data, so a different version directory even within the same second.
    second = classifier.classifier_train(
        texts=texts[:-2], labels=labels[:-2], name="demo", target_error=0.1, cv_folds=2
    )

    assert second.version != first.version
    assert classifier.active_classifier().model_version == second.version
    env = {
        **os.environ,
        "CLASSIFIER_DIR": str(settings.CLASSIFIER_DIR),
        "DJANGO_SETTINGS_MODULE": "support.settings",
    }
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from triage.classifier import active_classifier;"
            " print(active_classifier().model_version)",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert other.stdout.strip() == second.version


def test_no_active_model_means_no_classifier(tmp_path: Path, settings: Any) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "empty"
    assert classifier.active_classifier() is None


def test_classify_writes_one_row_per_input_with_automate_from_the_threshold(
    trained_classifier: Any, tmp_path: Path
) -> None:
    texts = [
        "my card has not arrived yet",
        "I want to change my PIN",
        "how long does a transfer take",
        'hello, with a comma, and "quotes"',
    ]
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        writer.writerows([[i, text] for i, text in enumerate(texts)])
    out = tmp_path / "out.csv"

    call_command(
        "classify",
        "--csv",
        str(source),
        "--model",
        "tiny",
        "--text-column",
        "body",
        "--out",
        str(out),
    )

    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == texts
    assert list(rows[0]) == ["text", "label", "confidence", "automate"]
    assert [row["label"] for row in rows[:3]] == ["card_arrival", "change_pin", "transfer_timing"]
    for row in rows:
        assert row["automate"] == (
            "true" if float(row["confidence"]) >= trained_classifier.threshold else "false"
        )


def test_classify_rejects_a_missing_text_column(trained_classifier: Any, tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "in.csv", ["x"], ["y"])
    with pytest.raises(CommandError, match="no column 'body'"):
        call_command(
            "classify",
            "--csv",
            str(source),
            "--text-column",
            "body",
            "--out",
            str(tmp_path / "o.csv"),
        )


@pytest.mark.django_db
def test_train_from_reviews_uses_the_reviewers_final_category(
    tmp_path: Path, settings: Any, make_user: Any
) -> None:
    from review.models import ReviewOutcome
    from support.models import Category, Customer, Message, Team, Ticket

    settings.CLASSIFIER_DIR = tmp_path / "models"
    reviewer = make_user("reviewer", "agent")
    team = Team.objects.create(slug="cards", name="Cards")
    arrival = Category.objects.create(slug="card_arrival", name="Card arrival", default_team=team)
    customer = Customer.objects.create(email="c@example.com", name="Ada")
    texts, labels = small_training_rows(
        labels=("card_arrival", "lost_or_stolen_card"), per_label=12
    )
    for index, (text, label) in enumerate(zip(texts, labels, strict=True)):
        # The AI (and the ticket) said card_arrival for every ticket; reviewers corrected some.
        ticket = Ticket.objects.create(
            subject=f"Ticket {index}",
            channel="email",
            customer=customer,
            category=arrival,
            source="email",
        )
        Message.objects.create(ticket=ticket, direction="in", body_text=text)
        if label != "card_arrival":
            ReviewOutcome.objects.create(
                ticket=ticket,
                reviewer=reviewer,
                verdict="overridden",
                ai_category_slug="card_arrival",
                final_category_slug=label,
            )
        else:
            ReviewOutcome.objects.create(ticket=ticket, reviewer=reviewer, verdict="approved")

    call_command(
        "train_classifier",
        "--from-reviews",
        "--name",
        "reviews",
        "--target-error",
        "0.1",
        "--cv-folds",
        "2",
    )

    model = classifier.active_classifier()
    assert model is not None and model.model_name == "reviews"
    assert model.labels == ["card_arrival", "lost_or_stolen_card"]
    assert model.metadata["rows"] == 24 and model.metadata["source"] == "reviews"


def test_the_fast_path_gives_scikit_learns_probabilities(
    trained_classifier: Any, tmp_path: Path, settings: Any
) -> None:
    texts = ["my card has not arrived", "change my pin please", "refund?", "", "zzz qqq"]
    assert trained_classifier._fast is not None
    fast = trained_classifier._fast.predict_proba(texts)
    slow = trained_classifier.pipeline.predict_proba(texts)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    # Two classes take scikit-learn's binary branch.
    settings.CLASSIFIER_DIR = tmp_path / "models"
    two, labels = small_training_rows(labels=("card_arrival", "change_pin"), per_label=20)
    classifier.classifier_train(texts=two, labels=labels, name="two", target_error=0.1, cv_folds=2,
                                embeddings=False)
    binary = classifier.active_classifier()
    assert binary is not None and binary._fast is not None
    np.testing.assert_allclose(
        binary.predict_proba(texts), binary.pipeline.predict_proba(texts), rtol=1e-9, atol=1e-12
    )


def test_the_sentence_encoder_puts_paraphrases_close_and_other_topics_far() -> None:
    from triage.embeddings import get_encoder

    pin, forgot, rate = get_encoder().encode(
        ["How do I reset my PIN?", "I forgot my card PIN", "What is the exchange rate for euros?"]
    )
    assert float(pin @ forgot) > 0.6 > 0.3 > float(pin @ rate)
    assert abs(float(np.linalg.norm(pin)) - 1.0) < 1e-5


def test_by_default_the_model_averages_the_tfidf_and_embedding_halves(tmp_path: Path, settings: Any) -> None:
    from triage.embeddings import get_encoder

    # Given a model trained where the encoder is installed, without asking for anything special
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(labels=("card_arrival", "lost_or_stolen_card", "change_pin"), per_label=20)
    report = classifier.classifier_train(texts=texts, labels=labels, name="both", target_error=0.1, cv_folds=2)
    model = classifier.active_classifier()
    # Then it carries both halves, says so, and predicts their average
    assert model is not None and model.embedding_head is not None
    assert "MiniLM" in report.metadata["recipe"] and report.metadata["embeddings"]
    queries = ["my card has not arrived yet", "I think someone stole my card"]
    tfidf = model.pipeline.predict_proba(queries)
    head = model.embedding_head.predict_proba(get_encoder().encode(queries))
    np.testing.assert_allclose(model.predict_proba(queries), 0.5 * (tfidf + head), atol=1e-9)
    assert [p.label for p in model.predict_many(queries)] == ["card_arrival", "lost_or_stolen_card"]


@pytest.mark.django_db  # train_classifier asks whether a configuration is in production
def test_no_embeddings_trains_the_tfidf_model_alone(tmp_path: Path, settings: Any) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(labels=("card_arrival", "change_pin", "atm_support"), per_label=20)
    path = _write_csv(tmp_path / "rows.csv", texts, labels)
    call_command("train_classifier", "--csv", str(path), "--name", "plain", "--no-embeddings",
                 "--target-error", "0.1", "--cv-folds", "2")
    model = classifier.active_classifier()
    assert model is not None and model.embedding_head is None
    assert model.metadata["embeddings"] is None
    version = classifier.active_version(name="plain")
    assert version is not None
    assert not (Path(settings.CLASSIFIER_DIR) / "plain" / version / classifier.EMBEDDING_HEAD_FILE).exists()


def test_a_model_that_needs_the_encoder_is_not_used_where_the_encoder_is_missing(
    tmp_path: Path, settings: Any
) -> None:
    settings.CLASSIFIER_DIR = tmp_path / "models"
    texts, labels = small_training_rows(labels=("card_arrival", "change_pin"), per_label=15)
    classifier.classifier_train(texts=texts, labels=labels, name="needs", target_error=0.1, cv_folds=2,
                                embeddings=True)
    # Given the encoder's files cannot be found in this process (though it was loaded before)
    settings.ENCODER_DIR = tmp_path / "no-encoder"
    classifier.classifier_clear_cache()
    # Then the model is refused at load time (triage goes on without it, to a human) ...
    with pytest.raises(classifier.ClassifierError, match="needs the sentence encoder"):
        classifier.load_classifier(name="needs")
    assert classifier.active_classifier() is None
    # ... and training refuses to promise embeddings it cannot compute
    with pytest.raises(classifier.ClassifierError, match="sentence encoder is not available"):
        classifier.classifier_train(texts=["a"] * 10, labels=["x"] * 5 + ["y"] * 5, name="n", embeddings=True)
    classifier.classifier_clear_cache()


def test_a_repeated_single_text_is_embedded_once_and_matches_the_batch_result() -> None:
    from triage.embeddings import get_encoder

    encoder = get_encoder()
    text = "My top-up was reverted and I do not know why"
    first = encoder.encode([text])
    # The classifier and each knowledge-base search of one triage run embed the same text.
    again = encoder.encode([f"  {text}  "])
    assert np.shares_memory(first, again)
    np.testing.assert_allclose(first[0], encoder.encode([text, "something else"])[0], atol=1e-6)
