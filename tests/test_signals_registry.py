from __future__ import annotations

import polars as pl
import pytest

from curate.signals import REGISTRY, SIGNALS_VERSION, Signal, SignalRegistry, polars_schema, score_texts, signal_names, signals


def _sig(name: str = "x_count", **kw) -> Signal:
    base = dict(family="shape", version="v1", dtype="BIGINT", meaning="m", lo=0, hi=None, source="s",
                default_min=None, default_max=None)
    base.update(kw)
    return Signal(name, **base)


def test_duplicate_name_is_an_error():
    reg = SignalRegistry([_sig("a_count")])
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_sig("a_count"))


def test_unknown_name_lists_known_names():
    reg = SignalRegistry([_sig("a_count"), _sig("b_count")])
    with pytest.raises(KeyError, match="known signals: a_count, b_count"):
        reg.get("c_count")


@pytest.mark.parametrize(
    "kw, message",
    [({"family": "nope"}, "unknown family"), ({"dtype": "INT"}, "dtype"), ({"lo": 2, "hi": 1}, "lo 2 > hi 1")],
)
def test_signal_validates_its_fields(kw, message):
    with pytest.raises(ValueError, match=message):
        _sig(**kw)


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="snake_case"):
        _sig("Bad-Name")


def test_registry_is_ordered_and_matches_the_scorers():
    assert signal_names() == [s.name for s in signals()] == list(polars_schema())
    df = score_texts(["One short text."])
    assert df.columns == signal_names()
    assert df.schema == pl.Schema(polars_schema())


def test_every_signal_is_documented_and_cited():
    for s in REGISTRY:
        assert s.meaning and s.source, s.name
        # versions are "v<N>"; bumped when a signal's computation changes (issue 3, item 5)
        assert s.version[0] == "v" and s.version[1:].isdigit(), s.name


def test_version_hash_is_stable_and_tracks_versions():
    from curate.signals.text import SEGMENTATION_VERSION

    shared = f"segmentation:{SEGMENTATION_VERSION}"
    assert SIGNALS_VERSION == REGISTRY.version_hash(extra=shared) and len(SIGNALS_VERSION) == 12
    bumped = SignalRegistry(
        [Signal(**{**s.__dict__, "version": "v2"}) if s.name == "char_count" else s for s in REGISTRY]
    )
    assert bumped.version_hash(extra=shared) != SIGNALS_VERSION
    assert REGISTRY.version_hash(extra="segmentation:other") != SIGNALS_VERSION  # a new segmentation rescores


def test_keeps_applies_inclusive_bounds():
    s = REGISTRY.get("gopher_mean_word_len")
    assert s.keeps(3.0) and s.keeps(10.0) and not s.keeps(2.99) and not s.keeps(10.01) and s.keeps(None)
