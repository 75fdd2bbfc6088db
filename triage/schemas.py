"""Pydantic at the edge: the one shape every provider's answer must take.

Providers return raw JSON text; ``triage_output_parse`` is the only door into the pipeline
(``model_validate_json(..., strict=True)``), so nothing unvalidated travels past it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Priority = Literal["low", "normal", "high", "urgent"]
Sentiment = Literal["positive", "neutral", "negative", "angry"]
RiskFlag = Literal[
    "legal_threat",
    "security_fraud",
    "churn_risk",
    "injection_suspected",
    "vulnerable_customer",
    "complaint",
]

RISK_FLAGS: tuple[str, ...] = RiskFlag.__args__  # type: ignore[attr-defined]  # Literal exposes its members here


class TriageOutput(BaseModel):
    """What a provider says about a ticket. It decides nothing: triage.policy does."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(
        min_length=1, max_length=80, description="A category slug from the list given."
    )
    priority: Priority
    sentiment: Sentiment
    language: str = Field(
        pattern=r"^[a-z]{2}$", description="ISO 639-1 code of the customer's language."
    )
    team: str = Field(min_length=1, max_length=80, description="A team slug from the list given.")
    confidence: float = Field(ge=0.0, le=1.0)
    reply_draft: str = Field(max_length=6000)
    citations: list[int] = Field(
        description="Ids of the knowledge-base chunks the draft relies on."
    )
    risk_flags: list[RiskFlag]
    rationale: str = Field(max_length=1000)


class OutputInvalid(Exception):
    """The provider answered, but not with something we can use (malformed, schema, unknown ids)."""


def triage_output_parse(raw: str) -> TriageOutput:
    try:
        return TriageOutput.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise OutputInvalid(_short_errors(exc)) from exc


def _short_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:8]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def triage_output_json_schema() -> dict[str, Any]:
    """The schema in the strict subset OpenAI's ``json_schema`` response format accepts:
    every property required, no additional properties, no numeric/length keywords it rejects."""
    schema = TriageOutput.model_json_schema()
    return _strictify(schema)


_UNSUPPORTED = {"minimum", "maximum", "minLength", "maxLength", "pattern", "title", "default"}


def _strictify(node: Any) -> Any:
    if isinstance(node, dict):
        cleaned = {key: _strictify(value) for key, value in node.items() if key not in _UNSUPPORTED}
        if cleaned.get("type") == "object" and "properties" in cleaned:
            cleaned["additionalProperties"] = False
            cleaned["required"] = list(cleaned["properties"].keys())
        return cleaned
    if isinstance(node, list):
        return [_strictify(item) for item in node]
    return node
