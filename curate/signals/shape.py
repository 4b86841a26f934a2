"""Document shape: sizes and character-class ratios (no thresholds: descriptive signals)."""
from __future__ import annotations

import polars as pl

from curate.signals.batch import Batch, ratio
from curate.signals.registry import Signal

_SRC = "descriptive; word segmentation in curate/signals/text.py"


def _s(name: str, dtype: str, meaning: str, lo: float | None, hi: float | None) -> Signal:
    return Signal(name, "shape", "v1", dtype, meaning, lo, hi, _SRC, None, None)


SIGNALS = (
    _s("char_count", "BIGINT", "characters (Unicode code points) in the document", 0, None),
    _s("word_count", "BIGINT", "words; one per CJK character, else letter/digit runs", 0, None),
    _s("line_count", "BIGINT", "non-blank lines", 0, None),
    _s("mean_word_len", "DOUBLE", "mean word length in characters (0 when no words)", 0, None),
    _s("alpha_frac", "DOUBLE", "fraction of characters that are letters (any script)", 0, 1),
    _s("digit_frac", "DOUBLE", "fraction of characters that are decimal digits", 0, 1),
    _s("upper_frac", "DOUBLE", "fraction of letters that are uppercase", 0, 1),
    _s("whitespace_frac", "DOUBLE", "fraction of characters that are whitespace", 0, 1),
    _s("punct_frac", "DOUBLE", "fraction of characters that are punctuation", 0, 1),
    _s("non_ascii_frac", "DOUBLE", "fraction of characters outside ASCII", 0, 1),
)


def score(b: Batch) -> pl.DataFrame:
    t = pl.col("t")
    counts = pl.DataFrame({"t": b.text}).select(
        chars=t.str.len_chars().cast(pl.Int64),
        letters=t.str.count_matches(r"\p{L}").cast(pl.Int64),
        digits=t.str.count_matches(r"\p{Nd}").cast(pl.Int64),
        upper=t.str.count_matches(r"\p{Lu}").cast(pl.Int64),
        space=t.str.count_matches(r"\s").cast(pl.Int64),
        punct=t.str.count_matches(r"\p{P}").cast(pl.Int64),
        non_ascii=t.str.count_matches(r"[^\x00-\x7F]").cast(pl.Int64),
    )
    w = b.per_doc(b.words, pl.len().alias("words"), pl.col("tok_len").sum().alias("word_chars"))
    lines = b.per_doc(b.lines, pl.len().alias("lines"))
    df = pl.concat([counts, w, lines], how="horizontal")
    c = pl.col
    return df.select(
        char_count=c("chars"),
        word_count=c("words").cast(pl.Int64),
        line_count=c("lines").cast(pl.Int64),
        mean_word_len=ratio(c("word_chars"), c("words")),
        alpha_frac=ratio(c("letters"), c("chars")),
        digit_frac=ratio(c("digits"), c("chars")),
        upper_frac=ratio(c("upper"), c("letters")),
        whitespace_frac=ratio(c("space"), c("chars")),
        punct_frac=ratio(c("punct"), c("chars")),
        non_ascii_frac=ratio(c("non_ascii"), c("chars")),
    )
