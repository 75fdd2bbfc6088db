"""The local classifier: TF-IDF word and character n-grams with a calibrated linear SVM, averaged
with a logistic regression on MiniLM sentence embeddings (triage.embeddings) when installed.

It is Switchboard's offline provider and the high-stakes guard for every other provider, so it
must be accurate, calibrated (its confidence is compared with an automation threshold), fast
(tens of milliseconds a ticket; the tf-idf half alone does thousands a second) and versioned
(every decision names the model that made it).

Artifacts live under ``settings.CLASSIFIER_DIR`` (never in git)::

    CLASSIFIER_DIR/
        ACTIVE                      name of the active model (e.g. "banking77")
        banking77/
            ACTIVE                  directory name of this model's active version
            20261127T094000Z-1a2b3c4d/
                model.joblib        the fitted scikit-learn pipeline (tf-idf half)
                embedding_head.joblib  the embedding half, when trained with embeddings
                metadata.json       training-set hash, labels, metrics, threshold, created time

Pointers are plain files replaced atomically (``os.replace``), so an activation in one process
(``train_classifier``) is seen by every worker at its next prediction without a restart.
"""

from triage.classifier.data import iter_batches, label_slug, read_csv_rows, ticket_text
from triage.classifier.errors import ClassifierError
from triage.classifier.model import LocalClassifier, Prediction
from triage.classifier.recipe import build_pipeline
from triage.classifier.storage import (
    EMBEDDING_HEAD_FILE,
    MODEL_FILE,
    active_classifier,
    active_model_name,
    active_version,
    classifier_activate,
    classifier_clear_cache,
    classifier_versions,
    load_classifier,
)
from triage.classifier.training import TrainReport, classifier_fit, classifier_train

__all__ = [
    "EMBEDDING_HEAD_FILE",
    "MODEL_FILE",
    "ClassifierError",
    "LocalClassifier",
    "Prediction",
    "TrainReport",
    "active_classifier",
    "active_model_name",
    "active_version",
    "build_pipeline",
    "classifier_activate",
    "classifier_clear_cache",
    "classifier_fit",
    "classifier_train",
    "classifier_versions",
    "iter_batches",
    "label_slug",
    "load_classifier",
    "read_csv_rows",
    "ticket_text",
]
