"""One text that fails each published rule, and a clean text that passes all of them."""
from __future__ import annotations

import polars as pl
import pytest

from curate.signals import REGISTRY, first_failing, score_texts

CLEAN = (
    "The city council met on Tuesday evening to discuss the new library. Several residents "
    "spoke in favour of the plan, and a few raised concerns about parking near the site. "
    "The architect explained that the building would use less energy than the old one. "
    "After a long debate, the members agreed to vote on the proposal next month. "
    "Local schools have already asked to use the reading rooms for their classes.\n\n"
    "Most people who attended said that they were pleased with the outcome of the meeting. "
    "A final decision is expected before the end of the year, with work starting in spring."
)
# Distinct filler sentences so that repetition rules only see the repetition we add.
FILLER = " ".join(
    f"Sentence {w} talks about the {w} topic and the way that it goes with {w}." for w in
    "apple river stone cloud forest market engine garden letter window bridge candle".split()
)

FAILING: dict[str, str] = {
    "gopher_word_count": "Too short to be a document.",
    "gopher_mean_word_len": " ".join(["a b c d e f"] * 20) + " the and of.",
    "gopher_hash_word_ratio": FILLER + " " + "#tag " * 40,
    "gopher_ellipsis_word_ratio": FILLER + " " + "wait... " * 30,
    "gopher_bullet_line_frac": "\n".join(f"- item {w} of the list and more" for w in "abcdefghijklmnopqrst"),
    "gopher_ellipsis_line_frac": "\n".join(f"The story of {w} and the end goes on..." for w in "abcdefghijklmnop"),
    "gopher_alpha_word_frac": FILLER + " " + " ".join(str(i) for i in range(400, 900)),
    "gopher_stop_word_count": " ".join(f"Apples {w} bananas cherries grow quickly." for w in "abcdefghijklmnop"),
    "gopher_dup_line_frac": FILLER + "\n" + "\n".join(["Buy cheap shoes now."] * 10),
    "gopher_dup_para_frac": FILLER + "\n\n" + "\n\n".join(["Buy cheap shoes now."] * 10),
    "gopher_dup_line_char_frac": "\n".join([FILLER] + ["Click here to subscribe to the weekly newsletter today."] * 6),
    "gopher_dup_para_char_frac": "\n\n".join(
        [FILLER] + ["Click here to subscribe to the weekly newsletter today."] * 6),
    "gopher_top_2gram_char_frac": FILLER + " " + "best price " * 60,
    "gopher_top_3gram_char_frac": FILLER + " " + "buy it now " * 40,
    "gopher_top_4gram_char_frac": FILLER + " " + "free shipping on orders " * 30,
    **{
        f"gopher_dup_{n}gram_char_frac": FILLER + " " + FILLER.replace("Sentence", "Paragraph", 3)
        for n in range(5, 11)
    },
    "c4_sentence_count": "This page has a heading. It has two sentences in it.\nMenu\nHome",
    "c4_lorem_ipsum_count": CLEAN + " Lorem ipsum dolor sit amet.",
    "c4_curly_bracket_count": CLEAN + " function f() { return 1; }",
    "fineweb_punct_line_frac": "\n".join(f"Product {w} with a long description of its features" for w in "abcdefghij"),
    "fineweb_short_line_frac": CLEAN + "\n" + "\n".join(
        ["Home", "About us", "Contact", "Shop", "Cart", "Login", "Help", "Blog", "FAQ", "News"] * 2),
    "fineweb_dup_line_char_frac": CLEAN + "\n" + "\n".join(
        ["Share this article with your friends on social media."] * 3),
    "fineweb_newline_word_ratio": "\n".join("alpha beta gamma delta epsilon zeta eta theta iota kappa".split())
    + "\nThe list above names the letters of the alphabet.",
    "mojibake_count": CLEAN + " The cafÃ© served crÃ¨me brÃ»lÃ©e.",
}
LONG = " ".join(["word"] * 100_001)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    texts = [CLEAN, *FAILING.values()]
    return score_texts(texts, batch_lang=["en"] * len(texts))


def _rules() -> list[str]:
    return [s.name for s in REGISTRY if s.has_default]


def test_every_rule_with_a_default_has_a_failing_case():
    assert set(_rules()) <= set(FAILING), sorted(set(_rules()) - set(FAILING))


def test_clean_text_passes_all_rules(frame):
    assert first_failing(frame.head(1)).to_list() == [None], frame.head(1).to_dicts()


@pytest.mark.parametrize("name", sorted(FAILING))
def test_rule_fails_its_text(frame, name):
    row = list(FAILING).index(name) + 1
    value = frame[name][row]
    assert not REGISTRY.get(name).keeps(value), f"{name}={value} should fail"


def test_too_long_document_fails_word_count():
    value = score_texts([LONG], batch_lang=["en"])["gopher_word_count"].item()
    assert value == 100_001 and not REGISTRY.get("gopher_word_count").keeps(value)


def test_c4_removed_lines_do_not_count_as_sentences():
    five = "One is here. Two is here. Three is here. Four is here. Five is here."
    with_js = five.replace("Five is here.", "\nPlease enable JavaScript in your browser.")
    with_policy = five.replace("Five is here.", "\nThis site uses cookies to work well.")
    short_lines = five.replace(". ", ".\n").replace("Five is here.", "Fine.")
    df = score_texts([five, with_js, with_policy, short_lines], batch_lang=["en"] * 4)
    assert df["c4_sentence_count"].to_list() == [5, 4, 4, 4]
    assert df["c4_javascript_line_count"].to_list() == [0, 1, 0, 0]
    assert df["c4_policy_line_count"].to_list() == [0, 0, 1, 0]


def test_first_failing_follows_registry_order_and_passes_nulls():
    df = pl.DataFrame({"gopher_word_count": [10, 100, None], "c4_curly_bracket_count": [1, 1, 0]})
    assert first_failing(df).to_list() == ["gopher_word_count", "c4_curly_bracket_count", None]
