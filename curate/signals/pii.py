"""PII counts (e-mail, phone, IP, payment-card numbers) and export-time redaction.

Patterns are plain regex syntax shared by polars (batch counting) and Python's `re`
(redaction), so what is counted is what is redacted. Candidates are found by regex and then
validated in Python only for the few documents that have any:
- phone: 9..15 digits (E.164 allows at most 15) in 2+ groups, not a date, not an IP;
- card: 13..19 digits, spaces or dashes allowed between digits, valid Luhn checksum
  (ISO/IEC 7812), so order numbers and phone numbers rarely count.
No threshold is published; the defaults are open (a recipe can ask for 0).
"""
from __future__ import annotations

import re

import polars as pl

from curate.signals.batch import Batch
from curate.signals.registry import Signal

_SRC = "regex + Luhn (ISO/IEC 7812-1); descriptive, no published threshold"

EMAIL_RE = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = r"\b" + _OCTET + r"(?:\." + _OCTET + r"){3}\b"
_H = r"[0-9A-Fa-f]{1,4}"
# Full form, or "::"-compressed with at least two groups on the left (so "a::b" in code
# or "12::30" in times is not taken for an address).
_IPV6 = r"\b(?:" + _H + r":){7}" + _H + r"\b|\b(?:" + _H + r":){2,6}:(?:" + _H + r"(?::" + _H + r")*)?"
IP_RE = _IPV4 + "|" + _IPV6
PHONE_RE = r"(?:\+[0-9]{1,3}[ .\-]?)?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]{2,4}(?:[ .\-][0-9]{2,5}){1,4}\b"
CARD_RE = r"\b[0-9](?:[ \-]?[0-9]){12,18}\b"

_DATE = re.compile(r"^[0-9]{4}[.\-/][0-9]{1,2}[.\-/][0-9]{1,2}$|^[0-9]{1,2}[.\-/][0-9]{1,2}[.\-/][0-9]{2,4}$")
_IPV4_FULL = re.compile("^" + _IPV4 + "$")


def _s(name: str, meaning: str) -> Signal:
    return Signal(name, "pii", "v1", "BIGINT", meaning, 0, None, _SRC, None, None)


SIGNALS = (
    _s("pii_email_count", "e-mail addresses"),
    _s("pii_phone_count", "phone numbers (9-15 digits in groups; dates and IPs excluded)"),
    _s("pii_ip_count", "IPv4 and IPv6 addresses"),
    _s("pii_card_count", "payment-card numbers: 13-19 digits passing the Luhn check"),
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
    if _DATE.match(bare) or _IPV4_FULL.match(bare):
        return False
    return not is_card(bare)


def _count_valid(series: pl.Series, pattern: str, valid) -> pl.Series:
    """Count regex matches that pass `valid`, calling Python only on documents with matches."""
    counts = [0] * len(series)
    hits = series.str.count_matches(pattern)
    rows = (hits > 0).arg_true()
    if len(rows):
        found = series.gather(rows).str.extract_all(pattern).to_list()
        for row, cands in zip(rows.to_list(), found):
            counts[row] = sum(1 for cand in cands if valid(cand))
    return pl.Series(counts, dtype=pl.Int64)


def score(b: Batch) -> pl.DataFrame:
    t = b.text
    return pl.DataFrame(
        {
            "pii_email_count": t.str.count_matches(EMAIL_RE).cast(pl.Int64),
            "pii_phone_count": _count_valid(t, PHONE_RE, is_phone),
            "pii_ip_count": t.str.count_matches(IP_RE).cast(pl.Int64),
            "pii_card_count": _count_valid(t, CARD_RE, is_card),
        }
    )


_EMAIL_PY = re.compile(EMAIL_RE)
_IP_PY = re.compile(IP_RE)
_CARD_PY = re.compile(CARD_RE)
_PHONE_PY = re.compile(PHONE_RE)


def redact_pii(text: str) -> str:
    """Replace e-mails, IPs, card numbers and phone numbers by [EMAIL], [IP], [CARD], [PHONE].

    Order matters: cards before phones (a card number also looks like a long phone number),
    IPs before phones (an IPv4 address has phone-like digit groups).
    """
    text = _EMAIL_PY.sub("[EMAIL]", text)
    text = _IP_PY.sub("[IP]", text)
    text = _CARD_PY.sub(lambda m: "[CARD]" if is_card(m.group()) else m.group(), text)
    return _PHONE_PY.sub(lambda m: "[PHONE]" if is_phone(m.group()) else m.group(), text)
