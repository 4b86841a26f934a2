"""Which lines of a document made it fail a rule, and documents as escaped HTML for the pages.

The scorers work on whole batches in polars and keep no per-line flags, so this module
re-applies each line-level rule to one document's lines. The predicates follow the scorers'
definitions (C4's javascript/policy/lorem lines, Gopher's bullets/ellipses/repeats, FineWeb's
short and unpunctuated lines); terminal punctuation uses a fixed character set rather than
Unicode's Sentence_Terminal property, so a rare script's full stop may go unmarked.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

from curate.signals.c4 import POLICY_PHRASES
from curate.signals.pii import CARD_RE, EMAIL_RE, IP_RE, PHONE_RE

_TERMINAL = tuple(".!?。！？؟।॥…\"'”’»」』）)")
_BULLET = re.compile(r"^\s*[•\-*‣◦▪●·]")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
_SUFFIXES = ("_below_min", "_above_max", "_not_allowed")


def _repeats(lines: list[str]) -> set[int]:
    seen: set[str] = set()
    out = set()
    for i, line in enumerate(lines):
        key = line.strip()
        if key and key in seen:
            out.add(i)
        seen.add(key)
    return out


def _each(pred: Callable[[str], bool]) -> Callable[[list[str]], set[int]]:
    return lambda lines: {i for i, line in enumerate(lines) if line.strip() and pred(line)}


def _pattern(p: str) -> Callable[[list[str]], set[int]]:
    rx = re.compile(p)
    return _each(lambda line: rx.search(line) is not None)


def _unpunctuated(line: str) -> bool:
    return not line.rstrip().endswith(_TERMINAL)


_RULES: dict[str, Callable[[list[str]], set[int]]] = {
    "c4_javascript_line_count": _each(lambda s: "javascript" in s.lower()),
    "c4_policy_line_count": _each(lambda s: any(p in s.lower() for p in POLICY_PHRASES)),
    "c4_lorem_ipsum_count": _each(lambda s: "lorem ipsum" in s.lower()),
    "c4_curly_bracket_count": _each(lambda s: "{" in s),
    "c4_sentence_count": _each(_unpunctuated),
    "c4_terminal_punct_line_frac": _each(_unpunctuated),
    "c4_kept_line_frac": _each(lambda s: _unpunctuated(s) or "javascript" in s.lower()),
    "fineweb_punct_line_frac": _each(_unpunctuated),
    "fineweb_short_line_frac": _each(lambda s: len(s.strip()) <= 30),
    "fineweb_dup_line_char_frac": _repeats,
    "gopher_dup_line_frac": _repeats,
    "gopher_dup_line_char_frac": _repeats,
    "gopher_bullet_line_frac": _each(lambda s: _BULLET.match(s) is not None),
    "gopher_ellipsis_line_frac": _each(lambda s: _ELLIPSIS_END.search(s) is not None),
    "gopher_ellipsis_word_ratio": _pattern(r"\.\.\.|…"),
    "gopher_hash_word_ratio": _each(lambda s: "#" in s),
    "replacement_char_frac": _each(lambda s: "\ufffd" in s),
    "control_char_frac": _pattern(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"),
    "pii_email_count": _pattern(EMAIL_RE),
    "pii_ip_count": _pattern(IP_RE),
    "pii_phone_count": _pattern(PHONE_RE),
    "pii_card_count": _pattern(CARD_RE),
}


def signal_of(reason: str | None) -> str | None:
    """`gopher_dup_line_frac_above_max` -> `gopher_dup_line_frac`; other reasons -> None."""
    if not reason:
        return None
    for suffix in _SUFFIXES:
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return None


def offending_lines(text: str, reason: str | None) -> set[int]:
    """0-based indexes of the lines (split on newlines) that the reason's rule counts against."""
    rule = _RULES.get(signal_of(reason) or "")
    if rule is None:
        return set()
    return rule(text.split("\n"))


def highlight_html(text: str, lines: set[int], max_chars: int = 5000) -> str:
    """The text as escaped HTML, offending lines wrapped in <mark>; safe to render as HTML."""
    shown = text[:max_chars]
    out = []
    for i, line in enumerate(shown.split("\n")):
        esc = html.escape(line) or "&nbsp;"
        out.append(f'<mark style="background:#ffd54f">{esc}</mark>' if i in lines else esc)
    more = f"<br><i>… {len(text) - max_chars:,} more characters</i>" if len(text) > max_chars else ""
    return ('<div style="font-family:monospace;white-space:pre-wrap;font-size:0.85em;'
            'border:1px solid #ddd;padding:0.5em;max-height:24em;overflow:auto">'
            + "<br>".join(out) + more + "</div>")


def samples_html(picked: Iterable[tuple[str, str | None, str]]) -> str:
    """Sampled (doc_id, reason, excerpt) as one escaped HTML block; safe to render as HTML.

    One element rather than two per document: the explorer redraws its samples on every
    slider move, and each element the browser redraws delays the move's answer on screen.
    """
    return "".join(
        f"<p><code>{html.escape(doc_id)}</code>{f' — <b>{html.escape(reason)}</b>' if reason else ''}</p>"
        + highlight_html(excerpt, set())
        for doc_id, reason, excerpt in picked
    )
