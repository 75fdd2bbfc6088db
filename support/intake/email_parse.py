"""One parser for every e-mail route: raw RFC 5322 bytes in, a plain ``ParsedEmail`` out.

Pure functions, no database. Mail in the wild lies about its charset, forgets its MIME
boundaries and hides scripts in HTML; the rules here are:

- charsets: the declared one when the bytes really decode with it; Latin-1/ASCII labels are read
  as UTF-8 when the bytes are valid UTF-8 (the most common mis-declaration), else windows-1252;
  undeclared text is UTF-8 when valid, else whatever charset-normalizer finds most likely;
- bodies: text/plain wins; HTML-only mail is sanitized with nh3 (kept as ``body_html``) and
  converted to text; ``body_for_model`` drops quoted history and signatures, the original stays;
- anything the parser cannot make sense of raises ``EmailParseError`` with a reason a human can
  read in the admin (the caller quarantines the raw bytes).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.errors
import email.header
import email.message
import email.utils
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import charset_normalizer
import nh3
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_MIME_DEPTH = 20

# Labels that are routinely wrong or narrower than what the sender's software really wrote.
_WIDER_CODEC = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin-1": "windows-1252",
    "latin1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
}
_LATIN_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252",
                 "cp1252", "iso-8859-15"}
_FATAL_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
)
# Headers kept on the Message row (decoded); the raw bytes keep everything else.
KEPT_HEADERS = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
    "return-path", "auto-submitted", "precedence", "x-autoreply", "x-autorespond",
    "x-auto-response-suppress", "list-id", "content-type",
)
_ANGLE_ID = re.compile(r"<([^<>\s]{1,900})>")


class EmailParseError(Exception):
    """The message can't be turned into a ticket; ``str(exc)`` is the quarantine reason."""


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes

    @property
    def size(self) -> int:
        return len(self.payload)


@dataclass
class ParsedEmail:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_email: str
    from_name: str
    to: list[str]
    body_text: str
    body_html: str
    body_for_model: str
    headers: dict[str, str]
    attachments: list[ParsedAttachment] = field(default_factory=list)
    automated_reasons: list[str] = field(default_factory=list)
    is_bounce: bool = False
    bounced_message_ids: list[str] = field(default_factory=list)
    # Every Authentication-Results value, topmost (newest hop) first: support/intake/sender_auth.py
    authentication_results: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this message says it answers, nearest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [ref for ref in reversed(self.references) if ref not in ids]
        return ids


# --- text helpers ---------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """Make a string safe to store: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip('"').lower()
    if label in {"unknown-8bit", "x-unknown", "8bit", "default"}:
        return None
    import codecs

    try:
        codecs.lookup(label)
    except LookupError:
        return None
    return label


def text_decode(payload: bytes, declared: str | None) -> str:
    """Decode body or header bytes, trusting the declared charset only when the bytes agree."""
    if not payload:
        return ""
    label = _codec(declared)
    if label is None or label in _LATIN_LABELS or label in {"utf-8", "utf8"}:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if label is not None and label not in {"utf-8", "utf8"}:
        for codec in (label, _WIDER_CODEC.get(label)):
            if codec is None:
                continue
            try:
                return payload.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    # Undeclared, or the label was wrong: let charset-normalizer rank the plausible codecs. On
    # short texts it can't tell the single-byte Western codecs apart, so windows-1252 (by far the
    # most common real one) wins whenever it is about as plausible as the best guess.
    matches = list(charset_normalizer.from_bytes(payload))
    if matches:
        best = matches[0]
        for match in matches:
            if match.encoding == "cp1252" and match.chaos <= best.chaos + 0.1:
                return str(match)
        return str(best)
    try:
        return payload.decode("windows-1252")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def header_decode(value: object) -> str:
    """Decode a raw header value: RFC 2047 words, raw 8-bit bytes, folding."""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= char <= "\udcff" for char in text):
        # compat32 hands raw 8-bit header bytes back as surrogate escapes.
        text = text_decode(text.encode("ascii", "surrogateescape"), None)
    text = re.sub(r"\r?\n[ \t]+", " ", text).replace("\r", " ").replace("\n", " ")
    if "=?" in text:
        try:
            parts = email.header.decode_header(text)
            text = "".join(
                chunk if isinstance(chunk, str) else text_decode(chunk, charset) for chunk, charset in parts
            )
        except Exception:  # a malformed encoded-word: keep the raw text rather than lose the header
            pass
    return clean_text(text.strip())


def message_ids(value: str) -> list[str]:
    return [f"<{token}>" for token in _ANGLE_ID.findall(value or "")]


# --- HTML ------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
             "table", "ul", "ol", "hr"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in self.BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.chunks.append(data)


def html_sanitize(html: str) -> str:
    return nh3.clean(html)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is belt and braces for truly broken input
        return re.sub(r"<[^>]*>", " ", html)
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(parser.chunks).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- quoted history and signatures -------------------------------------------------------------

_ATTRIBUTION = re.compile(
    r"^(On\s.+wrote:|Le\s.+a\s+écrit\s*:|Am\s.+schrieb.*:|El\s.+escribió:|.+\s(wrote|schrieb|écrit):)$", re.I
)
_SEPARATOR = re.compile(r"^(-{2,}\s*(Original Message|Forwarded message|Ursprüngliche Nachricht)\s*-{2,}|_{10,})$",
                        re.I)
_OUTLOOK_FIELDS = re.compile(r"^(Sent|Date|To|Subject|Gesendet|Envoyé)\s*:", re.I)
_MOBILE_SIGNATURE = re.compile(r"^(Sent from my .+|Get Outlook for .+|Envoyé de mon .+)$", re.I)


def strip_quoted(text: str) -> str:
    """What the model should read: the new text only. Returns the full text if nothing is left."""
    lines = text.splitlines()
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if line in {"-- ", "--"}:
            break  # RFC 3676 signature delimiter
        if _SEPARATOR.match(stripped) or _ATTRIBUTION.match(stripped):
            break
        if stripped.lower().startswith("on ") and index + 1 < len(lines) and _ATTRIBUTION.match(
            f"{stripped} {lines[index + 1].strip()}"
        ):
            break  # Gmail wraps a long "On <date>, <name> <addr> wrote:" over two lines
        if stripped.lower().startswith("from:") and any(
            _OUTLOOK_FIELDS.match(following.strip()) for following in lines[index + 1 : index + 5]
        ):
            break  # Outlook's quoted header block
        if stripped.startswith(">"):
            continue
        kept.append(line)
    while kept and (not kept[-1].strip() or _MOBILE_SIGNATURE.match(kept[-1].strip())):
        kept.pop()
    result = "\n".join(kept).strip()
    return result or text.strip()


# --- the walk -----------------------------------------------------------------------------------


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    embedded_ids: list[str] = field(default_factory=list)
    fatal_defects: list[str] = field(default_factory=list)


def _part_filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        name = None
    if not name:
        return ""
    name = header_decode(name)
    return re.split(r"[\\/]", name)[-1][:200]


def _collect(part: email.message.Message, walk: _Walk, depth: int) -> None:
    if depth > MAX_MIME_DEPTH:
        raise EmailParseError(f"malformed MIME: nested deeper than {MAX_MIME_DEPTH} levels")
    walk.fatal_defects += [type(defect).__name__ for defect in part.defects if isinstance(defect, _FATAL_DEFECTS)]
    content_type = part.get_content_type()
    if content_type == "message/rfc822" or (content_type == "message/delivery-status"):
        # A forwarded or bounced message: remember its id, never read it as our body.
        for inner in part.get_payload() if isinstance(part.get_payload(), list) else []:
            if isinstance(inner, email.message.Message):
                walk.embedded_ids += message_ids(header_decode(inner.get("Message-ID")))
        return
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, email.message.Message):
                _collect(sub, walk, depth + 1)
        return
    payload = _payload_decode(part)
    if content_type == "text/rfc822-headers":
        headers = email.message_from_bytes(payload)
        walk.embedded_ids += message_ids(header_decode(headers.get("Message-ID")))
        return
    disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    filename = _part_filename(part)
    is_body = content_type in {"text/plain", "text/html"} and disposition != "attachment" and not filename
    if is_body:
        text = text_decode(payload, part.get_content_charset())
        (walk.plain if content_type == "text/plain" else walk.html).append(text)
        return
    extension = content_type.split("/")[-1][:10]
    walk.attachments.append(
        ParsedAttachment(
            filename=filename or f"part-{len(walk.attachments) + 1}.{extension}",
            content_type=content_type[:120],
            payload=payload,
        )
    )


def _payload_decode(part: email.message.Message) -> bytes:
    """The part's decoded bytes; ``EmailParseError`` when its base64 does not decode.

    The email package decodes invalid base64 leniently (it drops what isn't in the alphabet and
    records a defect), which turns an undecodable part into a garbage body or attachment. Such a
    message is quarantined instead (issue 13, point 8). Whitespace inside the base64 (folded or
    space-padded lines) and missing padding are harmless and accepted.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return b""
    bad = (email.errors.InvalidBase64CharactersDefect, email.errors.InvalidBase64LengthDefect)
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64" and any(
        isinstance(defect, bad) for defect in part.defects
    ):
        raw = part.get_payload(decode=False)
        text = re.sub(r"\s+", "", raw if isinstance(raw, str) else "")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise EmailParseError(
                f"undecodable part: invalid base64 in a {part.get_content_type()} part"
            ) from None
    return payload


def _automated_reasons(headers: dict[str, str], content_type: str, report_type: str,
                       from_email: str, own_addresses: set[str]) -> tuple[list[str], bool]:
    reasons: list[str] = []
    auto_submitted = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        reasons.append(f"auto-submitted: {auto_submitted}")
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in {"bulk", "junk", "list"}:
        reasons.append(f"precedence: {precedence}")
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress"):
        if name in headers:
            reasons.append(f"{name} header")
    return_path = headers.get("return-path", "").strip()
    is_bounce = False
    if content_type == "multipart/report" and report_type == "delivery-status":
        reasons.append("delivery status notification (bounce)")
        is_bounce = True
    elif return_path in {"<>", ""} and "return-path" in headers:
        reasons.append("null sender")
        is_bounce = True
    local_part = from_email.split("@")[0].lower()
    if local_part in {"mailer-daemon", "postmaster"} and not is_bounce:
        reasons.append(f"sender is {local_part}")
        is_bounce = True
    if from_email.lower() in own_addresses:
        reasons.append("sent from our own address")
    return reasons, is_bounce


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def email_parse(raw: bytes, *, own_addresses: set[str] | None = None) -> ParsedEmail:
    """Parse raw message bytes. Raises ``EmailParseError`` when the message can't become a ticket."""
    if not raw or not raw.strip():
        raise EmailParseError("empty message")
    message = email.message_from_bytes(raw)
    if not message.keys():
        raise EmailParseError("no headers: not an e-mail message")
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key in KEPT_HEADERS and key not in headers:
            headers[key] = header_decode(value)[:2000]

    from_name, from_email = email.utils.parseaddr(headers.get("from", ""))
    from_email = from_email.strip().lower()
    try:
        validate_email(from_email)
    except ValidationError:
        raise EmailParseError(f"no valid sender address in From: {headers.get('from', '')[:200]!r}") from None
    if len(from_email) > 254:
        raise EmailParseError("sender address longer than 254 characters")

    walk = _Walk()
    _collect(message, walk, depth=0)
    if walk.fatal_defects:
        raise EmailParseError("malformed MIME: " + ", ".join(sorted(set(walk.fatal_defects))))

    body_html = html_sanitize("\n".join(walk.html)) if walk.html else ""
    if walk.plain:
        body_text = "\n\n".join(_newlines(text).strip("\n") for text in walk.plain)
    else:
        body_text = html_to_text(body_html)
    body_text = clean_text(_newlines(body_text).rstrip())

    own = {address.lower() for address in (own_addresses or set())}
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type") or "").lower()
    reasons, is_bounce = _automated_reasons(headers, content_type, report_type, from_email, own)

    message_id_list = message_ids(headers.get("message-id", ""))
    in_reply_to_list = message_ids(headers.get("in-reply-to", ""))
    to = [address.lower() for _, address in email.utils.getaddresses([headers.get("to", ""), headers.get("cc", "")])
          if address]
    return ParsedEmail(
        message_id=message_id_list[0] if message_id_list else "",
        in_reply_to=in_reply_to_list[0] if in_reply_to_list else "",
        references=message_ids(headers.get("references", ""))[:100],
        subject=headers.get("subject", "")[:500],
        from_email=from_email,
        from_name=clean_text(from_name)[:200],
        to=to,
        body_text=body_text,
        body_html=clean_text(body_html),
        body_for_model=clean_text(strip_quoted(body_text)),
        headers=headers,
        attachments=walk.attachments,
        automated_reasons=reasons,
        is_bounce=is_bounce,
        bounced_message_ids=walk.embedded_ids if is_bounce else [],
        authentication_results=[header_decode(value)[:2000]
                                for value in message.get_all("Authentication-Results") or []],
    )
