"""One batch of texts and the units every scorer shares (tokens, lines, paragraphs).

Each unit is computed once per batch, lazily, as a long polars frame keyed by `doc` (the
row number of the text), so the scorers are column expressions instead of Python loops.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from curate.signals.languages import canonical_lang
from curate.signals.text import LINE_BREAKS, to_series

if TYPE_CHECKING:
    from curate.signals.quality import QualityModel

DOC = "doc"


class Batch:
    """`langs` choose the per-language parameters ("und" when not given). `detected` is
    fastText's (codes, confidences), when the caller has them already (score_texts detects
    first, since `langs` default to what it finds); `quality_model` scores `quality`;
    `urls` are the documents' URLs (metadata `url`, None where a document has none), which
    the url family reads (None: no document has one)."""

    def __init__(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        *,
        detected: tuple[list[str], np.ndarray] | None = None,
        quality_model: QualityModel | None = None,
        urls: Sequence[str | None] | None = None,
    ) -> None:
        self.text = to_series(texts)
        self.n = len(self.text)
        if langs is not None and len(langs) != self.n:
            raise ValueError(f"got {len(langs)} languages for {self.n} texts")
        self.lang = [canonical_lang(x) for x in (langs if langs is not None else ["und"] * self.n)]
        self.detected = detected
        self.quality_model = quality_model
        if urls is not None and len(urls) != self.n:
            raise ValueError(f"got {len(urls)} URLs for {self.n} texts")
        self.urls = list(urls) if urls is not None else None

    @cached_property
    def index(self) -> pl.DataFrame:
        return pl.DataFrame({DOC: pl.arange(0, self.n, dtype=pl.UInt32, eager=True)})

    @cached_property
    def text_nl(self) -> pl.Series:
        """Text with every line separator turned into "\\n"."""
        return self.text.str.replace_all(LINE_BREAKS, "\n")

    @cached_property
    def char_count(self) -> pl.Series:
        return self.text.str.len_chars().cast(pl.Int64)

    @cached_property
    def char_classes(self) -> pl.DataFrame:
        """Per-text character counts (kernels.CLASS_COLUMNS, Int64): one compiled pass over the
        UTF-8 bytes, for shape and gopher_quality (their regex passes, counted once)."""
        from curate.signals import kernels

        data, offsets = kernels.utf8_buffers(self.text)
        out = np.zeros((self.n, len(kernels.CLASS_COLUMNS)), dtype=np.int64)
        kernels.kernel("class_kernel", len(data))(data, offsets, kernels.class_table(), out)
        return pl.DataFrame({name: out[:, k] for k, name in enumerate(kernels.CLASS_COLUMNS)})

    @cached_property
    def tokens(self) -> pl.DataFrame:
        """All tokens (words and symbol runs): doc, tok, is_word, tok_len.

        text.TOKEN_RE's matches, found by one compiled pass over the UTF-8 bytes
        (kernels.token_kernel) instead of polars' extract_all: the same tokens, in order."""
        from curate.signals import kernels

        data, offsets = kernels.utf8_buffers(self.text)
        table = kernels.class_table()
        tokenize = kernels.kernel("token_kernel", len(data))
        empty = np.zeros(0, dtype=np.int64)
        n = tokenize(data, offsets, table, False, empty, empty, empty, empty, np.zeros(0, dtype=np.bool_))
        doc, start, end, length = (np.zeros(n, dtype=np.int64) for _ in range(4))
        word = np.zeros(n, dtype=np.bool_)
        tokenize(data, offsets, table, True, doc, start, end, length, word)
        tok_data = np.zeros(int((end - start).sum()), dtype=np.uint8)
        tok_offsets = np.zeros(n + 1, dtype=np.int64)
        kernels.kernel("gather_spans", len(data))(data, start, end, tok_data, tok_offsets)
        return pl.DataFrame({
            DOC: pl.Series(doc, dtype=pl.UInt32),
            "tok": kernels.string_series(tok_data, tok_offsets),
            "is_word": pl.Series(word, dtype=pl.Boolean),
            "tok_len": pl.Series(length, dtype=pl.Int64),
        })

    @cached_property
    def words(self) -> pl.DataFrame:
        """Word tokens only, in text order: doc, tok, tok_len."""
        return self.tokens.filter(pl.col("is_word")).drop("is_word")

    @cached_property
    def lines(self) -> pl.DataFrame:
        """Non-blank lines, stripped: doc, line, line_len."""
        df = pl.DataFrame({DOC: self.index[DOC], "line": self.text_nl.str.split("\n")}).explode("line")
        df = df.with_columns(pl.col("line").str.strip_chars()).filter(pl.col("line").str.len_bytes() > 0)
        return df.with_columns(line_len=pl.col("line").str.len_chars().cast(pl.Int64))

    @cached_property
    def paragraphs(self) -> pl.DataFrame:
        """Paragraphs (split at blank lines), stripped, non-empty: doc, para, para_len."""
        marked = self.text_nl.str.replace_all("\x00", " ", literal=True).str.replace_all(
            r"\n[^\S\n]*\n\s*", "\x00"
        )
        df = pl.DataFrame({DOC: self.index[DOC], "para": marked.str.split("\x00")}).explode("para")
        df = df.with_columns(pl.col("para").str.strip_chars()).filter(pl.col("para").str.len_bytes() > 0)
        return df.with_columns(para_len=pl.col("para").str.len_chars().cast(pl.Int64))

    def per_doc(self, long: pl.DataFrame, *aggs: pl.Expr) -> pl.DataFrame:
        """Aggregate a long frame per doc; docs without rows get 0 (never null)."""
        agg = long.group_by(DOC).agg(*aggs)
        out = self.index.join(agg, on=DOC, how="left")
        return out.fill_null(0).sort(DOC).drop(DOC)


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num/den, defined as 0.0 when den is 0 (empty documents: no NaN, no division error)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(0.0)
