"""Signals that only the whole corpus can give: how much of a document recurs in others.

CCNet (Wenzek et al. 2019, Sec. 3.1) removes the paragraphs that occur in many documents of
a shard: navigation menus, cookie warnings, footers and other template text repeat verbatim
across the pages of a crawl, while an author's own lines rarely do. We keep the document
and store the share of its characters in such lines, so a recipe decides (`{max: 0.3}`
drops pages that are mostly template). Definition, where the paper leaves room:

- a line is a `\\n`-separated line with spaces and tabs trimmed; lines under 10 characters
  ("Home", "1.", a blank) never count, since short lines repeat by chance;
- it is *common* when it occurs in at least 5 documents with different normalized text
  (`text_hash`): exact copies of one text count once, so a duplicated document does not make
  its own lines common; near-duplicate copies with edits do count separately (5 or more of
  them make their shared lines common; dedup keeps one of them, this rule would drop them all);
- the value is the characters of the document's common line occurrences / all its characters.

The value depends on the other documents, so the per-document scorers leave it null and
`curate.dedup.lines` fills it for every document after each scoring run (one SQL pass in
the store). It has no published threshold.
"""
from __future__ import annotations

import polars as pl

from curate.signals.batch import Batch
from curate.signals.registry import Family

MIN_LINE_CHARS = 10
MIN_DOCUMENTS = 5

FAMILY = Family("corpus", source="Wenzek et al. 2019 (CCNet), Sec. 3.1: paragraph-level dedup across a shard")
SIGNALS = (
    FAMILY.signal(
        name="common_line_char_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning=f"share of the document's characters in lines (>= {MIN_LINE_CHARS} chars) that occur in "
                f">= {MIN_DOCUMENTS} documents with other text: template text (menus, cookie banners, footers)",
    ),
)


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    """Null: computed over the whole store by curate.dedup.lines after scoring."""
    return pl.DataFrame({s.name: pl.Series([None] * b.n, dtype=pl.Float64) for s in SIGNALS})
