"""The shingles of a text, in plain Python: the definition every backend reproduces.

Shingles: text -> NFKC -> casefold -> split on Unicode whitespace -> word n-grams joined by
one space. Scripts written without spaces between words (Han, Hiragana, Katakana, Thai,
Lao, Khmer, Myanmar) would give a Chinese paragraph one "word"; when such characters are at
least half of a document's non-space characters, its tokens are code points instead (the
whitespace dropped) and shingles are n consecutive code points joined with no separator.
A document with fewer tokens than ``ngram`` has no shingle and gets NO signature
(``has_sig`` False, row left at datasketch's empty value): two short texts must never
land in one cluster just because both are empty sets.

Called by numpy_backend (normalization and mode per document), unicode_tables (which
scripts are unspaced) and similarity (exact Jaccard); the numba kernel has its own
byte-level copy of these rules.
"""
from __future__ import annotations

import re
import unicodedata

# Scripts that separate words without spaces; Hangul is absent because Korean uses spaces.
UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"
)


def normalize(text: str) -> str:
    if text.isascii():  # O(1) in CPython; NFKC leaves ASCII unchanged, casefold == lower
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def is_char_mode(norm: str) -> bool:
    """True when at least half the non-space characters are in a script without word spaces."""
    if norm.isascii() or UNSPACED.search(norm) is None:
        return False
    compact = "".join(norm.split())
    return 2 * (len(compact) - len(UNSPACED.sub("", compact))) >= len(compact)


def shingles(text: str, ngram: int) -> list[str]:
    """The exact shingle strings of ``text`` (in order, repeats kept); [] when too short.

    Plain-Python reference of what :func:`signatures` hashes with numpy byte arithmetic.
    """
    norm = normalize(text)
    if is_char_mode(norm):
        chars = "".join(norm.split())
        return [chars[i : i + ngram] for i in range(len(chars) - ngram + 1)]
    words = norm.split()
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
