"""Encoding damage: mojibake (ftfy), U+FFFD replacement characters, control characters.

ftfy's `badness` counts matches of one large regex of character sequences that are very
unlikely in real text but typical of UTF-8 decoded as a legacy code page ("Ã©" for "é").
ftfy runs it with Python's `re` one string at a time (~1.6 MB/s here); we translate the same
pattern, taken from the installed ftfy at import time, to polars' Rust regex and run it over
the whole batch. The translation is checked against ftfy in tests/test_signals_encoding.py.

Threshold: ftfy's own rule (`ftfy.badness.is_bad`: any match means probably mojibake) is
the default; the replacement-character and control-character fractions have no published
threshold and are left open.
"""
from __future__ import annotations

import polars as pl
from ftfy.badness import BADNESS_RE

from curate.signals.batch import Batch, ratio
from curate.signals.registry import Family

_FTFY = "ftfy.badness (Speer 2019, ftfy); default = ftfy.badness.is_bad"

FAMILY = Family("encoding", source="descriptive")
SIGNALS = (
    FAMILY.signal(
        name="mojibake_count", dtype="BIGINT", lo=0, default_max=0, source=_FTFY, version="v1",
        meaning="ftfy badness: unlikely character sequences typical of mis-decoded text",
    ),
    FAMILY.signal(
        name="mojibake_per_kchar", dtype="DOUBLE", lo=0, source=_FTFY, version="v1",
        meaning="ftfy badness per 1000 characters",
    ),
    FAMILY.signal(
        name="replacement_char_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are U+FFFD (bytes lost in decoding)",
    ),
    FAMILY.signal(
        name="control_char_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fraction of characters that are control characters other than tab/newline/CR",
    ),
)


def verbose_to_plain(pattern: str) -> str:
    """Rewrite a Python re.VERBOSE pattern without the verbose flag.

    Python ignores ASCII whitespace and '#' comments outside character classes but keeps
    whitespace inside them; Rust's verbose mode also drops whitespace inside classes, so we
    remove the verbose syntax ourselves and escape whitespace that must stay (and "[", "&",
    "~", which Rust reads as class-set syntax).
    """
    out: list[str] = []
    i, in_class, n = 0, False, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            esc = pattern[i : i + 2]
            # Python's \w is str.isalnum() or "_" (letters and all numerics, e.g. "¼");
            # Rust's adds marks and drops non-decimal numbers.
            if esc == "\\w":
                esc = r"\p{L}\p{N}_" if in_class else r"[\p{L}\p{N}_]"
            out.append(esc)
            i += 2
            continue
        if in_class:
            if ch == "]" and out and not out[-1].endswith("["):
                in_class = False
                out.append(ch)
            elif ch.isspace() or ch in "[&~":
                out.append(f"\\x{{{ord(ch):X}}}")
            else:
                out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "#":
            while i < n and pattern[i] != "\n":
                i += 1
            continue
        elif ch in " \t\n\r\v\f":
            pass
        else:
            out.append(ch)
        i += 1
    return "".join(out)


BADNESS_PATTERN = verbose_to_plain(BADNESS_RE.pattern)
_CONTROL = r"[\p{Cc}--[\t\n\r]]"


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    t = pl.col("t")
    c = pl.col
    df = pl.DataFrame({"t": b.text}).select(
        chars=t.str.len_chars().cast(pl.Int64),
        bad=t.str.count_matches(BADNESS_PATTERN).cast(pl.Int64),
        fffd=t.str.count_matches("\ufffd", literal=True).cast(pl.Int64),
        ctrl=t.str.count_matches(_CONTROL).cast(pl.Int64),
    )
    return df.select(
        mojibake_count=c("bad"),
        mojibake_per_kchar=ratio(c("bad") * 1000, c("chars")),
        replacement_char_frac=ratio(c("fffd"), c("chars")),
        control_char_frac=ratio(c("ctrl"), c("chars")),
    )
