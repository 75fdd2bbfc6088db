"""Heading-aware chunking of markdown articles, with overlap.

A chunk is what a draft cites, so it should be one self-contained answer: we cut at headings
first, then split long sections at paragraph boundaries into windows of about ``max_chars``,
carrying the last paragraph (or the tail of a long one) into the next window so that a sentence
that depends on its predecessor is still retrievable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE_RE = re.compile(r"^(```|~~~)")
MAX_CHARS = 900
OVERLAP_CHARS = 200


@dataclass(frozen=True)
class ChunkDraft:
    heading: str
    text: str


def split_front_matter(source: str) -> tuple[dict[str, object], str]:
    """Split a ``---``-delimited YAML front matter block from the markdown body."""
    import yaml

    text = source.lstrip("\ufeff")
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return {}, text
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("".join(lines[1:index])) or {}
            except yaml.YAMLError as exc:
                raise ValueError(f"invalid YAML front matter: {exc}") from exc
            if not isinstance(meta, dict):
                raise ValueError("front matter must be a mapping")
            return meta, "".join(lines[index + 1 :])
    raise ValueError("front matter is not closed with ---")


def _sections(markdown: str) -> list[tuple[str, list[str]]]:
    """[(heading path, lines)] in document order; text before the first heading has heading ''."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    path: list[tuple[int, str]] = []
    in_fence = False
    for line in markdown.splitlines():
        if FENCE_RE.match(line.strip()):
            in_fence = not in_fence
        match = None if in_fence else HEADING_RE.match(line)
        if match:
            level = len(match.group(1))
            title = match.group(2).strip()
            path = [(lvl, name) for lvl, name in path if lvl < level] + [(level, title)]
            # The top-level heading usually repeats the article title; keep sub-headings readable.
            sections.append((" > ".join(name for lvl, name in path if lvl > 1) or title, []))
        else:
            sections[-1][1].append(line)
    return sections


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def _hard_split(paragraph: str, max_chars: int) -> list[str]:
    """A paragraph longer than a window is split at sentence ends, else at spaces."""
    sentences = re.split(r"(?<=[.!?])\s+", paragraph)
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def _tail(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text.find(" ", len(text) - chars)
    return text[cut + 1 :] if cut != -1 else text[-chars:]


def chunk_markdown(
    markdown: str, *, max_chars: int = MAX_CHARS, overlap_chars: int = OVERLAP_CHARS
) -> list[ChunkDraft]:
    chunks: list[ChunkDraft] = []
    for heading, lines in _sections(markdown):
        paragraphs: list[str] = []
        for paragraph in _paragraphs(lines):
            paragraphs.extend(
                _hard_split(paragraph, max_chars) if len(paragraph) > max_chars else [paragraph]
            )
        if not paragraphs:
            continue
        window: list[str] = []
        size = 0
        for paragraph in paragraphs:
            if window and size + len(paragraph) + 2 > max_chars:
                chunks.append(ChunkDraft(heading=heading, text="\n\n".join(window)))
                overlap = _tail(window[-1], overlap_chars)
                window = (
                    [overlap] if overlap and len(overlap) + len(paragraph) + 2 <= max_chars else []
                )
                size = sum(len(p) + 2 for p in window)
            window.append(paragraph)
            size += len(paragraph) + 2
        if window:
            chunks.append(ChunkDraft(heading=heading, text="\n\n".join(window)))
    return chunks
