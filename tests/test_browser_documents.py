"""The document browser in headless Chromium: a search typed into the page lists the documents
that hold the words, a row's link opens the document in a new tab and a selected row opens it in
place; the injection document fetches nothing and shows no link."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate.dashboard.source import read_store  # noqa: E402
from tests.browser_helpers import ARTIFACTS, chromium, dashboard, new_page, require_browser, settle  # noqa: E402
from tests.test_documents_page import EVIL_ID, build_corpus  # noqa: E402

pytestmark = pytest.mark.browser
HEADER_PX = ROW_PX = 35  # st.dataframe's header and row heights
LINK_X = 62  # inside the first column's link text, right of the row-selection checkboxes
CHECKBOX_X = 15


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("browser-documents"))


@pytest.fixture(scope="module")
def server(corpus):
    require_browser()
    with dashboard(corpus) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _doc_ids(corpus: Path, *external_ids: str) -> list[str]:
    with read_store(corpus) as (con, _):
        return [con.execute("SELECT doc_id FROM documents WHERE external_id = ?", [e]).fetchone()[0]
                for e in external_ids]


def _rows(page) -> list[list[str]]:
    """The list of documents as the grid exposes it to assistive technology: one list of cell
    texts per row (the grid itself is drawn on a canvas)."""
    grid = page.locator('[data-testid="stDataFrame"]').last
    return [[c.text_content() for c in row.locator('[role="gridcell"]').all()]
            for row in grid.locator('tbody [role="row"]').all()]


def _row_point(page, row: int, x: float) -> tuple[float, float]:
    box = page.locator('[data-testid="stDataFrame"]').last.locator("canvas").first.bounding_box()
    return box["x"] + x, box["y"] + HEADER_PX + ROW_PX * row + ROW_PX / 2


def test_a_typed_search_lists_the_documents_and_opens_one(server, browser, corpus):
    a003, a017, a042 = _doc_ids(corpus, "a-003", "a-017", "a-042")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server}/documents?slice=wordy")
    page.get_by_role("heading", name="Documents").first.wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_text("1–50 of 74").count() == 1
    box = page.locator('input[aria-label="Search all documents"]')
    box.fill("HELIOTROPE")
    box.press("Enter")
    page.get_by_text("1–3 of 3").wait_for(timeout=30_000)
    settle(page)
    rows = _rows(page)
    assert [r[1] for r in rows] == ["a-003", "a-017", "a-042"]  # external ids, in doc_id order
    assert [r[0] for r in rows] == [f"documents?doc={d}&slice=wordy" for d in (a003, a017, a042)]
    assert all(r[2] == "kept" for r in rows) and all("heliotrope" in r[5].lower() for r in rows)
    assert parse_qs(urlparse(page.url).query) == {"slice": ["wordy"], "q": ["HELIOTROPE"]}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "documents-search.png"), full_page=True)

    x, y = _row_point(page, 0, LINK_X)
    with context.expect_page(timeout=30_000) as opened:
        page.mouse.move(x - 2, y)  # a link cell follows a click only once the pointer hovers over it
        page.wait_for_timeout(300)
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
    tab = opened.value
    tab.get_by_role("heading", name=f"Document {a003}").wait_for(timeout=30_000)
    settle(tab)
    assert parse_qs(urlparse(tab.url).query) == {"doc": [a003], "slice": ["wordy"]}
    assert tab.get_by_text("Kept", exact=True).count() == 1 and "heliotrope" in tab.locator(
        '[data-testid="stMain"]').inner_text()
    assert tab.locator('[data-testid="stException"]').count() == 0
    tab.close()

    page.mouse.click(*_row_point(page, 1, CHECKBOX_X))  # select the second row: it opens here
    page.get_by_role("heading", name=f"Document {a017}").wait_for(timeout=30_000)
    settle(page)
    assert parse_qs(urlparse(page.url).query)["doc"] == [a017]
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "documents-opened.png"), full_page=True)
    context.close()


def test_the_injection_document_fetches_nothing_and_shows_no_link(server, browser, corpus):
    (evil,) = _doc_ids(corpus, EVIL_ID)
    page = new_page(browser)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server}/documents?doc={quote(EVIL_ID, safe='')}&slice=wordy")
    page.get_by_role("heading", name=f"Document {evil}").wait_for(timeout=30_000)
    page.wait_for_function("t => document.body.innerText.includes(t)", arg="[click](http://evil.example)",
                           timeout=30_000)
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    shown = main.inner_text()
    assert "![t](http://127.0.0.1:9/track.png)" in shown and "<script>alert(1)</script>" in shown
    assert EVIL_ID in shown and "javascript:alert(1)" in shown  # the external id and the metadata, as text
    assert page.locator('[data-testid="stException"]').count() == 0
    assert main.locator("img").count() == 0
    assert page.locator('a[href*="evil.example"], a[href^="javascript:"]').count() == 0
    assert page.locator('img[src*="127.0.0.1:9"]').count() == 0
    assert page.locator("script", has_text="alert(1)").count() == 0
    hrefs = [a.get_attribute("href") for a in main.locator("a").all()]
    # the page's own: its permalink and the headings' anchors
    assert any(h.startswith("documents?doc=") for h in hrefs) and all(
        h.startswith(("documents?doc=", "#")) for h in hrefs), hrefs
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "documents-injection.png"), full_page=True)
    page.close()
    assert not [u for u in requested if urlparse(u).netloc in ("127.0.0.1:9", "evil.example", "www.evil.example")]
    assert {urlparse(u).netloc for u in requested} == {urlparse(server).netloc}  # the dashboard's server only
