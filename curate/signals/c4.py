"""C4 line rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", Sec. 2.2).

C4 keeps a page's lines that end in terminal punctuation (not an ellipsis), have >= 3 words,
have no word over 1000 characters and mention neither "javascript" nor a cookie/terms
policy; it drops the page if fewer than 5 sentences survive, or if it contains "lorem
ipsum" or a curly bracket. The thresholds (3 words, 5 sentences, 1000 characters) and the
policy phrases are those of the reference implementation (TensorFlow Datasets' c4_utils),
which datatrove and dolma follow. We score the page and never rewrite it, so the line rules
become "sentences in the lines C4 would keep" plus descriptive line fractions.

Terminal punctuation is the source's: a line ends in ".", "!", "?" or a quote ('"', and "'"
as datatrove has it); a line ending in ")" or "]" is not kept, whatever stands before it.

Multilingual: CJK full stops (。！？) and closing quotes count as terminal punctuation, words
are text.py words (so a Chinese line has one word per character), and sentences end at
any Unicode Sentence_Terminal character.
"""
from __future__ import annotations

import re

import polars as pl

from curate.signals.batch import Batch, ratio
from curate.signals.registry import Family
from curate.signals.text import WORD_RE

MIN_WORDS_PER_LINE = 3
MIN_SENTENCES = 5
MAX_WORD_CHARS = 1000
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")

# Any of the phrases, as one pattern (the phrases are letters and spaces: no escaping needed).
_POLICY_RE = "|".join(re.escape(p) for p in POLICY_PHRASES)
_CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
_CLOSERS = "\"'”’»」』）)"
# C4 keeps a line that ends in a terminal mark: TFDS c4_utils' ".", "?", "!" and '"' (datatrove
# adds "'"), so a quote closing a sentence counts and a bracket does not: "(see below)" and
# even "(see below.)" end in ")" and are dropped, as in the source. The multilingual mark is
# any Sentence_Terminal; the quotes are their typographic and CJK forms.
_QUOTES = "\"'”’»」』"
_TERMINAL_END = r"[\p{Sentence_Terminal}" + _QUOTES + r"]$"
_ELLIPSIS_END = r"(?:\.\.\.|…)$"
# A full stop right after a digit ("1. Install", "v2.") numbers a list item, not a sentence.
# French typography puts a space before "!" and "?" ("Bonjour !"): such a mark still ends a
# sentence (a space before "." does not: that is a stray full stop, not French style).
_SENTENCE_END = (
    r"(?:[^\s\d][\p{Sentence_Terminal}--[。！？｡]]+|\s[!?]+)[" + _CLOSERS + r"]*(?:\s|$)"
    r"|[。！？｡]+[" + _CLOSERS + r"]*"
)


FAMILY = Family("c4", source="Raffel et al. 2020 (C4), Sec. 2.2; TFDS c4_utils")
SIGNALS = (
    # v2: "!" and "?" after a space (French typography) end a sentence.
    # v3 (and v2 of the two fractions): a line ending in a closing bracket is not terminal.
    FAMILY.signal(
        name="c4_sentence_count", dtype="BIGINT", lo=0, default_min=MIN_SENTENCES, version="v3",
        meaning="sentences in the lines C4 keeps (page dropped below 5)",
    ),
    FAMILY.signal(
        name="c4_kept_line_frac", dtype="DOUBLE", lo=0, hi=1, version="v2",
        meaning="fraction of non-blank lines that pass all C4 line rules",
    ),
    FAMILY.signal(
        name="c4_terminal_punct_line_frac", dtype="DOUBLE", lo=0, hi=1, version="v2",
        meaning="fraction of lines ending in terminal punctuation or a quote",
    ),
    FAMILY.signal(
        name="c4_javascript_line_count", dtype="BIGINT", lo=0, version="v1",
        meaning="lines mentioning 'javascript' (C4 removes them)",
    ),
    FAMILY.signal(
        name="c4_policy_line_count", dtype="BIGINT", lo=0, version="v1",
        meaning="lines with cookie / terms-of-use phrases (C4 removes them)",
    ),
    FAMILY.signal(
        name="c4_lorem_ipsum_count", dtype="BIGINT", lo=0, default_max=0, version="v1",
        meaning="occurrences of 'lorem ipsum' (C4 drops the page)",
    ),
    FAMILY.signal(
        name="c4_curly_bracket_count", dtype="BIGINT", lo=0, default_max=0, version="v1",
        meaning="'{' characters (C4 drops the page as likely code)",
    ),
)


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    c = pl.col
    # The lowercased and the citation-stripped line once each (an expression used several times
    # in one select is computed each time), and one pass for all policy phrases.
    lines = b.lines.with_columns(
        lower=c("line").str.to_lowercase(),
        stripped=c("line").str.replace_all(_CITATION, "").str.strip_chars_end(),
    ).with_columns(
        long_word=c("line").str.contains(r"\S{" + str(MAX_WORD_CHARS + 1) + "}"),
        terminal=c("stripped").str.contains(_TERMINAL_END) & ~c("stripped").str.contains(_ELLIPSIS_END),
        n_words=c("line").str.count_matches(WORD_RE),
        javascript=c("lower").str.contains("javascript", literal=True),
        policy=c("lower").str.contains(_POLICY_RE),
        sentences=c("stripped").str.count_matches(_SENTENCE_END),
    ).with_columns(
        kept=~c("long_word") & c("terminal") & (c("n_words") >= MIN_WORDS_PER_LINE) & ~c("javascript") & ~c("policy"),
    )
    per = b.per_doc(
        lines,
        pl.len().alias("lines"),
        c("kept").sum().alias("kept"),
        c("terminal").sum().alias("terminal"),
        c("javascript").sum().alias("javascript"),
        c("policy").sum().alias("policy"),
        # A kept line ends in terminal punctuation, so it holds at least one sentence even
        # when it ends in a closing quote.
        c("sentences").clip(lower_bound=1).filter(c("kept")).sum().alias("sentences"),
    )
    t = c("t")
    page = pl.DataFrame({"t": b.text}).select(
        lorem=t.str.to_lowercase().str.count_matches("lorem ipsum", literal=True).cast(pl.Int64),
        curly=t.str.count_matches("{", literal=True).cast(pl.Int64),
    )
    df = pl.concat([per, page], how="horizontal")
    return df.select(
        c4_sentence_count=c("sentences").cast(pl.Int64),
        c4_kept_line_frac=ratio(c("kept"), c("lines")),
        c4_terminal_punct_line_frac=ratio(c("terminal"), c("lines")),
        c4_javascript_line_count=c("javascript").cast(pl.Int64),
        c4_policy_line_count=c("policy").cast(pl.Int64),
        c4_lorem_ipsum_count=c("lorem"),
        c4_curly_bracket_count=c("curly"),
    )
