"""Presentation helpers for the review pages. Everything returned as safe is built from escaped
pieces or re-sanitised here, so hostile text in a ticket can never become markup."""

from __future__ import annotations

import difflib
import re
from datetime import datetime

import markdown as markdown_lib
import nh3
from django import template
from django.utils import timezone
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from support.reasons import reason_label

register = template.Library()


@register.filter
def highlight(text: str, terms: list[str] | None) -> SafeString:
    """Escape ``text`` and wrap each occurrence of any of ``terms`` (case-insensitive) in <mark>.

    Used to show an injection attempt's suspicious text where it sits in the customer's message.
    """
    text = text or ""
    needles = sorted(
        {term for term in (terms or []) if term and term.strip()}, key=len, reverse=True
    )
    if not needles:
        return mark_safe(linebreaks(text, autoescape=True))  # noqa: S308 - linebreaks escaped it
    pattern = re.compile("|".join(re.escape(term) for term in needles), re.IGNORECASE)
    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[position : match.start()]))
        pieces.append(
            f'<mark class="evidence" title="Suspicious text">{escape(match.group(0))}</mark>'
        )
        position = match.end()
    pieces.append(escape(text[position:]))
    paragraphs = "".join(pieces).replace("\r\n", "\n").split("\n\n")
    return mark_safe("".join(f"<p>{para.replace(chr(10), '<br>')}</p>" for para in paragraphs))  # noqa: S308 - pieces escaped above


@register.filter
def sanitized_html(html: str) -> SafeString:
    """Intake already stored nh3-cleaned HTML; clean again at render time (defence in depth:
    a row written by an older intake or by hand is not trusted either)."""
    cleaned = nh3.clean(
        html or "",
        tags={
            "p",
            "br",
            "b",
            "strong",
            "i",
            "em",
            "ul",
            "ol",
            "li",
            "blockquote",
            "pre",
            "code",
            "a",
            "span",
            "div",
            "table",
            "tr",
            "td",
            "th",
            "thead",
            "tbody",
        },
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 output


@register.filter
def due_in(due: datetime | None) -> str:
    """'in 2 h 5 min' / '35 min overdue' / '—'."""
    if due is None:
        return "—"
    seconds = int((due - timezone.now()).total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"{text} overdue" if overdue else f"in {text}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


@register.filter
def get(mapping: dict[str, int], key: str) -> int:
    return mapping.get(key, 0) if mapping else 0


MARKDOWN_TAGS = {
    "p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote", "pre", "code",
    "h3", "h4", "h5", "h6", "a", "hr", "table", "thead", "tbody", "tr", "th", "td",
}


@register.filter
def markdown_sanitized(text: str) -> SafeString:
    """Knowledge-base Markdown rendered to HTML (``markdown``), then cleaned by nh3 to a small
    allow-list: raw HTML in an article (a script, an event handler) never reaches the page."""
    rendered = markdown_lib.markdown(text or "", extensions=["sane_lists"], output_format="html")
    cleaned = nh3.clean(
        rendered,
        tags=MARKDOWN_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 output


@register.filter
def reason_name(code: str) -> str:
    """A risk flag or reason code as the reviewer reads it (support.reasons)."""
    return reason_label(code)


@register.filter
def draft_diff(draft: str, sent: str) -> SafeString:
    """Word-level diff of the AI draft against the reply sent: removed words in <del>, added in
    <ins>. Every piece is escaped before it is wrapped."""
    before, after = (draft or "").split(), (sent or "").split()
    pieces: list[str] = []
    for operation, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if operation == "equal":
            pieces.append(escape(" ".join(before[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(f"<del>{escape(' '.join(before[i1:i2]))}</del>")
        if j2 > j1:
            pieces.append(f"<ins>{escape(' '.join(after[j1:j2]))}</ins>")
    return mark_safe(f'<p class="diff">{" ".join(pieces)}</p>')  # noqa: S308 - pieces escaped above


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, in one short unit for a narrow column: '4 min', '3 h', '2 d'."""
    if moment is None:
        return "—"
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
