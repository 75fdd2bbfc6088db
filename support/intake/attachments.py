"""Is an attachment what it says it is? The bytes decide, not the sender's Content-Type.

A mail client (or an attacker) declares any type it likes: an HTML page with a script declared
``image/png``, an ELF binary named ``invoice.png.exe``, an SVG with ``onload`` declared PDF. Before
an attachment is stored we sniff its type from the bytes with ``filetype`` (magic numbers, no
system libmagic) and keep it only when

- the declared type is on the allow-list (``EMAIL_ATTACHMENT_TYPES``);
- a type with a magic number (images, PDF, ...) is sniffed as exactly that type;
- a text type (``text/plain``, ``text/csv``: no magic number) has no recognisable binary magic,
  no NUL byte, decodes as UTF-8 or windows-1252, and does not look like markup or script (HTML, SVG,
  XML, ``<script``): a browser that sniffs would render those;
- the file name's extension, when it names a known type, agrees with the kept type (so
  ``invoice.png.exe`` is refused even if the bytes were a real PNG).

Pure functions, no database: ``attachment_refusal`` returns the reason to record, or "".
"""

from __future__ import annotations

import mimetypes
import re

import filetype

# Types that have no magic number: judged by the text rule instead.
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
# Names the same type goes by; the canonical (filetype's) spelling is on the right.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "image/x-png": "image/png",
}
# Markup a browser or viewer would execute or render: checked on the whole text, case-insensitive.
_ACTIVE_CONTENT = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|svg|iframe|object|embed|meta|link|style|img|a\s|"
    rb"form|\?xml)|javascript:|\bon[a-z]+\s*=\s*[\"']",
    re.IGNORECASE,
)
# Only Python's built-in table, not /etc/mime.types: the answer must not depend on the host.
_EXTENSIONS = mimetypes.MimeTypes()


def content_type_canonical(content_type: str) -> str:
    base = content_type.split(";")[0].strip().lower()
    return _ALIASES.get(base, base)


def _text_refusal(payload: bytes) -> str:
    if b"\x00" in payload:
        return "declared as text but contains binary data (NUL bytes)"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = payload.decode("windows-1252")
        except UnicodeDecodeError:
            return "declared as text but does not decode as text"
    # Control characters other than tab/newline/form feed/carriage return mark a binary payload.
    controls = sum(1 for char in text if ord(char) < 32 and char not in "\t\n\r\f")
    if controls > max(4, len(text) // 100):
        return "declared as text but contains binary data (control characters)"
    if _ACTIVE_CONTENT.search(payload):
        return "declared as text but contains HTML, SVG or script markup"
    return ""


def attachment_refusal(*, filename: str, declared_type: str, payload: bytes, allowed_types: set[str]) -> str:
    """The reason this attachment must not be stored, or "" when its bytes match an allowed type."""
    declared = content_type_canonical(declared_type)
    allowed = {content_type_canonical(content_type) for content_type in allowed_types}
    if declared not in allowed:
        return f"content type {declared_type} not allowed"
    sniffed = filetype.guess_mime(payload)
    if declared in TEXT_TYPES:
        if sniffed is not None:
            return f"declared {declared_type} but the content is {sniffed}"
        reason = _text_refusal(payload)
        if reason:
            return reason
    elif sniffed is None:
        return f"declared {declared_type} but the content is not recognisably {declared}"
    elif content_type_canonical(sniffed) != declared:
        return f"declared {declared_type} but the content is {sniffed}"
    by_name, _ = _EXTENSIONS.guess_type(filename.lower(), strict=False)
    if by_name is not None:
        named = content_type_canonical(by_name)
        both_text = named in TEXT_TYPES and declared in TEXT_TYPES
        if named != declared and not both_text:
            return f"file name {filename!r} says {by_name}, the content is {declared}"
    return ""
