"""Terminal output: plain tables, JSON or CSV on stdout, progress and logs on stderr.

Progress goes to stderr only when it is a terminal and --quiet is off, so cron mails
and piped output stay clean. A table fits the terminal it is printed on (its widest text
columns cut with "…"); piped or redirected it is never cut, so grep sees every character.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

# What a terminal would act on instead of showing: C0 controls but tab and newline, DEL, C1
# controls (ESC [ and CSI start colour, cursor and title sequences; CR overwrites a line),
# and the bidirectional overrides and isolates that make text read in another order.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_safe(s: str) -> str:
    """Text with every character a terminal would interpret shown as an escape (`\\x1b`):
    file names, ids and document text from a corpus are the user's data, not our output."""
    return _UNSAFE.sub(_escape, s)


class _SafeStream:
    """A text stream that writes terminal_safe text: everything curate prints goes through it."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, s: str) -> int:
        self.raw.write(terminal_safe(s))
        return len(s)

    def __getattr__(self, name):
        return getattr(self.raw, name)


@contextlib.contextmanager
def safe_output() -> Iterator[None]:
    """For one command: stdout and stderr show a corpus's control characters as escapes."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeStream(sys.stdout), _SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# A text column is never cut below this many characters (headers included): less reads as nothing.
MIN_CUT_WIDTH = 8
ELLIPSIS = "…"


def terminal_width() -> int | None:
    """The width to fit tables to: the terminal's when stdout is one, else None (no limit)."""
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):  # replaced by something without isatty, or closed
        return None
    return shutil.get_terminal_size().columns


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 *, width: int | None | Literal["terminal"] = "terminal") -> str:
    """A plain table: numbers right-aligned, one line per row.

    `width` "terminal" fits the table to the terminal stdout is (terminal_width; no limit when
    piped); a number fits it to that many columns; None never cuts. Fitting (_fit) narrows the
    widest text columns first, never below MIN_CUT_WIDTH, and never cuts a number; a table
    that cannot fit stays wider.
    """
    limit = terminal_width() if width == "terminal" else width
    cells = [[_fmt(c) for c in row] for row in rows]
    values = [0] * len(headers)
    for row in cells:
        for i, c in enumerate(row):
            values[i] = max(values[i], _width(c))
    widths = [max(_width(h), v) for h, v in zip(headers, values)]
    numeric = [all(_is_num(r[i]) for r in rows) if rows else False for i in range(len(headers))]
    if limit is not None:
        widths = _fit(widths, numeric, limit, values)

    def line(values: Sequence[str]) -> str:
        return "  ".join(_pad(_cut(v, w), w, right=numeric[i])
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _fit(widths: list[int], numeric: list[bool], limit: int, values: list[int]) -> list[int]:
    """Column widths whose table is at most `limit` wide, giving way in this order: the text
    columns but the first (the widest first: all capped at the largest common cap that
    fits), then the headers of number columns wider than their numbers, then the first
    column, which names the row (a run, a signal, a file). Nothing is cut below
    MIN_CUT_WIDTH, and no number ever (a cut number would read as another number)."""
    gaps = 2 * (len(widths) - 1)
    if sum(widths) + gaps <= limit:
        return widths
    floor = [max(values[i], MIN_CUT_WIDTH) if numeric[i] else MIN_CUT_WIDTH for i in range(len(widths))]
    text = [i for i, n in enumerate(numeric) if not n]
    numbers = [i for i, n in enumerate(numeric) if n]
    fitted = list(widths)
    for cut in ([i for i in text if i != 0], numbers, [0]):
        cut = [i for i in cut if fitted[i] > floor[i]]
        if not cut:
            continue

        def capped(cap: int, cut=cut, base=fitted) -> list[int]:
            return [max(min(w, floor[i]), min(w, cap)) if i in cut else w for i, w in enumerate(base)]

        lo, hi = 0, max(widths)  # the largest cap whose table fits, by bisection
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if sum(capped(mid)) + gaps <= limit:
                lo = mid
            else:
                hi = mid - 1
        fitted = capped(lo)
        if sum(fitted) + gaps <= limit:
            break
    return fitted


def _char_width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _width(s: str) -> int:
    """Columns `s` takes in a terminal: CJK characters take two, combining marks none."""
    return len(s) if s.isascii() else sum(_char_width(c) for c in s)


def _cut(s: str, w: int) -> str:
    if _width(s) <= w:
        return s
    out, used = [], 0
    for c in s:
        cw = _char_width(c)
        if used + cw > w - 1:
            break
        out.append(c)
        used += cw
    return "".join(out) + ELLIPSIS


def _pad(s: str, w: int, *, right: bool) -> str:
    fill = " " * max(0, w - _width(s))
    return fill + s if right else s + fill


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return terminal_safe(str(v).replace("\t", "\\t").replace("\n", "\\n"))  # one cell, one line


class Progress:
    """A one-line progress counter on stderr; silent when quiet or not a terminal."""

    def __init__(self, label: str, total: int | None = None, *, quiet: bool = False, unit: str = "docs"):
        self.label, self.total, self.unit = label, total, unit
        self.enabled = not quiet and sys.stderr.isatty()
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and now - self._last > 0.2:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        total = f"/{self.total:,}" if self.total else ""
        err = getattr(sys.stderr, "raw", sys.stderr)  # the carriage return is ours: past safe_output
        err.write(f"\r{terminal_safe(self.label)}: {self.done:,}{total} {self.unit} ({rate:,.0f}/s)  ")
        err.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            sys.stderr.write("\n")
            sys.stderr.flush()


def log(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr)


# --- machine-readable output: --format json | csv ------------------------------------------

FORMATS = ("table", "json", "csv")


def jsonable(v: object) -> object:
    """A value as JSON has it: numbers stay numbers, NaN and infinities (and every missing
    value: None, NaT, pd.NA) are null, timestamps ISO 8601 in UTC ("Z", as the store keeps
    them), numpy scalars their Python value, anything else its text."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if _missing(v):
        return None
    if isinstance(v, datetime):
        return v.isoformat() + ("Z" if v.tzinfo is None else "")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return jsonable(float(v))
    if hasattr(v, "item") and not isinstance(v, Path):  # numpy scalars
        return jsonable(v.item())
    return str(v)


def _missing(v: object) -> bool:
    """NaT and pd.NA, without importing pandas: they are the values not equal to themselves."""
    try:
        return bool(v != v)
    except TypeError:  # pd.NA: its comparisons are NA, whose truth value is an error
        return True


def _json_escape_unsafe(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def to_json(doc: object) -> str:
    """One JSON document, its strings' terminal controls as \\u escapes (valid JSON, and
    nothing a terminal acts on: the JSON of a hostile corpus is as safe as its table)."""
    text = json.dumps(jsonable(doc), ensure_ascii=False, allow_nan=False, indent=2)
    return _UNSAFE.sub(_json_escape_unsafe, text)


def print_json(doc: object) -> None:
    sys.stdout.write(to_json(doc) + "\n")


def _csv_cell(v: object) -> object:
    v = jsonable(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v


def print_csv(keys: Sequence[str], records: Sequence[dict]) -> None:
    """A header of `keys` and one row per record; empty for null, true/false, lists as JSON."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(keys)
    for r in records:
        writer.writerow([_csv_cell(r.get(k)) for k in keys])
