from __future__ import annotations

import polars as pl
import pytest

from curate.signals import (
    REGISTRY,
    SIGNALS_VERSION,
    Family,
    Signal,
    SignalRegistry,
    polars_schema,
    score_texts,
    signal_names,
    signals,
)
from curate.signals.registry import version_hash


def _sig(name: str = "x_count", **kw) -> Signal:
    base = dict(family="shape", version="v1", dtype="BIGINT", meaning="m", lo=0, source="s")
    return Signal(**{"name": name, **base, **kw})


def _family(name: str, declared: list[str], computed: list[str] | None = None) -> Family:
    """A family declaring `declared` whose function computes `computed` (default: the same)."""
    fam = Family(name, source="s")
    signals = [fam.signal(name=n, version="v1", dtype="BIGINT", meaning="m") for n in declared]
    columns = declared if computed is None else computed
    fam.computes(*signals)(lambda b: pl.DataFrame({n: [0] * b.n for n in columns}))
    return fam


def test_duplicate_name_is_an_error():
    with pytest.raises(ValueError, match="'a_count' is already registered"):
        SignalRegistry([_family("one", ["a_count"]), _family("two", ["a_count"])])


def test_a_family_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="family 'one' is registered twice"):
        SignalRegistry([_family("one", ["a_count"]), _family("one", ["b_count"])])


def test_unknown_name_lists_known_names():
    reg = SignalRegistry([_family("one", ["a_count", "b_count"])])
    with pytest.raises(KeyError, match="known signals: a_count, b_count"):
        reg.get("c_count")


@pytest.mark.parametrize(
    "computed, message",
    [
        (["b_count", "a_count"], "family 'fam': signal 'b_count' is computed at position 0 but declared at position 1"),
        (["a_count"], "family 'fam': declared signal 'b_count' is not computed"),
        (["a_count", "b_count", "c_count"], "family 'fam': computes 'c_count', which is not declared"),
    ],
    ids=["wrong order", "missing", "extra"],
)
def test_a_family_computing_other_columns_than_it_declares_is_refused(computed, message):
    with pytest.raises(ValueError, match=message):
        SignalRegistry([_family("fam", ["a_count", "b_count"], computed)])


def test_a_family_without_a_compute_function_is_refused():
    fam = Family("fam", source="s")
    fam.signal(name="a_count", version="v1", dtype="BIGINT", meaning="m")
    with pytest.raises(ValueError, match="family 'fam': no function is registered"):
        SignalRegistry([fam])


def test_a_family_computes_only_its_own_signals_and_once():
    fam = _family("fam", ["a_count"])
    with pytest.raises(ValueError, match="family 'fam': a compute function is already registered"):
        fam.computes(*fam.signals)
    with pytest.raises(ValueError, match="family 'other': signals of another family: a_count"):
        Family("other", source="s").computes(*fam.signals)


def test_a_signal_is_declared_by_keyword():
    with pytest.raises(TypeError):
        Signal("x_count", "shape", "v1", "BIGINT", "m", 0, None, "s", None, None)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Family("fam", source="s").signal("x_count")  # type: ignore[call-arg]
    s = _sig()
    assert (s.hi, s.default_min, s.default_max, s.per_language) == (None, None, None, False)  # open unless given


def test_a_family_fills_in_its_name_and_source_and_a_signal_may_cite_its_own():
    fam = Family("fam", source="paper")
    own = fam.signal(name="a_count", version="v1", dtype="BIGINT", meaning="m", source="other paper")
    shared = fam.signal(name="b_count", version="v1", dtype="BIGINT", meaning="m")
    assert (own.family, own.source, shared.source) == ("fam", "other paper", "paper")
    with pytest.raises(TypeError):
        fam.signal(name="c_count", family="elsewhere", version="v1", dtype="BIGINT", meaning="m")


@pytest.mark.parametrize(
    "kw, message",
    [({"family": "No-Family"}, "family name"), ({"dtype": "INT"}, "dtype"), ({"lo": 2, "hi": 1}, "lo 2 > hi 1")],
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
    bumped = [Signal(**{**s.__dict__, "version": "v2"}) if s.name == "char_count" else s for s in REGISTRY]
    assert version_hash(bumped, extra=shared) != SIGNALS_VERSION
    assert REGISTRY.version_hash(extra="segmentation:other") != SIGNALS_VERSION  # a new segmentation rescores


def test_keeps_applies_inclusive_bounds():
    s = REGISTRY.get("gopher_mean_word_len")
    assert s.keeps(3.0) and s.keeps(10.0) and not s.keeps(2.99) and not s.keeps(10.01) and s.keeps(None)
