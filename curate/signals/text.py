"""Multilingual text units shared by the scorers and by dedup shingling.

Words are segmented by *script*, not by spaces, so that Chinese and Japanese (no spaces)
get word counts that the word-based rules can use (datatrove's Gopher filter is English
by default and drops such text):

- every Han ideograph, hiragana and katakana character is one word (the unit BERT and most
  CJK near-duplicate detectors use; a dictionary segmenter would be a heavy dependency);
- any other run of letters, marks and digits is one word, keeping inner apostrophes,
  hyphens and dots (``don't``, ``e-mail``, ``3.14``);
- a run of other non-space characters (punctuation, symbols) is a *symbol token*: counted
  where a rule counts tokens (FineWeb's list ratio), never a word.

The patterns are Rust-regex syntax and run inside polars, so the batch scorers and the
single-text helpers below share one definition.

Known weak spot: Thai, Lao, Khmer and Burmese also write without spaces; a phrase there
becomes one long word.
"""
from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from curate.textnorm import normalize_for_hash  # one normalizer for exact-dup hashing

__all__ = [
    "CJK_CHAR",
    "LINE_BREAKS",
    "TOKEN_RE",
    "WORD_RE",
    "normalize_for_hash",
    "to_series",
    "words",
    "words_batch",
]

# Katakana-Hiragana prolonged sound mark (U+30FC) and iteration marks are script "Common";
# listed so that they stay inside Japanese words.
CJK_CHAR = r"[\p{Han}\p{Hiragana}\p{Katakana}\x{30FC}\x{3005}\x{309D}\x{309E}\x{30FD}\x{30FE}]"
_WORD_CHAR = r"[[\p{L}\p{M}\p{N}]--" + CJK_CHAR + "]"
_JOINER = r"['’\-.]"
WORD_RE = CJK_CHAR + "|" + _WORD_CHAR + "+(?:" + _JOINER + _WORD_CHAR + "+)*"
# A symbol run stops at a CJK character: circled katakana (U+32D0..) are symbols by category but
# Katakana by script, and must stay the word they are when punctuation stands before them.
TOKEN_RE = WORD_RE + r"|[[^\s\p{L}\p{M}\p{N}]--" + CJK_CHAR + "]+"
# Part of SIGNALS_VERSION: a change to the segmentation above changes every word-based signal.
SEGMENTATION_VERSION = "2"

# Every line separator that str.splitlines() honours, mapped to "\n" before splitting.
LINE_BREAKS = r"\r\n?|[\x0B\x0C\x1C\x1D\x1E\x{85}\x{2028}\x{2029}]"


def to_series(texts: Sequence[str], name: str = "text") -> pl.Series:
    """Texts as a polars string Series; lone surrogates (undecodable input) become U+FFFD."""
    try:
        return pl.Series(name, list(texts), dtype=pl.String)
    except UnicodeEncodeError:
        clean = [t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in texts]
        return pl.Series(name, clean, dtype=pl.String)


def words_batch(texts: Sequence[str], *, keep_symbols: bool = False) -> list[list[str]]:
    """Words of each text, in order (see module docstring for the segmentation)."""
    if not texts:
        return []
    pattern = TOKEN_RE if keep_symbols else WORD_RE
    return to_series(texts).str.extract_all(pattern).to_list()


def words(text: str, lang: str | None = None, *, keep_symbols: bool = False) -> list[str]:
    """Words of one text.

    Segmentation is decided by script, so ``lang`` does not change the result; it is part of
    the signature so callers need not change if a language-specific segmenter is added.
    """
    del lang
    return words_batch([text], keep_symbols=keep_symbols)[0]
