"""Prompt-injection defences: a rules-plus-score detector for incoming tickets and a scanner for
what a model sends back.

Neither decides anything on its own: a hit becomes a risk flag with evidence (the suspicious text)
in ``TriageDecision.flag_details``, and ``triage.policy`` forces a human review for it.
"""

# The rule table is long regular expressions; splitting them would hide what they match.
# ruff: noqa: E501

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

INJECTION_THRESHOLD = 0.5

# (rule name, weight, pattern). Patterns run on normalised text (see _normalise).
_RULES: list[tuple[str, float, re.Pattern[str]]] = [
    (
        "override_instructions",
        0.8,
        re.compile(
            r"\b(ignore|disregard|forget|override|bypass|skip)\b.{0,40}\b(previous|prior|above|earlier|all|any|your|the|system)\b"
            r".{0,30}\b(instruction|instructions|rules|prompt|prompts|guidelines|directions|policy|policies|context)\b"
        ),
    ),
    (
        "new_instructions",
        0.6,
        re.compile(
            r"\b(new|updated|real|actual|secret|hidden)\s+(instructions|system prompt|rules|task)\b\s*[:\-]"
        ),
    ),
    (
        "reveal_prompt",
        0.7,
        re.compile(
            r"\b(reveal|print|show|repeat|output|display|tell me|give me|what (is|are))\b.{0,40}"
            r"\b(system prompt|your (instructions|prompt|rules)|initial prompt|hidden prompt|internal marker|confidential)"
        ),
    ),
    (
        "role_play",
        0.6,
        re.compile(
            r"\b(you are now|from now on,? you|act as|pretend (to be|you are)|roleplay|role-play|role play|"
            r"developer mode|dan mode|jailbreak|do anything now|simulate (a|an))\b"
        ),
    ),
    (
        "role_marker",
        0.5,
        re.compile(
            r"(^|\n)\s*(system|assistant|developer)\s*:|<\|?(im_start|system|endoftext)\|?>|\[/?inst\]|###\s*(system|instruction)"
        ),
    ),
    (
        "delimiter_break",
        0.6,
        re.compile(r"</?\s*untrusted_ticket\s*>|end of (ticket|user input|untrusted)"),
    ),
    (
        "exfiltrate_copy",
        0.7,
        re.compile(
            r"\b(cc|bcc|forward|send|copy|email|e-mail|mail)\b.{0,40}\b(this|the|a copy|all|conversation|thread|"
            r"ticket|reply|answer|details|data|history|everything)\b.{0,40}\bto\b.{0,10}[\w.+-]+@[\w-]+\.[\w.]+"
        ),
    ),
    ("cc_address", 0.5, re.compile(r"\b(cc|bcc)\s*[:\-]?\s*[\w.+-]+@[\w-]+\.[\w.]+")),
    (
        "markdown_exfiltration",
        0.7,
        re.compile(
            r"!?\[[^\]]{0,200}\]\(\s*https?://[^)\s]*(\?|&)[^)\s]*=|!\[[^\]]{0,200}\]\(\s*https?://"
        ),
    ),
    (
        "include_link",
        0.4,
        re.compile(r"\b(include|add|append|insert|put)\b.{0,30}\b(link|url|image|markdown)\b"),
    ),
    (
        "model_directed",
        0.4,
        re.compile(
            r"\b(ai|assistant|chatbot|language model|llm|gpt|bot)\b.{0,30}\b(must|should|will|shall|need to)\b"
        ),
    ),
    # Customers say "refund me immediately" all the time; only "without review" is a real tell.
    (
        "tool_authority",
        0.5,
        re.compile(
            r"\b(approve|issue|grant|refund|transfer|close|delete|remove)\b.{0,40}\bwithout (review|checking|approval|verification)\b"
        ),
    ),
    (
        "steer_classification",
        0.3,
        re.compile(
            r"\b(classify|categori[sz]e|label|tag)\b.{0,20}\b(this|it|the ticket|my ticket|me)\b.{0,10}\bas\b"
        ),
    ),
    # Other languages: the same override in the languages our customers write in.
    (
        "override_fr",
        0.8,
        re.compile(r"\b(ignore[rz]?|oublie[rz]?)\b.{0,30}\b(instructions|consignes|regles)\b"),
    ),
    (
        "override_de",
        0.8,
        re.compile(
            r"\b(ignoriere|ignorieren|vergiss|vergessen)\b.{0,40}\b(anweisungen|instruktionen|regeln|vorgaben)\b"
        ),
    ),
    (
        "override_es_pt_it",
        0.8,
        re.compile(
            r"\b(ignora|ignore|ignorar|olvida|esquece|esqueca|dimentica)\b.{0,40}\b(instrucciones|instrucoes|istruzioni|reglas|regole|regras)\b"
        ),
    ),
    ("override_nl", 0.8, re.compile(r"\b(negeer|vergeet)\b.{0,40}\b(instructies|regels)\b")),
    # Written as they read after normalisation (accents stripped, lower case): "игнорируй" → "игнорируи".
    ("override_ru", 0.8, re.compile(r"(игнорир|забуд|не обращаи).{0,40}(инструкц|правил|указан)")),
    ("override_pl", 0.8, re.compile(r"\b(z?ignoruj|zapomnij)\b.{0,40}\b(instrukcje|instrukcji|polecenia|zasady)\b")),
    ("override_tr", 0.8, re.compile(r"\b(talimatlar[iı]?|kurallar[iı])\b.{0,40}\b(yok say|unut|gormezden gel)")),
    ("override_zh_ja", 0.8, re.compile(r"(忽略|无视|無視|忘记).{0,12}(指令|指示|说明|規則|规则)|(指示|命令|指令).{0,12}(無視|忽略)")),
    (
        "reveal_other_lang",
        0.6,
        re.compile(
            r"\b(prompt systeme|systemprompt|prompt del sistema|prompt de sistema|prompt do sistema|systeemprompt)\b"
        ),
    ),
]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "|": "i"}
)
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*]){3,}[a-z]\b")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")


@dataclass(frozen=True)
class InjectionResult:
    score: float
    suspected: bool
    rules: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def _strip_accents(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )


def _normalise_variants(text: str) -> list[str]:
    """The text as written, plus de-obfuscated readings: homoglyphs/full-width folded (NFKC),
    zero-width characters removed, accents stripped, spaced-out letters joined, leetspeak undone,
    base64 blobs decoded."""
    base = _strip_accents(unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)).lower()
    variants = [base]
    joined = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), base)
    if joined != base:
        variants.append(joined)
    leet = re.sub(
        r"(?<=[a-z])[013457@$|]|[013457@$|](?=[a-z])", lambda m: m.group(0).translate(_LEET), joined
    )
    if leet != joined:
        variants.append(leet)
    for blob in _BASE64.findall(text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded.isprintable() or "\n" in decoded:
            variants.append(_strip_accents(decoded).lower())
    return variants


def injection_scan(text: str) -> InjectionResult:
    """Score a ticket for injection attempts. Weights add up (capped at 1); a single strong rule
    (an instruction override) is enough to flag, weaker hints need company."""
    hits: dict[str, str] = {}
    weights: dict[str, float] = {}
    for variant in _normalise_variants(text):
        for name, weight, pattern in _RULES:
            if name in hits:
                continue
            match = pattern.search(variant)
            if match:
                hits[name] = match.group(0).strip()[:200]
                weights[name] = weight
    score = min(1.0, sum(weights.values()))
    return InjectionResult(
        score=round(score, 3),
        suspected=score >= INJECTION_THRESHOLD,
        rules=sorted(hits),
        evidence=[hits[name] for name in sorted(hits)],
    )


# --- Output scanning ----------------------------------------------------------------------------

URL_RE = re.compile(r"\bhttps?://[^\s<>()\"'\]\[]+|\bwww\.[^\s<>()\"'\]\[]+", re.IGNORECASE)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SECRET_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("api_key", re.compile(r"\b(sk|rk|pk)-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}")),
    ("aws_key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("webhook_secret", re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}")),
    ("private_key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    (
        "password_assignment",
        re.compile(r"\b(password|passwd|secret|api[_ -]?key|token)\s*[:=]\s*\S{6,}", re.IGNORECASE),
    ),
]


@dataclass(frozen=True)
class OutputFinding:
    flag: str  # the risk flag it raises
    kind: str  # what was found
    evidence: str


def _host_allowed(host: str, allow_list: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(
        host == allowed or host.endswith("." + allowed)
        for allowed in (a.lower() for a in allow_list)
    )


def output_scan(
    *,
    text: str,
    canary: str,
    customer_email: str,
    own_addresses: list[str],
    other_customer_emails: set[str] | None = None,
    allow_list: list[str] | None = None,
) -> list[OutputFinding]:
    """Check what a model wrote before anyone sees it as ours.

    - the system prompt's canary token (the prompt leaked: the model followed the ticket, not us);
    - URLs whose host is not on ``URL_ALLOW_LIST``;
    - e-mail addresses other than the customer's own and ours (another customer's address, or
      the "cc this to ..." kind of exfiltration);
    - strings that look like credentials.
    """
    allow_list = settings.URL_ALLOW_LIST if allow_list is None else allow_list
    findings: list[OutputFinding] = []
    folded = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    if canary and canary.lower() in folded.lower():
        findings.append(OutputFinding("canary_leak", "canary", canary))
    for url in URL_RE.findall(folded):
        target = url if "://" in url else f"http://{url}"
        host = urlsplit(target.rstrip(".,;:!?")).hostname or ""
        if not _host_allowed(host, allow_list):
            findings.append(OutputFinding("unsafe_output", "url_not_allowed", url[:300]))
    known = {customer_email.lower(), *(address.lower() for address in own_addresses)}
    for address in {match.lower() for match in EMAIL_RE.findall(folded)}:
        if address in known:
            continue
        kind = (
            "other_customer_address"
            if other_customer_emails and address in other_customer_emails
            else "unknown_address"
        )
        findings.append(OutputFinding("unsafe_output", kind, address))
    for kind, pattern in SECRET_PATTERNS:
        for match in pattern.finditer(folded):
            findings.append(
                OutputFinding("unsafe_output", f"secret_{kind}", match.group(0)[:12] + "…")
            )
    return findings
