"""Which lines of a document made it fail a rule, and documents as escaped HTML for the pages.

Nothing a document holds is ever interpreted on a page: its text becomes escaped HTML with
every line break turned into <br> (for st.html, which runs no Markdown), and an id, a reason or
a file name that has to sit in Markdown (a label, a caption) goes through md_literal or md_code.

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

from curate.signals import pii
from curate.signals.c4 import POLICY_PHRASES

_TERMINAL = tuple(".!?。！？؟।॥…\"'”’»」』）)")
_BULLET = re.compile(r"^\s*[•\-*‣◦▪●·]")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
_SUFFIXES = ("_below_min", "_above_max", "_not_allowed")
# Every line separator str.splitlines() honours, as the scorers split lines (signals/text.py).
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def split_lines(text: str) -> list[str]:
    """The text's lines, split on "\n" after every other line break became one."""
    return _LINE_BREAKS.sub("\n", text).split("\n")


def md_literal(value: object) -> str:
    """`value` as Markdown that renders as exactly its characters: ASCII punctuation is
    backslash-escaped (CommonMark's escapes; this also stops links, images, HTML, emphasis,
    Streamlit's :color[...] directives and $math$), line breaks become spaces. "_" and "-"
    between letters or digits stay as they are (they mark nothing there), so ids and reason
    codes read the same."""
    text = " ".join(split_lines(str(value)))
    out = []
    for i, ch in enumerate(text):
        if ch in _ASCII_PUNCT and not (ch in "_-" and 0 < i < len(text) - 1 and text[i - 1].isalnum()
                                       and text[i + 1].isalnum()):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def label_name(value: object, fallback: str) -> str:
    """A name for a widget label, which Streamlit renders as Markdown after undoing its escapes
    (an escaped URL there becomes a live link): `value` where it is only letters, digits, "_"
    and "-", else `fallback` (a doc_id, which always is)."""
    text = "" if value is None else str(value)
    return text if _PLAIN_ID.fullmatch(text) else fallback


def identity_html(fields: list[tuple[str, object]]) -> str:
    """One line naming a document, `label value · label value`, as escaped HTML (st.html): the
    values are the corpus's own (external ids, file names) and are never Markdown source."""
    parts = [f"{html.escape(label)} <code>{html.escape(' '.join(split_lines(str(value))))}</code>"
             for label, value in fields if value is not None]
    return '<div style="font-size:0.85em;color:#555">' + " · ".join(parts) + "</div>"


def md_code(value: object) -> str:
    """`value` as a Markdown code span: literal whatever it holds (the fence is longer than
    any run of backticks inside it)."""
    text = " ".join(split_lines(str(value)))
    longest = max((len(m) for m in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


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
    **{name: _each(lambda s, n=name: bool(pii.pii_spans(s, n))) for name, _, _ in pii.KINDS},
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
    return rule(split_lines(text))


def highlight_html(text: str, lines: set[int], max_chars: int = 5000) -> str:
    """The text as escaped HTML, offending lines wrapped in <mark>, no raw line break left;
    safe to render as HTML (st.html), never as Markdown."""
    shown = text[:max_chars]
    out = []
    for i, line in enumerate(split_lines(shown)):
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
