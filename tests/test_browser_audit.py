"""The audit page's main questions in headless Chromium, on a store the real pipeline built.

How dirty is the corpus (the headline tiles, against `queries.headline`), what does the recipe
drop and why (the drop-reason chart names lang_not_allowed, quality_below_min and
near_duplicate, the reasons the issue found missing), and the histogram of a bounded signal
with the recipe's threshold drawn on it. The store: three files of the sample corpus ingested,
scored, deduplicated, the quality classifier trained on them, one English recipe with Gopher's
rules, a quality floor and both dedup steps (about a minute). Vega draws SVG in the dashboard,
so a chart's labels are text in the page.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from curate.dashboard import queries
from curate.dashboard.source import read_store
from tests.browser_helpers import ARTIFACTS, chromium, dashboard, new_page, require_browser, settle

pytestmark = pytest.mark.browser

CORPUS = Path(__file__).resolve().parents[1] / "sample_data" / "corpus"
RECIPE = """name: en-gopher
filters:
  lang: {allow: [en]}
  gopher_quality: defaults
  quality: {min: 0.2}
dedup: {exact: true, near_threshold: 0.8}
"""


def _curate(*args: str) -> None:
    cmd = [sys.executable, "-c", "import sys; from curate.cli import main; sys.exit(main())", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"curate {' '.join(args)}: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("real")
    db = folder / "store.duckdb"
    files = [CORPUS / name for name in ("forum.parquet", "notes.csv", "web-001.jsonl.zst")]
    if not all(f.exists() for f in files):
        pytest.skip("the sample corpus is not built (python sample_data/build.py)")
    recipe = folder / "en-gopher.yaml"
    recipe.write_text(RECIPE)
    _curate("ingest", "--db", str(db), "-q", *map(str, files))
    _curate("score", "--db", str(db), "-q")
    _curate("dedup", "--db", str(db), "-q", "--threshold", "0.8")
    _curate("quality", "train", "--db", str(db), "-q")
    _curate("slice", str(recipe), "--db", str(db), "-q")
    return db


@pytest.fixture(scope="module")
def server(real_store):
    require_browser()
    with dashboard(real_store) as url:
        yield url


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        yield new_page(browser)


def _open_audit(page, server) -> None:
    page.goto(f"{server}/")
    page.get_by_role("heading", name="Corpus audit").first.wait_for(timeout=60_000)
    settle(page, timeout_ms=60_000, draw_ms=1500)
    assert page.locator('[data-testid="stException"]').count() == 0


def _chart_texts(page, index: int) -> list[str]:
    """The text marks and axis labels of the page's index-th Vega chart."""
    return page.locator(".vega-embed").nth(index).locator("svg text").all_text_contents()


def _chart_with(page, text: str) -> list[str]:
    for i in range(page.locator(".vega-embed").count()):
        texts = _chart_texts(page, i)
        if any(text in t for t in texts):
            return texts
    raise AssertionError(f"no chart on the page shows {text!r}")


def test_headline_tiles_show_the_corpus_dirt(server, page, real_store):
    with read_store(real_store) as (con, _):
        tiles = queries.headline(con).tiles()
        alerts = queries.kept_alerts(queries.kept_by_group(con))
    _open_audit(page, server)
    boxes = page.locator('[data-testid="stMetric"]')
    shown = [(boxes.nth(i).locator('[data-testid="stMetricLabel"]').inner_text().strip(),
              boxes.nth(i).locator('[data-testid="stMetricValue"]').inner_text().strip())
             for i in range(len(tiles))]
    assert shown == [(t.label, t.value) for t in tiles]  # the first tiles, in order, with the query's figures
    labels = [label for label, _ in shown]
    assert labels[:2] == ["outside a default", "exact duplicates"] and "near dups (J ≥ 0.8)" in labels
    assert all(value.endswith("%") for _, value in shown)
    # the recipe keeps English only: the page says at once which languages it wipes out
    assert alerts and alerts[0].startswith("en-gopher (keeps ") and "keeps nothing of" in alerts[0]
    warning = page.locator('[data-testid="stAlert"]', has_text="keeps nothing of").first.inner_text()
    assert alerts[0].split(" (", 1)[0] in warning and "languages" in warning
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit-headline.png"))


def test_drop_reasons_name_language_quality_and_near_duplicates(server, page, real_store):
    with read_store(real_store) as (con, _):
        slice_id = queries.latest_slices(con).iloc[0]["slice_id"]
        rules = queries.rule_drops(con, slice_id).set_index("reason")
    for reason in ("lang_not_allowed", "quality_below_min", "near_duplicate"):
        assert rules.loc[reason, "first"] > 0, reason  # the recipe drops documents for each
    _open_audit(page, server)
    texts = _chart_with(page, "lang_not_allowed")
    for reason in ("lang_not_allowed", "quality_below_min", "near_duplicate"):
        assert reason in texts, (reason, texts)
        first, alone = int(rules.loc[reason, "first"]), int(rules.loc[reason, "alone"])
        assert f"{first:,} · {alone:,} alone" in texts  # both counts, on the bar
    assert texts.index("lang_not_allowed") < texts.index("quality_below_min")  # most dropped first
    for family in ("language", "quality", "near duplicates"):
        assert family in texts  # the legend, none cut off
    page.locator(".vega-embed").filter(has_text="lang_not_allowed").first.screenshot(
        path=str(ARTIFACTS / "audit-drop-reasons.png"))


def test_histogram_of_a_bounded_signal_draws_the_recipe_threshold(server, page, real_store):
    from curate.audit import bounds
    from curate.dashboard.charts import bound_rows

    _open_audit(page, server)
    # the default signal is one of the recipe's numeric rules, its bound drawn and labelled
    box = page.get_by_role("combobox", name="Signal")
    name = box.input_value().split(" — ")[0]
    assert name.startswith(("gopher_", "quality")), name
    with read_store(real_store) as (con, _):
        h = queries.histogram(con, name)
        drawn = bound_rows(bounds(con, name, queries.latest_slices(con).iloc[0]["slice_id"]),
                           float(h.bins["bin_lo"].min()), float(h.bins["bin_hi"].max()))
    assert any("en-gopher" in label for label in drawn["label"])  # gopher_quality: defaults
    texts = _chart_with(page, "en-gopher")
    assert name in texts and set(drawn["label"]) <= set(texts)
    # quality: bounded 0..1, no published default, the recipe's floor at 0.2
    box.click()
    box.fill("quality — calibrated")
    page.wait_for_timeout(500)
    page.keyboard.press("Enter")
    settle(page, timeout_ms=60_000, draw_ms=1500)
    assert box.input_value().startswith("quality — ")
    texts = _chart_with(page, "en-gopher min 0.2")
    assert "quality" in texts  # the axis title: this is the quality histogram
    assert not any("published default" in t for t in texts)  # quality has no published default
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text="bounds:").first.inner_text()
    assert "bounds: en-gopher min 0.2." in caption and "0.5th to the 99.5th percentile" in caption
    page.locator(".vega-embed").filter(has_text="en-gopher min 0.2").first.screenshot(
        path=str(ARTIFACTS / "audit-histogram.png"))
