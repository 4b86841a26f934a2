"""Signals: one registry of per-document scores and the pure functions that compute them.

Texts in, one polars column per registered signal out; nothing here touches the store, so
the local engine, Ray, the trainer's junk-rate metric and the tests all reuse it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from curate.signals import c4, corpus, encoding, fineweb, gopher, langid, pii, quality, shape, url, web
from curate.signals.batch import Batch
from curate.signals.pii import redact_pii
from curate.signals.registry import Family, Signal, SignalRegistry
from curate.signals.text import SEGMENTATION_VERSION, normalize_for_hash, words, words_batch

if TYPE_CHECKING:
    from curate.signals.quality import QualityModel

__all__ = [
    "Family",
    "REGISTRY",
    "SIGNALS_VERSION",
    "Signal",
    "SignalRegistry",
    "first_failing",
    "normalize_for_hash",
    "polars_schema",
    "redact_pii",
    "score_texts",
    "signal_names",
    "signals",
    "words",
    "words_batch",
]

REGISTRY = SignalRegistry(
    [
        shape.FAMILY,
        gopher.QUALITY_FAMILY,
        gopher.REPETITION_FAMILY,
        c4.FAMILY,
        fineweb.FAMILY,
        encoding.FAMILY,
        pii.FAMILY,
        langid.FAMILY,
        quality.FAMILY,
        corpus.FAMILY,
        url.FAMILY,
        web.FAMILY,
    ]
)
SIGNALS_VERSION: str = REGISTRY.version_hash(extra=f"segmentation:{SEGMENTATION_VERSION}")

_POLARS = {"DOUBLE": pl.Float64, "BIGINT": pl.Int64, "VARCHAR": pl.String, "BOOLEAN": pl.Boolean}


def signals() -> list[Signal]:
    return list(REGISTRY)


def signal_names() -> list[str]:
    return REGISTRY.names()


def polars_schema() -> dict[str, pl.DataType]:
    return {s.name: _POLARS[s.dtype] for s in REGISTRY}


def score_texts(
    texts: Sequence[str],
    *,
    quality_model: QualityModel | None = None,
    batch_lang: Sequence[str | None] | None = None,
    urls: Sequence[str | None] | None = None,
) -> pl.DataFrame:
    """One row per text (same order), one column per registry signal, in registry order.

    `lang`/`lang_score` always come from fastText. The per-language parameters (stop words,
    word-length range, short-line length) follow the detected language unless `batch_lang`
    gives trusted per-document codes (e.g. from the source's metadata).
    `quality` is null when no `quality_model` is given; the url family's signals are null
    where `urls` (the documents' metadata `url`) gives none.
    """
    texts = list(texts)
    schema = polars_schema()
    if not texts:
        return pl.DataFrame(schema=schema)
    langs, lang_scores = langid.predict_languages(texts)
    b = Batch(
        texts,
        list(batch_lang) if batch_lang is not None else langs,
        detected=(langs, lang_scores),
        quality_model=quality_model,
        urls=urls,
    )
    # Each family's columns were checked against its declaration when REGISTRY was built.
    df = pl.concat([family.compute(b) for family in REGISTRY.families], how="horizontal")
    return df.cast(schema)


def first_failing(frame: pl.DataFrame, names: Sequence[str] | None = None) -> pl.Series:
    """Per row, the first signal (registry order) whose published default rule drops it, else null.

    Only signals with a default bound take part; a null value passes (see Signal.keeps).
    """
    chosen = [REGISTRY.get(n) for n in names] if names is not None else list(REGISTRY)
    exprs = []
    for s in chosen:
        if not s.has_default or s.name not in frame.columns:
            continue
        col = pl.col(s.name)
        fail = pl.lit(False)
        if s.default_min is not None:
            fail = fail | (col < s.default_min).fill_null(False)
        if s.default_max is not None:
            fail = fail | (col > s.default_max).fill_null(False)
        exprs.append(pl.when(fail).then(pl.lit(s.name)))
    if not exprs:
        return pl.Series("first_failing", [None] * frame.height, dtype=pl.String)
    return frame.select(pl.coalesce(exprs).alias("first_failing")).to_series()
