"""Terminal output: plain tables on stdout, progress and logs on stderr.

Progress goes to stderr only when it is a terminal and --quiet is off, so cron mails
and piped output stay clean.
"""
from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator, Sequence

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


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    numeric = [all(_is_num(r[i]) for r in rows) if rows else False for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


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
