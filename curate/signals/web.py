"""What the HTML extractor threw away: boilerplate and link density of the page a document
was extracted from (WARC/WET and .html inputs, curate/web/).

The page is gone once its main text is stored, so these values are counted at ingest from
the parsed page (curate/web/extract.py) and kept in the document's metadata under
`web_extraction`; `page_signals` below is the one definition of each value, and
`curate.web.scores` copies them into the signals table after each scoring run. A document
that came without HTML (JSONL, Parquet, CSV, text, WET records) has nulls, which every
recipe rule passes (a missing value is not evidence against a document). Definitions:

- `web_boilerplate_frac`: 1 - (main-text characters / visible characters of the page),
  whitespace not counted, clipped to [0, 1]. Menus, sidebars, footers and cookie banners are
  what an extractor discards: on the sample crawl (resiliparse) the median documentation page
  is at 0.28, link farms at 0.99 and cookie walls at 0.96; keyword-stuffed SEO pages are
  text, not boilerplate (0.08), and are the text signals' job. Null when the page has no
  visible text.
- `web_link_char_frac`: share of the page's visible characters inside `<a>` elements: the
  link density of jusText and boilerpipe (Kohlschütter et al. 2010), over the whole page.
- `web_links_per_100_words`: `<a href>` links of the page per 100 words of the main text
  (words: whitespace-separated): a page of links around a few lines of text scores high.

None has a published threshold: the extractor already decided what the main text is, and
these let a recipe decide which pages were mostly something else (`{max: 0.9}`).
"""
from __future__ import annotations

import polars as pl

from curate.signals.batch import Batch
from curate.signals.registry import Family

META_KEY = "web_extraction"

FAMILY = Family("web", source="Kohlschütter et al. 2010 (boilerpipe): link density and text share of page blocks; "
                              "FineWeb (Penedo et al. 2024): main text by trafilatura")
SIGNALS = (
    FAMILY.signal(
        name="web_boilerplate_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="share of the page's visible text (no whitespace) that the HTML extractor discarded as "
                "boilerplate (menus, sidebars, footers, banners); null without HTML",
    ),
    FAMILY.signal(
        name="web_link_char_frac", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="share of the page's visible text inside links (<a>): link density; null without HTML",
    ),
    FAMILY.signal(
        name="web_links_per_100_words", dtype="DOUBLE", lo=0, version="v1",
        meaning="<a href> links on the page per 100 words of its main text; null without HTML",
    ),
)
NAMES = tuple(s.name for s in SIGNALS)


def page_signals(*, main_chars: int, main_words: int, visible_chars: int, link_chars: int,
                 links: int) -> dict[str, float | None]:
    """The `web` signals of one page from its counts (see the module's docstring)."""
    if visible_chars <= 0:
        boilerplate = link_frac = None
    else:
        boilerplate = min(1.0, max(0.0, 1.0 - main_chars / visible_chars))
        link_frac = min(1.0, link_chars / visible_chars)
    per_words = 100.0 * links / max(main_words, 1)
    return dict(zip(NAMES, (boilerplate, link_frac, per_words)))


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    """Null from the text alone: filled from the documents' metadata by curate.web.scores."""
    return pl.DataFrame({s.name: pl.Series([None] * b.n, dtype=pl.Float64) for s in SIGNALS})
