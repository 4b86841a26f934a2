"""The signal computations as they stood before the compiled kernels: the oracle of
tests/test_signals_reference.py and of bench/bench_signals_speed.py, never used by curate.

Copied verbatim from curate/signals (batch.py's units, shape, gopher quality and repetition,
c4, fineweb, pii's counts, langid's detection), so that a change to the fast path is checked
against code it cannot share. Families left out (encoding, language, quality, corpus, url, web)
read only `b.text`, `b.n`, `b.detected`, `b.quality_model` and `b.urls`, and run from curate
itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import polars as pl

from curate.signals import REGISTRY, langid, polars_schema
from curate.signals.c4 import (
    _CITATION,
    _ELLIPSIS_END,
    _SENTENCE_END,
    _TERMINAL_END,
    MAX_WORD_CHARS,
    MIN_WORDS_PER_LINE,
    POLICY_PHRASES,
)
from curate.signals.gopher import DUP_NGRAMS, QUALITY_SIGNALS, REPETITION_SIGNALS, TOP_NGRAMS
from curate.signals.languages import SUBSTRING_STOP_LANGS, canonical_lang, params_for
from curate.signals.pii import CARD_RE, EMAIL_RE, IP_RE, PHONE_RE, is_card, is_ip, is_phone
from curate.signals.text import CJK_CHAR, LINE_BREAKS, TOKEN_RE, WORD_RE, to_series

DOC = "doc"


class RefBatch:
    def __init__(self, texts, langs=None, *, detected=None, quality_model=None, urls=None) -> None:
        self.text = to_series(texts)
        self.n = len(self.text)
        self.lang = [canonical_lang(x) for x in (langs if langs is not None else ["und"] * self.n)]
        self.detected = detected
        self.quality_model = quality_model
        self.urls = list(urls) if urls is not None else None

    @cached_property
    def index(self) -> pl.DataFrame:
        return pl.DataFrame({DOC: pl.arange(0, self.n, dtype=pl.UInt32, eager=True)})

    @cached_property
    def text_nl(self) -> pl.Series:
        return self.text.str.replace_all(LINE_BREAKS, "\n")

    @cached_property
    def char_count(self) -> pl.Series:
        return self.text.str.len_chars().cast(pl.Int64)

    @cached_property
    def tokens(self) -> pl.DataFrame:
        df = pl.DataFrame({DOC: self.index[DOC], "tok": self.text.str.extract_all(TOKEN_RE)})
        df = df.explode("tok").drop_nulls("tok")
        return df.with_columns(
            is_word=pl.col("tok").str.contains(f"^(?:{WORD_RE})$"),
            tok_len=pl.col("tok").str.len_chars().cast(pl.Int64),
        )

    @cached_property
    def words(self) -> pl.DataFrame:
        return self.tokens.filter(pl.col("is_word")).drop("is_word")

    @cached_property
    def lines(self) -> pl.DataFrame:
        df = pl.DataFrame({DOC: self.index[DOC], "line": self.text_nl.str.split("\n")}).explode("line")
        df = df.with_columns(pl.col("line").str.strip_chars()).filter(pl.col("line").str.len_bytes() > 0)
        return df.with_columns(line_len=pl.col("line").str.len_chars().cast(pl.Int64))

    @cached_property
    def paragraphs(self) -> pl.DataFrame:
        marked = self.text_nl.str.replace_all("\x00", " ", literal=True).str.replace_all(
            r"\n[^\S\n]*\n\s*", "\x00"
        )
        df = pl.DataFrame({DOC: self.index[DOC], "para": marked.str.split("\x00")}).explode("para")
        df = df.with_columns(pl.col("para").str.strip_chars()).filter(pl.col("para").str.len_bytes() > 0)
        return df.with_columns(para_len=pl.col("para").str.len_chars().cast(pl.Int64))

    def per_doc(self, long: pl.DataFrame, *aggs: pl.Expr) -> pl.DataFrame:
        agg = long.group_by(DOC).agg(*aggs)
        out = self.index.join(agg, on=DOC, how="left")
        return out.fill_null(0).sort(DOC).drop(DOC)


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(0.0)


# --- shape ---------------------------------------------------------------------------------

def shape_score(b: RefBatch) -> pl.DataFrame:
    t = pl.col("t")
    counts = pl.DataFrame({"t": b.text}).select(
        chars=t.str.len_chars().cast(pl.Int64),
        letters=t.str.count_matches(r"\p{L}").cast(pl.Int64),
        digits=t.str.count_matches(r"\p{Nd}").cast(pl.Int64),
        upper=t.str.count_matches(r"\p{Lu}").cast(pl.Int64),
        space=t.str.count_matches(r"\s").cast(pl.Int64),
        punct=t.str.count_matches(r"\p{P}").cast(pl.Int64),
        non_ascii=t.str.count_matches(r"[^\x00-\x7F]").cast(pl.Int64),
    )
    w = b.per_doc(b.words, pl.len().alias("words"), pl.col("tok_len").sum().alias("word_chars"))
    lines = b.per_doc(b.lines, pl.len().alias("lines"))
    df = pl.concat([counts, w, lines], how="horizontal")
    c = pl.col
    return df.select(
        char_count=c("chars"),
        word_count=c("words").cast(pl.Int64),
        line_count=c("lines").cast(pl.Int64),
        mean_word_len=ratio(c("word_chars"), c("words")),
        alpha_frac=ratio(c("letters"), c("chars")),
        digit_frac=ratio(c("digits"), c("chars")),
        upper_frac=ratio(c("upper"), c("letters")),
        whitespace_frac=ratio(c("space"), c("chars")),
        punct_frac=ratio(c("punct"), c("chars")),
        non_ascii_frac=ratio(c("non_ascii"), c("chars")),
    )


# --- gopher --------------------------------------------------------------------------------

_BULLET = r"^[•\-*‣◦▪●·]"


def gopher_quality_score(b: RefBatch) -> pl.DataFrame:
    c = pl.col
    words = b.per_doc(b.words, pl.len().alias("words"), c("tok_len").sum().alias("word_chars"))
    lines = b.per_doc(
        b.lines,
        pl.len().alias("lines"),
        c("line").str.contains(_BULLET).sum().alias("bullets"),
        c("line").str.contains(_ELLIPSIS_END).sum().alias("ellipsis_lines"),
    )
    t = c("t")
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


def _stop_word_counts(b: RefBatch) -> pl.Series:
    params = [params_for(x) for x in b.lang]
    pairs = [(lang, w) for lang, p in zip(b.lang, params) if not p.stop_words_as_substrings for w in p.stop_words]
    table = pl.DataFrame(
        {"lang": [p[0] for p in pairs], "w": [p[1] for p in pairs]}, schema={"lang": pl.String, "w": pl.String}
    ).unique()
    langs = pl.DataFrame({DOC: b.index[DOC], "lang": b.lang}, schema={DOC: pl.UInt32, "lang": pl.String})
    toks = b.words.select(DOC, w=pl.col("tok").str.to_lowercase()).join(langs, on=DOC)
    hits = toks.join(table, on=["lang", "w"], how="semi")
    counts = b.per_doc(hits, pl.col("w").n_unique().alias("n"))["n"].cast(pl.Int64)
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


def gopher_repetition_score(b: RefBatch) -> pl.DataFrame:
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
    cjk = [i for i, lang in enumerate(b.lang) if params_for(lang).cjk_chars_per_word > 1]
    if cjk:
        scale = {params_for(b.lang[i]).cjk_chars_per_word for i in cjk}
        assert len(scale) == 1, "one CJK n-gram scale"
        sub = ngram_char_fracs(RefBatch(b.text.gather(cjk).to_list(), [b.lang[i] for i in cjk]), scale.pop())
        idx = pl.Series(cjk, dtype=pl.UInt32)
        fracs = {k: v.scatter(idx, sub[k]) for k, v in fracs.items()}
    return out.with_columns(**fracs).select([s.name for s in REPETITION_SIGNALS])


_P = np.uint64(0x9E3779B97F4A7C15)
_Q = np.uint64(0xC2B2AE3D27D4EB4F)


def ngram_char_fracs(b: RefBatch, words_per_gram: int = 1) -> dict[str, pl.Series]:
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


# --- c4 ------------------------------------------------------------------------------------

def c4_score(b: RefBatch) -> pl.DataFrame:
    c = pl.col
    lower = c("line").str.to_lowercase()
    policy = pl.any_horizontal([lower.str.contains(p, literal=True) for p in POLICY_PHRASES])
    stripped = c("line").str.replace_all(_CITATION, "").str.strip_chars_end()
    lines = b.lines.with_columns(
        long_word=c("line").str.contains(r"\S{" + str(MAX_WORD_CHARS + 1) + "}"),
        terminal=stripped.str.contains(_TERMINAL_END) & ~stripped.str.contains(_ELLIPSIS_END),
        n_words=c("line").str.count_matches(WORD_RE),
        javascript=lower.str.contains("javascript", literal=True),
        policy=policy,
        sentences=stripped.str.count_matches(_SENTENCE_END),
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


# --- fineweb -------------------------------------------------------------------------------

_PUNCT_END = r"\p{Sentence_Terminal}$"


def fineweb_score(b: RefBatch) -> pl.DataFrame:
    c = pl.col
    short = pl.Series("short_len", [params_for(x).short_line_chars for x in b.lang], dtype=pl.Int64)
    lines = b.lines.join(
        b.index.with_columns(short), on="doc"
    ).with_columns(
        punct=c("line").str.contains(_PUNCT_END),
        short=c("line_len") <= c("short_len"),
        dup=~pl.struct("doc", "line").is_first_distinct(),
    )
    per = b.per_doc(
        lines,
        pl.len().alias("lines"),
        c("punct").sum().alias("punct"),
        c("short").sum().alias("short"),
        c("line_len").filter(c("dup")).sum().alias("dup_chars"),
    )
    toks = b.per_doc(b.tokens, pl.len().alias("tokens"))
    newlines = b.text_nl.str.count_matches("\n", literal=True).cast(pl.Int64).alias("newlines")
    df = pl.concat([per, toks], how="horizontal").with_columns(newlines, chars=b.char_count)
    return df.select(
        fineweb_punct_line_frac=ratio(c("punct"), c("lines")),
        fineweb_short_line_frac=ratio(c("short"), c("lines")),
        fineweb_dup_line_char_frac=ratio(c("dup_chars"), c("chars") - c("newlines")).clip(0.0, 1.0),
        fineweb_newline_word_ratio=c("newlines").cast(pl.Float64) / pl.max_horizontal(c("tokens"), pl.lit(1)),
    )


# --- pii -----------------------------------------------------------------------------------

def _count_valid(series: pl.Series, pattern: str, valid) -> pl.Series:
    counts = [0] * len(series)
    hits = series.str.count_matches(pattern)
    rows = (hits > 0).arg_true()
    if len(rows):
        found = series.gather(rows).str.extract_all(pattern).to_list()
        for row, cands in zip(rows.to_list(), found):
            counts[row] = sum(1 for cand in cands if valid(cand))
    return pl.Series(counts, dtype=pl.Int64)


def pii_score(b: RefBatch) -> pl.DataFrame:
    t = b.text
    return pl.DataFrame(
        {
            "pii_email_count": t.str.count_matches(EMAIL_RE).cast(pl.Int64),
            "pii_phone_count": _count_valid(t, PHONE_RE, is_phone),
            "pii_ip_count": _count_valid(t, IP_RE, is_ip),
            "pii_card_count": _count_valid(t, CARD_RE, is_card),
        }
    )


# --- language ID ---------------------------------------------------------------------------

def predict_languages(texts: list[str]) -> tuple[list[str], np.ndarray]:
    clean = to_series(texts).str.slice(0, langid.MAX_CHARS).str.replace_all(r"\s+", " ").to_list()
    langs = [langid.UNDETERMINED] * len(texts)
    scores = np.zeros(len(texts), dtype=np.float64)
    rows = [i for i, t in enumerate(clean) if t.strip()]
    if rows:
        f = langid.load_model().f
        for i in rows:
            pred = f.predict(clean[i] + "\n", 1, 0.0, "replace")
            if pred:
                scores[i], label = pred[0]
                langs[i] = label.removeprefix("__label__")
    return langs, np.clip(scores, 0.0, 1.0)


# --- the whole -----------------------------------------------------------------------------

COMPUTE = {
    "shape": shape_score,
    "gopher_quality": gopher_quality_score,
    "gopher_repetition": gopher_repetition_score,
    "c4": c4_score,
    "fineweb": fineweb_score,
    "pii": pii_score,
}


def score_texts(texts: Sequence[str], *, quality_model=None, batch_lang=None, urls=None) -> pl.DataFrame:
    """curate.signals.score_texts as it stood, family by family (registry order)."""
    texts = list(texts)
    schema = polars_schema()
    if not texts:
        return pl.DataFrame(schema=schema)
    langs, lang_scores = predict_languages(texts)
    b = RefBatch(texts, list(batch_lang) if batch_lang is not None else langs,
                 detected=(langs, lang_scores), quality_model=quality_model, urls=urls)
    frames = [COMPUTE.get(f.name, f.compute)(b) for f in REGISTRY.families]
    return pl.concat(frames, how="horizontal").cast(schema)

