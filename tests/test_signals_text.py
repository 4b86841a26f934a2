from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from curate.signals.text import normalize_for_hash, words, words_batch

# Python whitespace that Unicode does not call White_Space (str.isspace() is wider).
_NOT_UNICODE_SPACE = "\x1c\x1d\x1e\x1f"


def test_cjk_is_one_word_per_character():
    assert words("東京タワーは高い。") == ["東", "京", "タ", "ワ", "ー", "は", "高", "い"]


def test_latin_words_keep_inner_apostrophes_hyphens_and_dots():
    assert words("Don't e-mail me at 3.14, U.S. people!") == ["Don't", "e-mail", "me", "at", "3.14", "U.S", "people"]


def test_mixed_scripts_and_symbols():
    assert words("Tokyo東京 2024年", keep_symbols=True) == ["Tokyo", "東", "京", "2024", "年"]
    assert words("a -> b", keep_symbols=True) == ["a", "->", "b"]


def test_blank_texts_have_no_words():
    assert words_batch(["", "   \n\t", "\u3000"]) == [[], [], []]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_tokens_cover_every_non_space_character_in_order(text):
    toks = words(text, keep_symbols=True)
    joined = "".join(toks)
    expected = "".join(ch for ch in text if not ch.isspace() or ch in _NOT_UNICODE_SPACE)
    assert joined == expected
    assert all(toks)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_words_are_a_subsequence_of_tokens(text):
    toks = words(text, keep_symbols=True)
    it = iter(toks)
    assert all(any(w == t for t in it) for w in words(text))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_for_hash_is_idempotent_and_total(text):
    once = normalize_for_hash(text)
    assert normalize_for_hash(once) == once
    assert once == once.strip() and "  " not in once


def test_normalize_for_hash_folds_case_width_and_space():
    assert normalize_for_hash("  Ｈｅｌｌｏ\n\tWORLD ") == normalize_for_hash("hello world") == "hello world"
