from __future__ import annotations

import ftfy.badness
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.signals import redact_pii, score_texts
from curate.signals.encoding import BADNESS_PATTERN
from curate.signals.pii import is_card, is_phone, luhn_valid

# Characters that mojibake is made of: Latin-1, Latin Extended-A, Greek, Cyrillic, the
# U+2000 punctuation block, and the usual suspects (€ ™ U+FFFD).
_MOJIBAKE_ALPHABET = st.characters(
    codec="utf-8",
    categories=None,
    include_characters="€™\ufffd¼",
    min_codepoint=0x20,
    max_codepoint=0x2040,
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_MOJIBAKE_ALPHABET, max_size=40))
def test_rust_translation_of_ftfy_badness_counts_the_same(text):
    assert pl.Series([text]).str.count_matches(BADNESS_PATTERN).item() == ftfy.badness.badness(text)


def test_mojibake_and_replacement_characters_are_counted():
    df = score_texts(["The cafÃ© is open.", "clean café", "bad \ufffd\ufffd bytes", "bell\x07 char"])
    assert df["mojibake_count"].to_list()[:2] == [ftfy.badness.badness("The cafÃ© is open."), 0]
    assert df["mojibake_count"][0] > 0
    assert df["replacement_char_frac"][2] == pytest.approx(2 / len("bad \ufffd\ufffd bytes"))
    assert df["control_char_frac"][3] == pytest.approx(1 / len("bell\x07 char"))


@pytest.mark.parametrize(
    "number, valid",
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True), ("12a4", False)],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    "text, field, expected",
    [
        ("write to john.doe@example.co.uk today", "pii_email_count", 1),
        ("not an address: john@localhost", "pii_email_count", 0),
        ("call +44 20 7946 0958 now", "pii_phone_count", 1),
        ("call (555) 123-4567 now", "pii_phone_count", 1),
        ("born 1999-12-31, score 3-2", "pii_phone_count", 0),
        ("server 10.0.0.254 and 2001:db8:85a3::8a2e:370:7334", "pii_ip_count", 2),
        ("version 1.2.3 and 999.1.1.1", "pii_ip_count", 0),
        ("card 4111 1111 1111 1111 here", "pii_card_count", 1),
        ("card 4111-1111-1111-1111 here", "pii_card_count", 1),
        ("card 4111 1111 1111 1112 fails Luhn", "pii_card_count", 0),
        ("order 12345678 is short", "pii_card_count", 0),
    ],
)
def test_pii_counts(text, field, expected):
    assert score_texts([text])[field].item() == expected


def test_ip_is_not_a_phone_and_card_is_not_a_phone():
    assert not is_phone("192.168.100.200") and not is_phone("4111 1111 1111 1111")
    assert is_card("4111 1111 1111 1111") and is_phone("+1 555 123 4567")


def test_redaction_replaces_what_is_counted():
    text = "Mail a.b@ex.org, call +1 555 123 4567, host 192.168.0.1, card 4111 1111 1111 1111, on 2024-01-02."
    assert redact_pii(text) == "Mail [EMAIL], call [PHONE], host [IP], card [CARD], on 2024-01-02."
    assert redact_pii("") == "" and redact_pii("  \n") == "  \n"
