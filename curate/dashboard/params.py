"""Shareable state in the URL, every value validated.

The frame's parameters (`parse`): ?slice= (a slice id, or a recipe name: its latest slice, as
the CLI resolves it), ?threshold=, ?doc= (a doc_id, or an external id) and ?page= of older
links. The document browser's own (`parse_browse`): ?q=, ?decision=, ?reason=, ?lang=,
?source=, ?offset=.

A value read back from the URL is untrusted text: a bad one becomes a message for the
person and the default, never an exception or a fragment of SQL.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from curate.dashboard.highlight import md_literal

MAX_LEN = 200
MAX_PATTERN = 200  # characters of a text search: one scan of the corpus whatever its length, bounded anyway
PAGE_SIZE = 50
MAX_OFFSET = 10**9
DECISIONS = ("kept", "dropped")


def shown(value: object) -> str:
    """A hostile value made safe to echo in a message (st.warning renders Markdown): truncated,
    quoted, every Markdown character escaped."""
    text = str(value)
    text = text[:40] + ("…" if len(text) > 40 else "")
    return md_literal(repr(text).replace("`", "'").replace("<", "‹").replace(">", "›"))


@dataclass(frozen=True)
class Params:
    page: str | None = None  # the page `?page=` names (links made before st.navigation), else the default
    slice_id: str | None = None
    threshold: float | None = None
    doc_id: str | None = None
    problems: tuple[str, ...] = field(default=())


def _first(raw: Mapping[str, object], key: str) -> str | None:
    value = raw.get(key)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None:
        return None
    return str(value)


def parse(raw: Mapping[str, object], *, slices: Iterable[str], thresholds: Iterable[float],
          pages: Mapping[str, str], doc_exists: Callable[[str], bool] = lambda doc_id: False,
          resolve_slice: Callable[[str], str | None] | None = None,
          resolve_doc: Callable[[str], str | None] | None = None) -> Params:
    """Validate the URL's query parameters against what the store holds.

    `pages`: URL path -> title of the dashboard's pages, the default first (views.page_titles()).
    `slices`: the store's slice ids. `resolve_slice` (a slice id or a recipe name -> the slice id,
    None if there is none; `documents.resolve_slice_key`) and `resolve_doc` (a doc_id or an
    external id -> the doc_id, None if there is none; `documents.resolve_document`) accept what
    the CLI accepts; without them a slice must be one of `slices` and a document a doc_id that
    `doc_exists`.
    """
    problems: list[str] = []
    known_pages = dict(pages)
    default = next(iter(known_pages))
    page = _first(raw, "page")
    if page is None:
        page = default
    elif page not in known_pages:
        problems.append(f"unknown page {shown(page)}; showing the {known_pages[default].lower()} "
                        f"(pages: {', '.join(known_pages)})")
        page = default

    slice_key = _first(raw, "slice")
    known = list(slices)
    slice_id = None
    if slice_key is not None and len(slice_key) <= MAX_LEN:
        slice_id = resolve_slice(slice_key) if resolve_slice else (slice_key if slice_key in known else None)
    if slice_key is not None and slice_id is None:
        problems.append(f"no slice {shown(slice_key)} in this store"
                        + (f" (built: {', '.join(known[:10])})" if known else " (no slices built yet)"))

    threshold = None
    raw_t = _first(raw, "threshold")
    if raw_t is not None:
        available = sorted(thresholds)
        try:
            value = float(raw_t) if len(raw_t) <= 32 else math.nan
        except ValueError:
            value = math.nan
        match = [t for t in available if math.isfinite(value) and abs(t - value) < 1e-9]
        if match:
            threshold = match[0]
        else:
            problems.append(f"threshold {shown(raw_t)} is not one this store has clusters for "
                            f"({', '.join(map(str, available)) or 'none: run `curate dedup`'})")

    doc_key = _first(raw, "doc")
    doc_id = None
    if doc_key is not None and len(doc_key) <= MAX_LEN:
        doc_id = resolve_doc(doc_key) if resolve_doc else (doc_key if doc_exists(doc_key) else None)
    if doc_key is not None and doc_id is None:
        problems.append(f"no document {shown(doc_key)} in this store (a doc_id or an external id)")
    return Params(page, slice_id, threshold, doc_id, tuple(problems))


@dataclass(frozen=True)
class Browse:
    """The document browser's search and filters, as the URL gives them."""

    q: str = ""
    decision: str | None = None  # "kept" | "dropped"
    reason: str | None = None
    lang: str | None = None
    source: str | None = None  # a source_id
    offset: int = 0  # a multiple of PAGE_SIZE
    problems: tuple[str, ...] = field(default=())


def parse_browse(raw: Mapping[str, object], *, reasons: Iterable[str], langs: Iterable[str],
                 sources: Mapping[str, str]) -> Browse:
    """Validate the document browser's parameters.

    `reasons`: the chosen slice's drop reasons (none without a slice), `langs`: the languages the
    store holds, `sources`: source_id -> file of every source; ?source= takes either.
    """
    problems: list[str] = []
    q = _first(raw, "q") or ""
    if len(q) > MAX_PATTERN:
        problems.append(f"the search is cut to its first {MAX_PATTERN} characters")
        q = q[:MAX_PATTERN]

    def one_of(key: str, allowed: Iterable[str], what: str) -> str | None:
        value = _first(raw, key)
        if value is None:
            return None
        options = list(allowed)
        if value in options:
            return value
        listed = ", ".join(shown(o) for o in options[:10]) + (", …" if len(options) > 10 else "")
        problems.append(f"no {what} {shown(value)} here" + (f" (known: {listed})" if options else ""))
        return None

    decision = one_of("decision", DECISIONS, "decision")
    reason = one_of("reason", reasons, "drop reason in this slice")
    lang = one_of("lang", langs, "language")
    by_file = {uri: sid for sid, uri in sources.items()}
    source = _first(raw, "source")
    if source is not None:
        if source in sources:
            pass
        elif source in by_file:
            source = by_file[source]
        else:
            problems.append(f"no source {shown(source)} in this store (a source id or a file)")
            source = None

    offset = 0
    raw_offset = _first(raw, "offset")
    if raw_offset is not None:
        if raw_offset.isascii() and raw_offset.isdigit() and len(raw_offset) <= 10 and int(raw_offset) <= MAX_OFFSET:
            offset = int(raw_offset) // PAGE_SIZE * PAGE_SIZE
        else:
            problems.append(f"offset {shown(raw_offset)} is not a row number; showing the first page")
    return Browse(q, decision, reason, lang, source, offset, tuple(problems))
