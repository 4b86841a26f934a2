"""FineWeb's line rules (Penedo et al. 2024, "The FineWeb Datasets", Sec. 3.5).

FineWeb drops a document when <= 12 % of its lines end in punctuation, when > 67 % of its
lines are short (<= 30 characters), or when > 10 % of its characters sit in duplicated
lines (the paper's figure; datatrove's FineWebQualityFilter ships 0.01). FineWeb's pipeline
also drops list-like documents with more than 0.3 newlines per word (datatrove's
`new_line_ratio` default, used to build FineWeb).

Bounds: FineWeb's rules are strict where the registry's are inclusive (a recipe keeps
min <= value <= max). "Drop at <= 0.12" is therefore published as min = the next double
above 0.12 (0.12000000000000001): a document at exactly 12 % is dropped, as datatrove's
`ratio <= line_punct_thr` drops it, and every fraction above 12 % is kept (k/n is correctly
rounded, so no fraction over 0.12 with n < 10**15 lines rounds down to 0.12). A recipe's
own `{min: 0.12}` keeps 12 %. The "> 67 %" and "> 10 %" rules already match `max`.

Multilingual: "short" is 12 characters for zh/ja (a CJK character carries what 2-3 Latin
letters do); punctuation is any Unicode Sentence_Terminal character.
"""
from __future__ import annotations

import math

import polars as pl

from curate.signals.batch import Batch, ratio
from curate.signals.languages import params_for
from curate.signals.registry import Family

# FineWeb drops a document when <= 12 % of its lines end in punctuation (see Bounds above).
PUNCT_LINE_MIN = math.nextafter(0.12, 1.0)

FAMILY = Family("fineweb", source="Penedo et al. 2024 (FineWeb), Sec. 3.5; datatrove FineWebQualityFilter")
SIGNALS = (
    FAMILY.signal(
        name="fineweb_punct_line_frac", dtype="DOUBLE", lo=0, hi=1, default_min=PUNCT_LINE_MIN, version="v1",
        meaning="fraction of lines ending in sentence-final punctuation",
    ),
    FAMILY.signal(
        name="fineweb_short_line_frac", dtype="DOUBLE", lo=0, hi=1, default_max=0.67, per_language=True,
        version="v1",
        meaning="fraction of lines of <= 30 characters (<= 12 for zh/ja)",
    ),
    FAMILY.signal(
        name="fineweb_dup_line_char_frac", dtype="DOUBLE", lo=0, hi=1, default_max=0.10, version="v1",
        meaning="characters in lines repeating an earlier line / non-newline characters",
    ),
    FAMILY.signal(
        name="fineweb_newline_word_ratio", dtype="DOUBLE", lo=0, default_max=0.3, version="v1",
        meaning="newlines per token (list-like documents score high)",
    ),
)

_PUNCT_END = r"\p{Sentence_Terminal}$"


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    c = pl.col
    short = pl.Series("short_len", [params_for(x).short_line_chars for x in b.lang], dtype=pl.Int64)
    lines = b.lines.join(
        b.index.with_columns(short), on="doc"
    ).with_columns(
        punct=c("line").str.contains(_PUNCT_END),
        short=c("line_len") <= c("short_len"),
        dup=~pl.struct("doc", "line").is_first_distinct(),
    )
    per = b.per_doc(
        lines,
        pl.len().alias("lines"),
        c("punct").sum().alias("punct"),
        c("short").sum().alias("short"),
        c("line_len").filter(c("dup")).sum().alias("dup_chars"),
    )
    toks = b.per_doc(b.tokens, pl.len().alias("tokens"))
    newlines = b.text_nl.str.count_matches("\n", literal=True).cast(pl.Int64).alias("newlines")
    df = pl.concat([per, toks], how="horizontal").with_columns(newlines, chars=b.char_count)
    return df.select(
        fineweb_punct_line_frac=ratio(c("punct"), c("lines")),
        fineweb_short_line_frac=ratio(c("short"), c("lines")),
        fineweb_dup_line_char_frac=ratio(c("dup_chars"), c("chars") - c("newlines")).clip(0.0, 1.0),
        # A document of only newlines has no tokens: count it as one token, so it scores high.
        fineweb_newline_word_ratio=c("newlines").cast(pl.Float64) / pl.max_horizontal(c("tokens"), pl.lit(1)),
    )
