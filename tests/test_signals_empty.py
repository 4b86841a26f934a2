"""Empty and whitespace-only documents get defined values in every scorer."""
from __future__ import annotations

import math

import polars as pl
import pytest

from curate.signals import REGISTRY, c4, encoding, fineweb, gopher, pii, score_texts, shape
from curate.signals.batch import Batch

BLANKS = ["", "   ", "\n\n\n", " \t\r\n \u3000\u2028 "]
SCORERS = {
    "shape": shape.score,
    "gopher_quality": gopher.score_quality,
    "gopher_repetition": gopher.score_repetition,
    "c4": c4.score,
    "fineweb": fineweb.score,
    "encoding": encoding.score,
    "pii": pii.score,
}


def _assert_defined(df: pl.DataFrame) -> None:
    for name in df.columns:
        for v in df[name].to_list():
            assert v is not None, name
            if isinstance(v, float):
                assert math.isfinite(v), name
                s = REGISTRY.get(name)
                assert (s.lo is None or v >= s.lo) and (s.hi is None or v <= s.hi), (name, v)


@pytest.mark.parametrize("family", list(SCORERS))
def test_each_scorer_defines_blank_documents(family):
    df = SCORERS[family](Batch(BLANKS))
    assert df.height == len(BLANKS)
    assert df.columns == [s.name for s in REGISTRY.family(family)]
    _assert_defined(df)


def test_score_texts_on_blanks_mixed_with_text():
    df = score_texts([*BLANKS, "A real sentence sits here."])
    url_signals = [s.name for s in REGISTRY.family("url")]
    web_signals = [s.name for s in REGISTRY.family("web")]
    _assert_defined(df.drop("quality", "common_line_char_frac", *url_signals, *web_signals))
    # counted from the page at ingest, filled in the store after scoring (tests/test_web_ingest.py)
    assert all(df[n].null_count() == df.height for n in web_signals)
    assert all(df[n].null_count() == df.height for n in url_signals)  # no URLs given: null, not a guess
    assert df["quality"].null_count() == df.height  # no model given
    # corpus-level: filled in the store after scoring (tests/test_common_lines.py)
    assert df["common_line_char_frac"].null_count() == df.height
    assert df["lang"].to_list()[: len(BLANKS)] == ["und"] * len(BLANKS)
    assert df["word_count"].to_list()[: len(BLANKS)] == [0] * len(BLANKS)


def test_blank_documents_fail_the_word_rules():
    df = score_texts(BLANKS)
    assert all(not REGISTRY.get("gopher_word_count").keeps(v) for v in df["gopher_word_count"])


def test_no_texts_gives_an_empty_frame_with_the_schema():
    df = score_texts([])
    assert df.height == 0 and df.columns == REGISTRY.names()


def test_lone_surrogates_do_not_crash():
    df = score_texts(["bad \ud800 half", "ok text"])
    assert df.height == 2 and df["replacement_char_frac"][0] > 0
