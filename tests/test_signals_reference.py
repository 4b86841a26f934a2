"""Every signal of the fast scorer equals the one of the implementation it replaced.

tests/signals_reference.py holds the signal computations as they stood before the compiled
kernels (Gopher repetition over hashed word ids, PII prefilters, ...). Every value must be
identical: integers equal, floats equal to the last bit (no tolerance; the kernels add the
same integer-valued character counts and divide the same way).
"""
from __future__ import annotations

import polars as pl
import pytest
import signals_reference as reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sample_helpers import SAMPLE_ROOT

from curate.ingest import expand_inputs, read_records
from curate.signals import gopher, score_texts
from curate.signals.batch import Batch


def assert_same(texts: list[str], batch_lang: list[str | None] | None = None) -> None:
    got = score_texts(texts, batch_lang=batch_lang)
    want = reference.score_texts(texts, batch_lang=batch_lang)
    assert_frame_equal(got, want, check_exact=True)


# Words of several scripts, numbers that look like PII (IPv4/IPv6, phones, cards, versions),
# and the separators every unit splits on (line breaks of every kind, blank lines).
WORDS = [
    "the", "of", "and", "house", "LORD", "price", "best", "buy", "now", "don't", "e-mail", "3.14",
    "naïve", "Straße", "İstanbul", "ÉCOLE", "é", "ﬁne", "…", "...", "#tag", "-", "•", "{", "(see)",
    "他们", "软件包", "安装", "日本語", "ひらがな", "カタカナー", "한국어", "русский", "ελληνικά", "עברית",
    "العربية", "हिन्दी", "ไทย", "😀", "\u0301", "\ufffd", "a\u0308",
    "192.168.0.1", "10.0.0.255", "version 1.2.3.4", "v2.0.0.1", "::1", "fe80::1ff:fe23:4567:890a",
    "2001:db8:0:0:0:0:2:1", "::ffff:192.0.2.1", "dead::beef", "12:30:45", "+1 (555) 123-4567",
    "+49 (0) 30 1234567", "01 23 45 67 89", "4111 1111 1111 1111", "4111-1111-1111-1112",
    "31.12.2024", "1 234 567 890", "a@b.co", "user.name@exämple.org", "x＠y．jp",
]
SEPS = [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u2028", "\u3000", "\x0c", ". ", "! ", "? "]

word = st.sampled_from(WORDS)
sep = st.sampled_from(SEPS)
piece = st.tuples(word, sep).map("".join)
# A text of pieces, then maybe repeated (whole lines, paragraphs, n-gram runs).
base = st.lists(piece, min_size=0, max_size=40).map("".join)
repeated = st.tuples(base, st.integers(1, 12), sep, base).map(lambda t: t[0] + (t[2] + t[3]) * t[1])
texts = st.one_of(
    base,
    repeated,
    st.text(max_size=200),  # any code points (lone surrogates become U+FFFD)
    st.text(alphabet=" \t\n\r\u2028\u3000\x0b\x0c\x85", max_size=20),  # whitespace only
    st.just(""),
)
LANGS = st.sampled_from([None, "en", "zh", "ja", "fr", "de", "ru", "xx"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=8))
def test_generated_texts_match_the_reference(batch):
    assert_same(batch)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, LANGS), min_size=1, max_size=8))
def test_many_generated_texts_match_the_reference(pairs):
    assert_same([t for t, _ in pairs], [lang for _, lang in pairs])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, LANGS), min_size=1, max_size=8))
def test_generated_texts_with_given_languages_match_the_reference(pairs):
    # zh/ja switch the n-gram span to 2n words; mixed with other languages in one batch.
    assert_same([t for t, _ in pairs], [lang for _, lang in pairs])


@pytest.mark.parametrize("text", [
    "",
    " \n \n ",
    "word " * 5000,
    "a b " * 3000,
    "the house of the LORD " * 400,
    "\n".join(["Buy cheap shoes now."] * 50),
    "\n\n".join(["Click here to subscribe."] * 50),
    "你好" * 2000,
    "一二三四五六七八九十" * 300,
    "x",
    "192.168.0.1 " * 300 + "::1 " * 300,
    "1 2 3 4 5 6 7 8 9 0 " * 500,
])
def test_very_repetitive_texts_match_the_reference(text):
    assert_same([text, "A short clean sentence of prose.", text[: len(text) // 2]])
    assert_same([text], ["zh"])


def test_ngram_char_fracs_match_the_reference_on_their_own():
    texts = ["a b c a b c a b c d", "x y z", "", "ab ab ab ab ab ab ab ab ab ab ab ab"]
    got = gopher.ngram_char_fracs(Batch(texts))
    want = reference.ngram_char_fracs(reference.RefBatch(texts))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].to_list() == want[k].to_list(), k


def sample_texts() -> list[str]:
    out = []
    for path in expand_inputs([str(SAMPLE_ROOT / "corpus")]):
        out += [r.text for r in read_records(path) if r.error_kind is None and r.text is not None]
    return out


def test_a_slice_of_the_sample_matches_the_reference():
    texts = sample_texts()
    assert len(texts) > 1000
    chosen = texts[::15]
    for i in range(0, len(chosen), 100):
        assert_same(chosen[i : i + 100])


@pytest.mark.slow
def test_the_whole_sample_matches_the_reference():
    texts = sample_texts()
    for i in range(0, len(texts), 2000):  # the local engine's batch size
        assert_same(texts[i : i + 2000])


def test_the_frames_are_compared_exactly():
    # A differing last bit must fail: the comparison above is exact, not approximate.
    a = pl.DataFrame({"x": [0.1 + 0.2]})
    b = pl.DataFrame({"x": [0.3]})
    with pytest.raises(AssertionError):
        assert_frame_equal(a, b, check_exact=True)


# Digits, the separators phone numbers, cards and addresses use, hex letters, colons and the
# version words: strings dense in near-misses of every PII pattern.
PII_ALPHABET = "0123456789" * 4 + " .-:()+" * 3 + "abcdefABCDEFxv\n" + "é你"
pii_texts = st.lists(
    st.one_of(st.text(alphabet=PII_ALPHABET, max_size=80), st.sampled_from(WORDS)), max_size=6
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(pii_texts, min_size=1, max_size=6))
def test_pii_prefilters_keep_every_count(batch):
    from curate.signals import pii

    series = pl.Series(batch, dtype=pl.String)
    for pattern, valid, prefilter, min_chars in (
        (pii.IP_RE, pii.is_ip, pii._IP_PREFILTER, 0),
        (pii.PHONE_RE, pii.is_phone, pii._PHONE_PREFILTER, pii._PHONE_MIN_CHARS),
        (pii.CARD_RE, pii.is_card, pii._CARD_PREFILTER, 0),
    ):
        fast = pii._count_valid(series, pattern, valid, prefilter, min_chars).to_list()
        assert fast == reference._count_valid(series, pattern, valid).to_list(), pattern


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, st.text(max_size=60)), min_size=1, max_size=6))
def test_batch_units_match_the_reference(batch):
    # The compiled tokenizer finds text.TOKEN_RE's matches; the class counts are the regex counts.
    got, want = Batch(batch), reference.RefBatch(batch)
    assert_frame_equal(got.tokens, want.tokens, check_exact=True)
    assert_frame_equal(got.words, want.words, check_exact=True)
    assert got.char_classes["chars"].to_list() == want.char_count.to_list()


def test_repeated_documents_in_a_batch_match_the_reference():
    # Language ID predicts each distinct input once; the copies get the same values.
    a, b = "Der Hund läuft schnell über die Straße.", "The dog runs quickly across the road."
    assert_same([a, b, a, "", a, b, "  ", b + " ", a])


def test_the_kernels_run_as_python_with_the_same_values(monkeypatch):
    # Small inputs (the registry's probe at import) run the kernels uncompiled: same values.
    from curate.signals import kernels

    texts = [t for t in sample_texts()[::50] if len(t) < 1500][:10]
    texts += ["", "  \n", "a b a b a b a b a b a b", "你好你好你好你好你好你好"]
    want = score_texts(texts)
    monkeypatch.setattr(kernels, "kernel", lambda name, size: kernels._as_python(getattr(kernels, name)))
    assert_frame_equal(score_texts(texts), want, check_exact=True)
