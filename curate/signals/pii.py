"""PII counts (e-mail, phone, IP, payment-card numbers) and export-time redaction.

Patterns are plain regex syntax shared by polars (batch counting) and Python's `re`
(redaction), so what is counted is what is redacted (the e-mail pattern is written for polars,
and Python finds the same matches from each "@": see email_spans). Candidates are found by
regex and then validated in Python only for the few documents that have any:
- e-mail: internationalized local parts and domains (any letters and digits: Python's `\\w`),
  marks (decomposed accents, Indic vowel signs) included, full-width `＠` and `．`/`。`,
  punycode top-level domains.
- phone: 9..15 digits (E.164 allows at most 15) in groups separated by spaces, dashes or dots;
  international forms `+<country> ...` with an optional trunk `(0)` and parenthesized area
  codes. Not a phone: a date or an IPv4 address (also inside the candidate, as in
  "31.12.2024 10:30"), a card number, and, without `+` or `(`, a quantity grouped in thousands
  ("1 234 567 890") or more than three groups that do not start with a national trunk `0`
  ("10 20 30 40 50"; "01 23 45 67 89" stays a phone). Lists of numbers still cost a few
  false positives; a bare run of 3 groups such as "2024 2025 2026" counts as a phone.
- IP: IPv4 with octets 0..255; IPv6 full, `::`-compressed and with an IPv4 tail
  (`::ffff:192.0.2.1`), checked by `ipaddress`. Not an address: a dotted quad right after
  "version"/"ver"/"release"/"rev"/"v" ("version 1.2.3.4" is a version string), and a compressed
  IPv6 form with no digit at all (`a::b`, `dead::beef` in code).
- card: 13..19 digits, spaces or dashes allowed between digits, valid Luhn checksum
  (ISO/IEC 7812), so order numbers and phone numbers rarely count.
Times ("12:30:45"), prices ("1.299,99 €", "$1,234,567.89") and short numbers never count.
No threshold is published; the defaults are open (a recipe can ask for 0).
"""
from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable

import polars as pl

from curate.signals.batch import Batch
from curate.signals.registry import Family

_AT = "[@＠]"
_DOT = "[.．。｡]"
# `\p{L}\p{N}_` is what Python's `\w` means (str.isalnum() or "_"); written out for polars so
# that the two engines agree. Unbounded repetition: bounded Unicode classes overflow polars'
# compiled-regex size limit, and Python finds e-mails from each "@" (see email_spans) instead of
# running this pattern, whose backtracking would be quadratic on long runs of word characters.
EMAIL_RE = (r"[\p{L}\p{M}\p{N}_.%+\-．]+" + _AT + r"[\p{L}\p{M}\p{N}_\-]+(?:" + _DOT + r"[\p{L}\p{M}\p{N}_\-]+)*"
            + _DOT + r"(?:[Xx][Nn]--[A-Za-z0-9\-]+|\p{L}[\p{L}\p{M}]+)")


def _mark_ranges() -> str:
    """Unicode marks (category M*) as `re` class ranges: Python's `\\w` leaves out combining
    accents and Indic vowel signs, which polars' `\\p{M}` takes in. Planes 0, 1 and 14 hold them all."""
    out, start, prev = [], None, None
    for cp in (*range(0x20000), *range(0xE0000, 0xE0200)):
        if unicodedata.category(chr(cp))[0] == "M":
            if start is None or cp != prev + 1:
                if start is not None:
                    out.append(f"{chr(start)}-{chr(prev)}")
                start = cp
            prev = cp
    out.append(f"{chr(start)}-{chr(prev)}")
    return "".join(out)


_M = _mark_ranges()
_LOCAL_REVERSED = re.compile(r"[\w" + _M + r".%+\-．]+")
_DOMAIN = re.compile(r"[\w" + _M + r"\-]+(?:" + _DOT + r"[\w" + _M + r"\-]+)*" + _DOT
                     + r"(?:[Xx][Nn]--[A-Za-z0-9\-]+|[^\W\d_](?:[^\W\d_]|[" + _M + "])+)")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = _OCTET + r"(?:\." + _OCTET + r"){3}"
# A dotted quad after one of these words is a version string; matched with the address so that
# the validator sees it (neither engine's regex can look behind).
_VERSION_WORD = r"(?:\b(?i:version|ver|release|rev|v)[ \t]*[.:]?[ \t]*)?"
_H = r"[0-9A-Fa-f]{1,4}"
_HS = _H + "(?::" + _H + "){0,7}"
_V4_TAIL = r"(?:\.[0-9]{1,3}){3}"
# Full form (maybe with an IPv4 tail), or "::"-compressed; loose on purpose, `ipaddress` decides.
_IPV6 = (r"\b" + _H + "(?::" + _H + r"){5}:" + _IPV4 + r"\b"
         + r"|\b" + _H + "(?::" + _H + r"){7}\b"
         + r"|(?:\b" + _HS + ")?::(?:" + _HS + "(?:" + _V4_TAIL + r")?\b)?")
IP_RE = _IPV6 + "|" + _VERSION_WORD + r"\b" + _IPV4 + r"\b"
_GROUP = r"(?:[ .\-][0-9]{1,8})"
PHONE_RE = (r"(?:\+[0-9]{1,3}(?:[ .\-]?\(0\))?[ .\-]?(?:\([0-9]{1,5}\)|[0-9]{1,12})"
            r"|\([0-9]{1,5}\)|\b[0-9]{1,5})" + _GROUP + r"{0,6}\b")
CARD_RE = r"\b[0-9](?:[ \-]?[0-9]){12,18}\b"

_DAY_MONTH = r"(?:0?[1-9]|[12][0-9]|3[01])"
_YEAR = r"(?:1[89]|20)[0-9]{2}"
_DATE_IN = re.compile(r"(?<![0-9])(?:" + _DAY_MONTH + r"([./\-])" + _DAY_MONTH + r"\1" + _YEAR
                      + "|" + _YEAR + r"([./\-])" + _DAY_MONTH + r"\2" + _DAY_MONTH + r")(?![0-9])")
_IPV4_FULL = re.compile("^" + _IPV4 + "$")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:( |\.)[0-9]{3})(?:\1[0-9]{3})*$")
_GROUPS = re.compile(r"[0-9]+")
_NOT_HEX = re.compile(r"[G-Zg-z]")


FAMILY = Family("pii", source="regex + Luhn (ISO/IEC 7812-1); descriptive, no published threshold")
SIGNALS = (
    FAMILY.signal(
        name="pii_email_count", dtype="BIGINT", lo=0, version="v2",
        meaning="e-mail addresses, internationalized and full-width ones included",
    ),
    FAMILY.signal(
        name="pii_phone_count", dtype="BIGINT", lo=0, version="v2",
        meaning="phone numbers (9-15 digits in groups, E.164 forms; dates, IPs and quantities excluded)",
    ),
    FAMILY.signal(
        name="pii_ip_count", dtype="BIGINT", lo=0, version="v2",
        meaning="IPv4 and IPv6 addresses (full, compressed, IPv4-mapped); not version strings",
    ),
    FAMILY.signal(
        name="pii_card_count", dtype="BIGINT", lo=0, version="v1",
        meaning="payment-card numbers: 13-19 digits passing the Luhn check",
    ),
)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_card(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 9 <= digits <= 15:
        return False
    bare = candidate.strip()
    if _IPV4_FULL.match(bare) or is_card(bare):
        return False
    if bare[0] not in "+(":
        if _DATE_IN.search(bare) or _THOUSANDS.match(bare):
            return False
        groups = _GROUPS.findall(bare)
        if len(groups) > 3 and not groups[0].startswith("0"):
            return False
    return True


def is_ip(candidate: str) -> bool:
    if _NOT_HEX.search(candidate):
        return False  # "version 1.2.3.4": the regex took the word in front along
    if _IPV4_FULL.match(candidate):
        return True
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return "::" not in candidate or any(ch.isdigit() for ch in candidate)


def email_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every EMAIL_RE match, as polars finds them (leftmost, not overlapping):
    for each "@", the longest run of local-part characters before it (after the previous
    match) and a domain after it."""
    spans: list[tuple[int, int]] = []
    ats = [i for i, ch in enumerate(text) if ch in "@＠"] if ("@" in text or "＠" in text) else []
    if not ats:
        return spans
    rev = text[::-1]
    n = len(text)
    last = 0
    for i in ats:
        if i < last:
            continue
        local = _LOCAL_REVERSED.match(rev, n - i, n - last)
        if local is None:
            continue
        domain = _DOMAIN.match(text, i + 1)
        if domain is None:
            continue
        spans.append((i - (local.end() - local.start()), domain.end()))
        last = domain.end()
    return spans


def _regex_spans(rx: re.Pattern, valid: Callable[[str], bool]) -> Callable[[str], list[tuple[int, int]]]:
    return lambda text: [m.span() for m in rx.finditer(text) if valid(m.group())]


# Necessary conditions, one cheap DFA pass each (no `\b`: a Unicode word boundary keeps polars'
# regex engine off its DFA on non-ASCII text, and IP_RE alone cost 10x a str.split pass): a
# document without a match here has no match of the full pattern, so the full pattern (and the
# Python validator) runs only on the few documents that pass, with the same matches.
# - IP_RE: every IPv6 alternative holds "::" or six hex groups joined by ":" followed by ":",
#   every IPv4 one a dotted quad of 1..3-digit octets.
# - PHONE_RE: is_phone wants >= 9 digits, all ASCII, and the pattern puts at most 3 characters
#   of " .-()" between two digits of a candidate ("+49 (0) (30) 1234").
# - CARD_RE: 13 or more digits, at most one space or dash between two of them.
_IP_PREFILTER = r"::|[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){5}:|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"
_PHONE_PREFILTER = r"[0-9](?:[ .\-()]{0,3}[0-9]){8}"
_CARD_PREFILTER = r"[0-9](?:[ \-]?[0-9]){12}"
_PHONE_MIN_CHARS = 9  # is_phone wants 9 digits: a shorter candidate fails without the call


def _count_valid(series: pl.Series, pattern: str, valid, prefilter: str | None = None,
                 min_chars: int = 0) -> pl.Series:
    """Count regex matches that pass `valid`, calling Python only on documents with matches.

    `prefilter`: a pattern every document with a valid match matches (see above); only those
    are searched. `min_chars`: candidates shorter than this are never valid."""
    counts = [0] * len(series)
    maybe = series.str.contains(prefilter) if prefilter is not None else series.str.count_matches(pattern) > 0
    rows = maybe.arg_true()
    if len(rows):
        found = series.gather(rows).str.extract_all(pattern).to_list()
        for row, cands in zip(rows.to_list(), found):
            counts[row] = sum(1 for cand in cands if len(cand) >= min_chars and valid(cand))
    return pl.Series(counts, dtype=pl.Int64)


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    t = b.text
    return pl.DataFrame(
        {
            "pii_email_count": t.str.count_matches(EMAIL_RE).cast(pl.Int64),
            "pii_phone_count": _count_valid(t, PHONE_RE, is_phone, _PHONE_PREFILTER, _PHONE_MIN_CHARS),
            "pii_ip_count": _count_valid(t, IP_RE, is_ip, _IP_PREFILTER),
            "pii_card_count": _count_valid(t, CARD_RE, is_card, _CARD_PREFILTER),
        }
    )


# (signal, finder, placeholder), in redaction order: cards before phones (a card number also
# looks like a long phone number), IPs before phones (an IPv4 address has phone-like groups).
KINDS: tuple[tuple[str, Callable[[str], list[tuple[int, int]]], str], ...] = (
    ("pii_email_count", email_spans, "[EMAIL]"),
    ("pii_ip_count", _regex_spans(re.compile(IP_RE), is_ip), "[IP]"),
    ("pii_card_count", _regex_spans(re.compile(CARD_RE), is_card), "[CARD]"),
    ("pii_phone_count", _regex_spans(re.compile(PHONE_RE), is_phone), "[PHONE]"),
)


def pii_spans(text: str, signal: str) -> list[tuple[int, int]]:
    """(start, end) of what that pii_* signal counts in `text` (the scorer's definition)."""
    for name, find, _ in KINDS:
        if name == signal:
            return find(text)
    raise KeyError(signal)


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out += [text[pos:start], placeholder]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_pii(text: str) -> str:
    """Replace e-mails, IPs, card numbers and phone numbers by [EMAIL], [IP], [CARD], [PHONE].

    Passes repeat until nothing changes (at most a few times): a replacement can change where
    the next candidate starts, and redacting twice must give what redacting once gave.
    """
    for _ in range(5):
        before = text
        for _, find, placeholder in KINDS:
            text = _replace(text, find(text), placeholder)
        if text == before:
            break
    return text


def redact_value(value):
    """Every string inside a JSON-like value redacted (dict values, list items, recursively);
    keys, numbers, booleans and None are kept."""
    if isinstance(value, str):
        return redact_pii(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def redact_metadata(metadata: str | None) -> str | None:
    """A document's metadata (JSON text) with every string value redacted, as JSON text."""
    if metadata is None:
        return None
    return json.dumps(redact_value(json.loads(metadata)), ensure_ascii=False, separators=(",", ":"))


def exported_strings(external_id: str | None, text: str, metadata: str | None) -> list[str]:
    """Every string an export writes for a document, but its doc_id (ours): what redaction
    must clean and what the validation suite's "no PII" check counts."""
    out = [text]
    if external_id is not None:
        out.append(external_id)
    stack = [json.loads(metadata)] if metadata is not None else []
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return out


def count_exported(rows) -> pl.DataFrame:
    """pii_* counts per document over every exported string field of (external_id, text,
    metadata) rows, in row order."""
    owner, strings = [], []
    for i, (external_id, text, metadata) in enumerate(rows):
        fields = exported_strings(external_id, text, metadata)
        owner.extend([i] * len(fields))
        strings.extend(fields)
    names = [s.name for s in SIGNALS]
    if not strings:
        return pl.DataFrame({n: pl.Series([], dtype=pl.Int64) for n in names})
    counts = score(Batch(strings)).with_columns(pl.Series("_doc", owner))
    return (counts.group_by("_doc").agg(pl.col(n).sum() for n in names)
            .join(pl.DataFrame({"_doc": range(len(rows))}), on="_doc", how="right")
            .sort("_doc").select(pl.col(n).fill_null(0).cast(pl.Int64) for n in names))


def redact_document(external_id: str | None, text: str, metadata: str | None) -> tuple[str | None, str, str | None]:
    """(external_id, text, metadata JSON) as an export with redaction writes them."""
    return (None if external_id is None else redact_pii(external_id), redact_pii(text), redact_metadata(metadata))
