"""How much did the reviewer change the AI's draft? A normalised Levenshtein distance, 0..1.

0 means sent exactly as drafted, 1 means nothing of the draft survived. Calibration and drift
analysis read this number, so both texts are normalised first: browsers submit textareas with
CRLF line ends and trailing whitespace that nobody typed.
"""

from __future__ import annotations

import difflib

# Above this many DP cells the pure-Python Levenshtein gets slow (~1 s); fall back to difflib.
_MAX_DP_CELLS = 1_500_000


def text_normalise(text: str) -> str:
    """CRLF/CR to LF, trailing spaces off each line, no leading/trailing blank lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def levenshtein(a: str, b: str) -> int:
    """Insertions, deletions and substitutions to turn ``a`` into ``b`` (two-row DP)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (char_a != char_b),  # substitution
                )
            )
        previous = current
    return previous[-1]


def edit_distance_normalised(draft: str, sent: str) -> float:
    """Levenshtein distance divided by the longer text's length, in [0, 1].

    Two empty texts are identical (0.0). Very long texts use ``1 - difflib ratio``, which tracks
    the same quantity closely and stays fast.
    """
    draft, sent = text_normalise(draft), text_normalise(sent)
    longest = max(len(draft), len(sent))
    if longest == 0:
        return 0.0
    if len(draft) * len(sent) > _MAX_DP_CELLS:
        matcher = difflib.SequenceMatcher(None, draft, sent, autojunk=False)
        return round(1.0 - matcher.ratio(), 4)
    return round(levenshtein(draft, sent) / longest, 4)
