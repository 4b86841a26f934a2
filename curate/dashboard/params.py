"""Shareable state in the URL (?slice=&threshold=&doc=, and ?page= of older links), every value validated.

A value read back from the URL is untrusted text: a bad one becomes a message for the
person and the default, never an exception or a fragment of SQL.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from curate.dashboard.highlight import md_literal

MAX_LEN = 200


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
          pages: Mapping[str, str], doc_exists=lambda doc_id: False) -> Params:
    """Validate the URL's query parameters against what the store holds.

    `pages`: URL path -> title of the dashboard's pages, the default first (views.page_titles()).
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

    slice_id = _first(raw, "slice")
    known = list(slices)
    if slice_id is not None and (len(slice_id) > MAX_LEN or slice_id not in known):
        problems.append(f"no slice {shown(slice_id)} in this store"
                        + (f" (built: {', '.join(known[:10])})" if known else " (no slices built yet)"))
        slice_id = None

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

    doc_id = _first(raw, "doc")
    if doc_id is not None and (len(doc_id) > MAX_LEN or not doc_exists(doc_id)):
        problems.append(f"no document {shown(doc_id)} in this store")
        doc_id = None
    return Params(page, slice_id, threshold, doc_id, tuple(problems))
