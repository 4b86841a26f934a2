"""Clean text of the kinds the strict recipe used to drop, and junk that must still fail.

Each fix of issue 3 (item 5) has a clean text that now passes the published rule and a junk
text of the same shape that still fails it.
"""
from __future__ import annotations

import pytest

from curate.signals import REGISTRY, score_texts
from curate.signals.batch import Batch
from curate.signals.gopher import ngram_char_fracs


def _keeps(signal: str, text: str, lang: str | None = None) -> bool:
    value = score_texts([text], batch_lang=[lang] if lang else None)[signal][0]
    return REGISTRY.get(signal).keeps(value)


def _value(signal: str, text: str, lang: str | None = None) -> float:
    return score_texts([text], batch_lang=[lang] if lang else None)[signal][0]


# --- duplicated n-grams count repeats only ----------------------------------------------------

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


def test_a_passage_said_twice_has_half_its_characters_duplicated():
    text = " ".join(WORDS) + " " + " ".join(WORDS)
    fr = ngram_char_fracs(Batch([text]))
    # The second occurrence repeats the first; the first is not a duplicate.
    assert fr["gopher_dup_5gram_char_frac"][0] == pytest.approx(0.5)


KJV_LIKE = "\n".join(
    [
        "1 Josiah was eight years old when he began to reign, and he reigned thirty and one years "
        "in Jerusalem, and he did that which was right in the house of the LORD all his days.",
        "2 And it came to pass in the eighteenth year that the king sent Shaphan the scribe, saying, "
        "Go up to Hilkiah the high priest, that he may sum the silver brought into the house of the LORD.",
        "3 Let them deliver it into the hand of the doers of the work, unto carpenters and builders "
        "and masons, to buy timber and hewn stone to repair the house of the LORD.",
        "4 Howbeit there was no reckoning made with them of the money that was delivered into their "
        "hand, because they dealt faithfully, as their fathers had done before them.",
        "5 And Hilkiah said unto Shaphan, I have found the book of the law in the house of the LORD, "
        "and he gave the book to Shaphan, and he read it aloud before the elders.",
        "6 When the king had heard the words of the book, he rent his clothes, and commanded the "
        "priest and the scribe to enquire of the prophetess who dwelt in the college.",
    ]
)


def test_scripture_with_a_recurring_formula_passes():
    # "the house of the LORD" recurs in most verses (2 Kings 22): style, not a repeated page.
    # Its first occurrence is not a duplicate, so only the 3 repeats count.
    assert _keeps("gopher_dup_5gram_char_frac", KJV_LIKE, "en")
    first_counted_too = 4 * len("thehouseoftheLORD") / len("".join(KJV_LIKE.split()))
    assert _value("gopher_dup_5gram_char_frac", KJV_LIKE, "en") < first_counted_too


def test_a_block_repeated_many_times_still_fails():
    block = "Buy the best cheap shoes online today with free shipping and easy returns for everyone."
    assert not _keeps("gopher_dup_5gram_char_frac", " ".join([block] * 5), "en")


# --- zh/ja n-grams span two characters per word -------------------------------------------------

ZH_TECH = (
    "如下是一个关于软件包管理的例子。使用软件包管理器之前，先更新软件包列表。"
    "安装软件包的时候，系统会检查依赖关系并下载需要的文件。"
    "如果软件包已经安装，管理器会跳过它并显示当前版本。"
    "删除软件包时，配置文件默认会保留在系统里，以便以后重新安装。"
    "你也可以查看软件包的说明信息，了解它的用途和维护者。"
)


def test_chinese_text_repeating_a_compound_passes_the_ngram_rules():
    for n in (5, 6, 7, 8, 9, 10):
        assert _keeps(f"gopher_dup_{n}gram_char_frac", ZH_TECH, "zh"), n


def test_chinese_text_repeated_wholesale_still_fails():
    spam = "最便宜的手机今天在线购买免费送货" * 8
    assert not _keeps("gopher_dup_5gram_char_frac", spam, "zh")
    assert not _keeps("gopher_dup_10gram_char_frac", spam, "zh")


# --- alpha word fraction: a CJK character is a word -------------------------------------------

ZH_POEMS = "\n\n".join(
    f"{line}\n    -- {author}《{title}》"
    for line, author, title in [
        ("岱宗夫如何？齐鲁青未了。", "杜甫", "望岳"),
        ("草色全经细雨湿，花枝欲动春风寒。", "王维", "酌酒与裴迪"),
        ("锦江近西烟水绿，新雨山头荔枝熟。", "张籍", "成都曲"),
        ("北风卷地白草折，胡天八月即飞雪。", "岑参", "白雪歌送武判官归京"),
        ("云想衣裳花想容，春风拂槛露华浓。", "李白", "清平调"),
        ("晓看红湿处，花重锦官城。", "杜甫", "春夜喜雨"),
    ]
)


def test_chinese_quotes_with_attribution_dashes_pass_the_alpha_rule():
    # 6 of every 7 units are characters; before, a whole Chinese line was one word and each
    # "--" a non-word, so the text scored 2/3.
    assert _value("gopher_alpha_word_frac", ZH_POEMS, "zh") > 0.8
    assert _keeps("gopher_alpha_word_frac", ZH_POEMS, "zh")


def test_latin_words_are_still_counted_as_gopher_does():
    # No CJK: the same whitespace definition as before (4 of 6 words have a letter).
    assert _value("gopher_alpha_word_frac", "one two 3 four 5 six") == pytest.approx(4 / 6)


def test_numbers_and_symbols_among_chinese_still_fail():
    table = "\n".join(f"{i} | {i * 7} | {i * 13} | -- | 价格" for i in range(100, 160))
    assert not _keeps("gopher_alpha_word_frac", table, "zh")


# --- C4 sentences: French spacing before "!" and "?" ------------------------------------------

FR = "\n".join(
    [
        "Bonjour ! Comment allez-vous ? Très bien, merci.",
        "Voici la suite ! Elle est longue ? Non, elle est courte.",
    ]
)


def test_french_exclamation_and_question_marks_end_sentences():
    assert _value("c4_sentence_count", FR, "fr") == 6
    assert _keeps("c4_sentence_count", FR, "fr")


def test_a_stray_space_before_a_full_stop_is_not_a_sentence_end_and_short_pages_fail():
    assert _value("c4_sentence_count", "Un mot . Deux mots . Trois mots ici.", "fr") == 1
    assert not _keeps("c4_sentence_count", "Bonjour ! Ça va ?", "fr")
