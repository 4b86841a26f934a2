"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A).

Quality rules, with the paper's keep ranges as defaults: 50..100,000 words; mean word
length 3..10; hash- and ellipsis-to-word ratios <= 0.1; <= 90 % of lines starting with a
bullet; <= 30 % of lines ending with an ellipsis; >= 80 % of words with a letter; >= 2 stop
words. Repetition rules (Table A1): duplicate line / paragraph fractions <= 0.30, their
character fractions <= 0.20, top 2/3/4-gram character fractions <= 0.20/0.18/0.16 and
duplicated 5..10-gram character fractions <= 0.15..0.10.

Definitions where the paper leaves room (documented because they move the numbers):
- words are text.py words (punctuation is not a word), n-grams are over words as written;
- for zh/ja (one word per character) an n-gram is 2n characters: most words there are two
  characters long, so n characters would be a 2-3 word phrase;
- "top n-gram" counts only an n-gram that occurs at least twice (a unique n-gram is not
  repetition; otherwise every 10-word document fails the 2-gram rule);
- duplicated n-gram characters are the characters of words covered by an occurrence of an
  n-gram that *repeats an earlier occurrence* (its first occurrence is not a duplicate), each
  word counted once ("we ensure we don't count characters in overlapping n-grams more than
  once"), over all word characters. This is how the line and paragraph fractions count
  (repeats only) and how datatrove's GopherRepetitionFilter counts n-grams; counting the
  first occurrence too doubles the value of a passage said twice, and dropped 15 % of clean
  English prose (KJV formulae such as "the house of the LORD") at the 0.15 threshold.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from curate.signals import kernels
from curate.signals.batch import DOC, Batch, ratio
from curate.signals.languages import STOP_WORDS, SUBSTRING_STOP_LANGS, params_for
from curate.signals.registry import Family

QUALITY_FAMILY = Family("gopher_quality", source="Rae et al. 2021 (Gopher), App. A, quality filters")
REPETITION_FAMILY = Family("gopher_repetition", source="Rae et al. 2021 (Gopher), App. A, Table A1")

TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))  # Table A1
DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))  # Table A1

QUALITY_SIGNALS = (
    QUALITY_FAMILY.signal(
        name="gopher_word_count", dtype="BIGINT", lo=0, default_min=50, default_max=100_000, version="v1",
        meaning="words (punctuation excluded; one per CJK character)",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_mean_word_len", dtype="DOUBLE", lo=0, default_min=3, default_max=10, per_language=True,
        version="v1",
        meaning="mean word length, rescaled per language so that 3..10 is the keep range everywhere "
                "(identity for space-delimited languages; zh/ja raw 0.5..3.0 maps to 3..10)",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_hash_word_ratio", dtype="DOUBLE", lo=0, default_max=0.1, version="v1",
        meaning="'#' characters per word",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_ellipsis_word_ratio", dtype="DOUBLE", lo=0, default_max=0.1, version="v1",
        meaning="ellipses ('...' or '…' runs) per word",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_bullet_line_frac", dtype="DOUBLE", lo=0, hi=1, default_max=0.9, version="v1",
        meaning="fraction of lines starting with a bullet (•, -, *, ‣, ◦, ▪, ●)",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_ellipsis_line_frac", dtype="DOUBLE", lo=0, hi=1, default_max=0.3, version="v1",
        meaning="fraction of lines ending with an ellipsis",
    ),
    # v2: each CJK character is a word (a Chinese line was one whitespace "word").
    QUALITY_FAMILY.signal(
        name="gopher_alpha_word_frac", dtype="DOUBLE", lo=0, hi=1, default_min=0.8, version="v2",
        meaning="fraction of whitespace-separated words containing a letter (each CJK character is a word)",
    ),
    QUALITY_FAMILY.signal(
        name="gopher_stop_word_count", dtype="BIGINT", lo=0, default_min=2, per_language=True, version="v1",
        meaning="distinct stop words of the document's language present (Gopher's 8 English words "
                "for en; per-language lists; substrings for zh/ja)",
    ),
)

REPETITION_SIGNALS = (
    REPETITION_FAMILY.signal(
        name="gopher_dup_line_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=0.30, version="v1",
        meaning="fraction of lines that repeat an earlier line",
    ),
    REPETITION_FAMILY.signal(
        name="gopher_dup_para_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=0.30, version="v1",
        meaning="fraction of paragraphs that repeat an earlier paragraph",
    ),
    REPETITION_FAMILY.signal(
        name="gopher_dup_line_char_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=0.20, version="v1",
        meaning="fraction of characters in lines that repeat an earlier line",
    ),
    REPETITION_FAMILY.signal(
        name="gopher_dup_para_char_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=0.20, version="v1",
        meaning="fraction of characters in repeated paragraphs",
    ),
    # v2: zh/ja n-grams span 2n characters; duplicated n-grams count repeats only.
    *(
        REPETITION_FAMILY.signal(
            name=f"gopher_top_{n}gram_char_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=t,
            per_language=True, version="v2",
            meaning=f"fraction of word characters in the most frequent repeated {n}-gram (2n characters for zh/ja)",
        )
        for n, t in TOP_NGRAMS
    ),
    *(
        REPETITION_FAMILY.signal(
            name=f"gopher_dup_{n}gram_char_frac", dtype="DOUBLE", lo=0.0, hi=1.0, default_max=t,
            per_language=True, version="v2",
            meaning=f"fraction of word characters in {n}-grams repeating an earlier occurrence "
                    "(2n characters for zh/ja)",
        )
        for n, t in DUP_NGRAMS
    ),
)

_BULLET = r"^[•\-*‣◦▪●·]"
_ELLIPSIS_END = r"(?:\.\.\.|…)$"


@QUALITY_FAMILY.computes(*QUALITY_SIGNALS)
def score_quality(b: Batch) -> pl.DataFrame:
    c = pl.col
    words = b.per_doc(b.words, pl.len().alias("words"), c("tok_len").sum().alias("word_chars"))
    lines = b.per_doc(
        b.lines,
        pl.len().alias("lines"),
        c("line").str.contains(_BULLET).sum().alias("bullets"),
        c("line").str.contains(_ELLIPSIS_END).sum().alias("ellipsis_lines"),
    )
    # Gopher's alpha rule counts whitespace-separated words; a CJK run has no spaces, so each
    # CJK character is a word (text.py) and what is left of the chunk counts as Gopher does.
    # Otherwise a Chinese line is one "word" and an attribution dash ("-- 杜甫") weighs as much.
    # Counted by one compiled pass (Batch.char_classes): "#", `\.\.\.+|…+`, CJK_CHAR, and on the
    # text with CJK removed `\S+` (ws_words) and `\S*\p{L}\S*` (alpha_ws_words).
    text = b.char_classes.select("hashes", "ellipses", "cjk", "ws_words", "alpha_ws_words")
    lo = pl.Series([params_for(x).word_len_lo for x in b.lang], dtype=pl.Float64)
    hi = pl.Series([params_for(x).word_len_hi for x in b.lang], dtype=pl.Float64)
    df = pl.concat([words, lines, text], how="horizontal").with_columns(wl_lo=lo, wl_hi=hi)
    raw_mean = ratio(c("word_chars"), c("words"))
    # Linear map of the language's raw range onto Gopher's 3..10: identity for (3, 10).
    mean_len = pl.when(c("words") > 0).then(3.0 + (raw_mean - c("wl_lo")) * 7.0 / (c("wl_hi") - c("wl_lo")))
    out = df.select(
        gopher_word_count=c("words").cast(pl.Int64),
        gopher_mean_word_len=mean_len.otherwise(0.0).clip(lower_bound=0.0),
        gopher_hash_word_ratio=ratio(c("hashes"), c("words")),
        gopher_ellipsis_word_ratio=ratio(c("ellipses"), c("words")),
        gopher_bullet_line_frac=ratio(c("bullets"), c("lines")),
        gopher_ellipsis_line_frac=ratio(c("ellipsis_lines"), c("lines")),
        gopher_alpha_word_frac=ratio(c("alpha_ws_words") + c("cjk"), c("ws_words") + c("cjk")),
    )
    return out.with_columns(gopher_stop_word_count=_stop_word_counts(b)).select(
        [s.name for s in QUALITY_SIGNALS]
    )


_ALL_STOP_WORDS = pl.Series(sorted(frozenset().union(*STOP_WORDS.values())), dtype=pl.String)
_STOP_MAX_CHARS = max(len(w) for w in _ALL_STOP_WORDS)


def _stop_word_counts(b: Batch) -> pl.Series:
    params = [params_for(x) for x in b.lang]
    # Space-delimited languages: distinct lowercase words found in the language's list.
    pairs = [(lang, w) for lang, p in zip(b.lang, params) if not p.stop_words_as_substrings for w in p.stop_words]
    table = pl.DataFrame(
        {"lang": [p[0] for p in pairs], "w": [p[1] for p in pairs]}, schema={"lang": pl.String, "w": pl.String}
    ).unique()
    langs = pl.DataFrame({DOC: b.index[DOC], "lang": b.lang}, schema={DOC: pl.UInt32, "lang": pl.String})
    # Lowercasing never shortens a word, so a longer token is no stop word: only the short
    # tokens are lowercased and looked up (the same hits, a fraction of the work).
    toks = (
        b.words.filter(pl.col("tok_len") <= _STOP_MAX_CHARS)
        .select(DOC, w=pl.col("tok").str.to_lowercase())
        .filter(pl.col("w").is_in(_ALL_STOP_WORDS.implode()))
        .join(langs, on=DOC)
    )
    hits = toks.join(table, on=["lang", "w"], how="semi")
    counts = b.per_doc(hits, pl.col("w").n_unique().alias("n"))["n"].cast(pl.Int64)
    # zh/ja: no word boundaries, so a stop word is present if it occurs anywhere.
    cjk = [i for i, p in enumerate(params) if p.stop_words_as_substrings]
    if cjk:
        values = counts.to_list()
        for lang in SUBSTRING_STOP_LANGS:
            rows = [i for i in cjk if b.lang[i] == lang]
            if not rows:
                continue
            sub = b.text.gather(rows)
            n = sum(sub.str.contains(w, literal=True).cast(pl.Int64) for w in sorted(params_for(lang).stop_words))
            for i, v in zip(rows, n.to_list()):
                values[i] = v
        counts = pl.Series(values, dtype=pl.Int64)
    return counts.alias("gopher_stop_word_count")


@REPETITION_FAMILY.computes(*REPETITION_SIGNALS)
def score_repetition(b: Batch) -> pl.DataFrame:
    c = pl.col
    lines = b.lines.with_columns(dup=~pl.struct(DOC, "line").is_first_distinct())
    paras = b.paragraphs.with_columns(dup=~pl.struct(DOC, "para").is_first_distinct())
    ln = b.per_doc(
        lines, pl.len().alias("lines"), c("dup").sum().alias("dup_lines"),
        c("line_len").filter(c("dup")).sum().alias("dup_line_chars"),
    )
    pa = b.per_doc(
        paras, pl.len().alias("paras"), c("dup").sum().alias("dup_paras"),
        c("para_len").filter(c("dup")).sum().alias("dup_para_chars"),
    )
    df = pl.concat([ln, pa], how="horizontal").with_columns(chars=b.char_count)
    out = df.select(
        gopher_dup_line_frac=ratio(c("dup_lines"), c("lines")),
        gopher_dup_para_frac=ratio(c("dup_paras"), c("paras")),
        gopher_dup_line_char_frac=ratio(c("dup_line_chars"), c("chars")).clip(0.0, 1.0),
        gopher_dup_para_char_frac=ratio(c("dup_para_chars"), c("chars")).clip(0.0, 1.0),
    )
    # zh/ja: one word per character (text.py), but most words are two characters long, so a
    # Gopher n-gram of n words spans about 2n characters; n characters would be 2-3 words and
    # flags ordinary compounds repeated in clean text ("软件包", "安装").
    scale = np.array([max(params_for(lang).cjk_chars_per_word, 1) for lang in b.lang], dtype=np.int64)
    return out.with_columns(**ngram_char_fracs(b, scale=scale)).select([s.name for s in REPETITION_SIGNALS])


_RULES = TOP_NGRAMS + DUP_NGRAMS


def ngram_char_fracs(b: Batch, words_per_gram: int = 1, *, scale: np.ndarray | None = None) -> dict[str, pl.Series]:
    """Top and duplicated n-gram character fractions for every document at once.

    Each rule's n-gram spans n x `words_per_gram` text.py words, or n x scale[d] for document d
    (2 for zh/ja). One compiled pass per document and n over the polars hashes of its words
    (kernels.ngram_kernel); two n-grams are the same when their hash keys are (collisions
    ~N^2/2^64 per document).
    """
    w = b.words
    doc = w[DOC].to_numpy()
    h = np.ascontiguousarray(w["tok"].hash(seed=0).to_numpy())
    wlen = w["tok_len"].to_numpy().astype(np.float64)
    total = np.bincount(doc, weights=wlen, minlength=b.n)
    starts = np.zeros(b.n + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=b.n), out=starts[1:])  # words are grouped by doc, in order
    if scale is None:
        scale = np.full(b.n, words_per_gram, dtype=np.int64)
    grams = np.array([n for n, _ in _RULES], dtype=np.int64)
    top = np.array([n <= 4 for n, _ in _RULES], dtype=np.bool_)
    raw = np.zeros((b.n, len(_RULES)), dtype=np.float64)
    scale = np.ascontiguousarray(scale, dtype=np.int64)
    kernels.kernel("ngram_kernel", 8 * len(h))(h, wlen, starts, scale, grams, top, raw)
    out: dict[str, pl.Series] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, (nominal, _) in enumerate(_RULES):
            kind = "top" if nominal <= 4 else "dup"
            val = np.where(total > 0, raw[:, k] / np.where(total > 0, total, 1.0), 0.0)
            out[f"gopher_{kind}_{nominal}gram_char_frac"] = pl.Series(np.clip(val, 0.0, 1.0))
    return out
