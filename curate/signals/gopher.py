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

from curate.signals.batch import DOC, Batch, ratio
from curate.signals.languages import SUBSTRING_STOP_LANGS, params_for
from curate.signals.registry import Family
from curate.signals.text import CJK_CHAR

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
    t = c("t")
    # Gopher's alpha rule counts whitespace-separated words; a CJK run has no spaces, so each
    # CJK character is a word (text.py) and what is left of the chunk counts as Gopher does.
    # Otherwise a Chinese line is one "word" and an attribution dash ("-- 杜甫") weighs as much.
    no_cjk = t.str.replace_all(CJK_CHAR, "")
    text = pl.DataFrame({"t": b.text}).select(
        hashes=t.str.count_matches("#", literal=True),
        ellipses=t.str.count_matches(r"\.\.\.+|…+"),
        cjk=t.str.count_matches(CJK_CHAR),
        ws_words=no_cjk.str.count_matches(r"\S+"),
        alpha_ws_words=no_cjk.str.count_matches(r"\S*\p{L}\S*"),
    )
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


def _stop_word_counts(b: Batch) -> pl.Series:
    params = [params_for(x) for x in b.lang]
    # Space-delimited languages: distinct lowercase words found in the language's list.
    pairs = [(lang, w) for lang, p in zip(b.lang, params) if not p.stop_words_as_substrings for w in p.stop_words]
    table = pl.DataFrame(
        {"lang": [p[0] for p in pairs], "w": [p[1] for p in pairs]}, schema={"lang": pl.String, "w": pl.String}
    ).unique()
    langs = pl.DataFrame({DOC: b.index[DOC], "lang": b.lang}, schema={DOC: pl.UInt32, "lang": pl.String})
    toks = b.words.select(DOC, w=pl.col("tok").str.to_lowercase()).join(langs, on=DOC)
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
    fracs = ngram_char_fracs(b)
    # zh/ja: one word per character (text.py), but most words are two characters long, so a
    # Gopher n-gram of n words spans about 2n characters; n characters would be 2-3 words and
    # flags ordinary compounds repeated in clean text ("软件包", "安装").
    cjk = [i for i, lang in enumerate(b.lang) if params_for(lang).cjk_chars_per_word > 1]
    if cjk:
        scale = {params_for(b.lang[i]).cjk_chars_per_word for i in cjk}
        assert len(scale) == 1, "one CJK n-gram scale"
        sub = ngram_char_fracs(Batch(b.text.gather(cjk).to_list(), [b.lang[i] for i in cjk]), scale.pop())
        idx = pl.Series(cjk, dtype=pl.UInt32)
        fracs = {k: v.scatter(idx, sub[k]) for k, v in fracs.items()}
    return out.with_columns(**fracs).select([s.name for s in REPETITION_SIGNALS])


# Odd 64-bit multipliers for the polynomial n-gram hash; values only need to be fixed
# within one batch (nothing here is stored), collisions are ~N^2/2^64.
_P = np.uint64(0x9E3779B97F4A7C15)
_Q = np.uint64(0xC2B2AE3D27D4EB4F)


def ngram_char_fracs(b: Batch, words_per_gram: int = 1) -> dict[str, pl.Series]:
    """Top and duplicated n-gram character fractions for every document at once.

    `words_per_gram`: each rule's n-gram spans n x this many text.py words (2 for zh/ja).
    """
    w = b.words
    doc = w[DOC].to_numpy()
    h = w["tok"].hash(seed=0).to_numpy()
    wlen = w["tok_len"].to_numpy().astype(np.float64)
    total = np.bincount(doc, weights=wlen, minlength=b.n)
    csum = np.concatenate([[0.0], np.cumsum(wlen)])
    out: dict[str, pl.Series] = {}
    salt = doc.astype(np.uint64) * _Q
    with np.errstate(over="ignore"):
        for nominal, _ in TOP_NGRAMS + DUP_NGRAMS:
            n = nominal * words_per_gram
            m = len(h) - n + 1
            frac = np.zeros(b.n)
            if m > 0:
                key = h[:m].copy()
                for k in range(1, n):
                    key = key * _P + h[k : k + m]
                valid = doc[:m] == doc[n - 1 :]
                pos = np.flatnonzero(valid)
                key = key[pos] ^ salt[pos]
                if nominal <= 4:
                    frac = _top_frac(doc[pos], key, csum[pos + n] - csum[pos], b.n)
                else:
                    # Only repeats count, not an n-gram's first occurrence (see module docstring).
                    repeat = ~pl.Series(key).is_first_distinct().to_numpy()
                    starts = pos[repeat]
                    edges = np.bincount(starts, minlength=len(h) + 1) - np.bincount(starts + n, minlength=len(h) + 1)
                    covered = np.cumsum(edges)[: len(h)] > 0
                    frac = np.bincount(doc, weights=wlen * covered, minlength=b.n)
            kind = "top" if nominal <= 4 else "dup"
            with np.errstate(divide="ignore", invalid="ignore"):
                val = np.where(total > 0, frac / np.where(total > 0, total, 1.0), 0.0)
            out[f"gopher_{kind}_{nominal}gram_char_frac"] = pl.Series(np.clip(val, 0.0, 1.0))
    return out


def _top_frac(doc: np.ndarray, key: np.ndarray, clen: np.ndarray, n_docs: int) -> np.ndarray:
    """Per doc: count x characters of its most frequent n-gram, if that occurs twice or more."""
    if len(key) == 0:
        return np.zeros(n_docs)
    c = pl.col
    g = (
        pl.DataFrame({DOC: doc, "key": key, "clen": clen})
        .group_by(DOC, "key")
        .agg(cnt=pl.len(), clen=c("clen").first())
        .filter(c("cnt") >= 2)
        .filter(c("cnt") == c("cnt").max().over(DOC))
        .group_by(DOC)
        .agg(v=(c("cnt") * c("clen")).max())
    )
    out = np.zeros(n_docs)
    out[g[DOC].to_numpy()] = g["v"].to_numpy()
    return out
