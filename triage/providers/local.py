"""The local provider: the trained classifier, knowledge-base retrieval and templated drafts.

No network, no cost, no redaction needed. It answers in the same JSON shape as a model would and
goes through the same validation. Priority, sentiment, language and risk flags come from small,
explainable rules.
"""

from __future__ import annotations

import json
import re
import time

from support.models import Category
from triage.classifier import LocalClassifier, active_classifier
from triage.drafting import local_draft
from triage.kb.retrieval import kb_search
from triage.providers.base import Provider, ProviderAnswer, ProviderError, Repair, TriageRequest

_URGENT = re.compile(
    r"\b(stolen|fraud|hacked|unauthori[sz]ed|compromised|scam|urgent|emergency|immediately|"
    r"asap|right now|locked out|don'?t recognise|don'?t recognize|someone (used|took))\b",
    re.I,
)
_HIGH = re.compile(
    r"\b(blocked|declined|can'?t (access|log ?in|pay|use)|not working|failed|missing|lost|"
    r"charged twice|still waiting|never (arrived|received))\b",
    re.I,
)
_LEGAL = re.compile(
    r"\b(lawyer|solicitor|attorney|legal action|sue|court|ombudsman|regulator|complaint to)\b", re.I
)
_FRAUD = re.compile(
    r"\b(fraud|stolen|hacked|scam|phishing|unauthori[sz]ed|compromised|don'?t recogni[sz]e)\b", re.I
)
_CHURN = re.compile(
    r"\b(close my account|cancel my account|switch(ing)? (bank|to another)|leave your bank|"
    r"take my money elsewhere|closing my account)\b",
    re.I,
)
_ANGRY = re.compile(
    r"\b(ridiculous|unacceptable|disgrace|furious|angry|worst|terrible|awful|useless|scandal)\b|!!",
    re.I,
)
_NEGATIVE = re.compile(
    r"\b(problem|issue|wrong|error|not|never|can'?t|unable|still|again|disappointed)\b", re.I
)
_POSITIVE = re.compile(r"\b(thanks|thank you|great|love|appreciate|excellent)\b", re.I)

# A few function words per language: enough to route a ticket to an agent who reads it.
_STOPWORDS = {
    "en": {"the", "and", "is", "my", "i", "to", "you", "it", "have", "not", "for", "of", "a"},
    "fr": {"le", "la", "les", "et", "est", "je", "mon", "ma", "pas", "vous", "pour", "une", "des"},
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "ich",
        "mein",
        "meine",
        "nicht",
        "sie",
        "für",
        "ein",
        "eine",
    },
    "es": {"el", "la", "los", "las", "y", "es", "mi", "no", "para", "una", "que", "por", "con"},
    "it": {"il", "la", "e", "è", "mio", "mia", "non", "per", "una", "che", "della", "sono", "ho"},
    "pt": {"o", "a", "os", "e", "é", "meu", "minha", "não", "para", "uma", "que", "com", "estou"},
    "nl": {"de", "het", "en", "is", "ik", "mijn", "niet", "voor", "een", "van", "je", "dat", "heb"},
}


def language_detect(text: str) -> str:
    words = re.findall(r"[a-zà-ÿ']+", text.lower())
    if not words:
        return "en"
    scores = {code: sum(word in stop for word in words) for code, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda code: scores[code])
    return best if scores[best] > scores["en"] else "en"


def priority_guess(text: str, *, high_stakes: bool) -> str:
    if _URGENT.search(text):
        return "urgent"
    if high_stakes or _HIGH.search(text):
        return "high"
    return "normal"


def sentiment_guess(text: str) -> str:
    if _ANGRY.search(text):
        return "angry"
    if _POSITIVE.search(text) and not _NEGATIVE.search(text):
        return "positive"
    return "negative" if len(_NEGATIVE.findall(text)) >= 2 else "neutral"


def risk_flags_guess(text: str) -> list[str]:
    flags = []
    if _LEGAL.search(text):
        flags.append("legal_threat")
    if _FRAUD.search(text):
        flags.append("security_fraud")
    if _CHURN.search(text):
        flags.append("churn_risk")
    return flags


class LocalProvider(Provider):
    name = "local"
    external = False
    unavailable_reason = "no trained model"

    def __init__(self, classifier: LocalClassifier | None = None) -> None:
        # A configuration's own model version; None: the active model (settings mode).
        self._classifier = classifier

    def _model(self) -> LocalClassifier | None:
        return self._classifier if self._classifier is not None else active_classifier()

    @property
    def model(self) -> str:
        classifier = self._model()
        return classifier.model_version if classifier else "none"

    def available(self) -> bool:
        return self._model() is not None

    def complete(self, request: TriageRequest, *, repair: Repair | None = None) -> ProviderAnswer:
        started = time.monotonic()
        prediction = request.local_prediction
        classifier = self._model() if prediction is None else None
        if prediction is None:
            if classifier is None:
                raise ProviderError(
                    "no local model is trained (make model)",
                    error_class="NoLocalModel",
                    retryable=False,
                )
            prediction = classifier.predict(request.ticket_text)
        category = (
            Category.objects.select_related("default_team").filter(slug=prediction.label).first()
        )
        if category is None:
            raise ProviderError(
                f"local model predicts unknown category {prediction.label!r}",
                error_class="UnknownCategory",
                retryable=False,
            )
        hits = kb_search(query=request.ticket_text, limit=3, category_slug=prediction.label)
        draft = local_draft(
            category_slug=prediction.label,
            customer_name=request.customer_name,
            ticket_text=request.ticket_text,
            hits=hits,
        )
        output = {
            "category": prediction.label,
            "priority": priority_guess(request.ticket_text, high_stakes=category.high_stakes),
            "sentiment": sentiment_guess(request.ticket_text),
            "language": language_detect(request.ticket_text),
            "team": category.default_team.slug,
            "confidence": round(float(prediction.confidence), 6),
            "reply_draft": draft.text,
            "citations": list(draft.citations),
            "risk_flags": risk_flags_guess(request.ticket_text),
            "rationale": f"local model {prediction.model_name} top label {prediction.label} "
            f"p={prediction.confidence:.3f}; draft from KB chunks {list(draft.citations)}",
        }
        return ProviderAnswer(
            content=json.dumps(output, ensure_ascii=False),
            model=prediction.model_version,  # already "<name>@<time>-<hash>"
            latency_ms=int((time.monotonic() - started) * 1000),
            request_record=json.dumps(
                {"model": prediction.model_name, "input": "ticket text (local, not sent)"}
            ),
        )
