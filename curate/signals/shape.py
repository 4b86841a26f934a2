"""Document shape: sizes and character-class ratios (no thresholds: descriptive signals)."""
from __future__ import annotations

import polars as pl

from curate.signals.batch import Batch, ratio
from curate.signals.registry import Family

FAMILY = Family("shape", source="descriptive; word segmentation in curate/signals/text.py")
SIGNALS = (
    FAMILY.signal(
        name="char_count", dtype="BIGINT", lo=0, version="v1",
        meaning="characters (Unicode code points) in the document",
    ),
    FAMILY.signal(
        name="word_count", dtype="BIGINT", lo=0, version="v1",
        meaning="words; one per CJK character, else letter/digit runs",
    ),
    FAMILY.signal(
        name="line_count", dtype="BIGINT", lo=0, version="v1",
        meaning="non-blank lines",
    ),
    FAMILY.signal(
        name="mean_word_len", dtype="DOUBLE", lo=0, version="v1",
        meaning="mean word length in characters (0 when no words)",
    ),
    FAMILY.signal(
        name="alpha_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are letters (any script)",
    ),
    FAMILY.signal(
        name="digit_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are decimal digits",
    ),
    FAMILY.signal(
        name="upper_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of letters that are uppercase",
    ),
    FAMILY.signal(
        name="whitespace_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are whitespace",
    ),
    FAMILY.signal(
        name="punct_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are punctuation",
    ),
    FAMILY.signal(
        name="non_ascii_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters outside ASCII",
    ),
)


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    counts = b.char_classes.select("chars", "letters", "digits", "upper", "space", "punct", "non_ascii")
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
