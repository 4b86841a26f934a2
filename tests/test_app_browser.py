"""End to end: the real server on localhost, every page in headless Chromium, a slider moved.

Uses the system Chromium (Debian's `chromium` package) through Playwright; never downloads a
browser. Screenshots land in test-artifacts/ for a person to look at.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from curate import store
from curate.dashboard.synthetic import build_store
from tests.browser_helpers import ARTIFACTS, chromium, dashboard, new_page, require_browser, settle
from tests.dashboard_helpers import Holder

pytestmark = pytest.mark.browser

PAGES = {"audit": "Corpus audit", "documents": "Documents", "explorer": "Settings explorer",
         "compare": "Slice comparison", "validation": "Validation", "runs": "Runs"}


@pytest.fixture(scope="module")
def browser_store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("browser") / "store.duckdb", 400, seed=4, train=True)


@pytest.fixture(scope="module")
def server(browser_store):
    require_browser()
    with dashboard(browser_store) as url:
        yield url


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        yield new_page(browser)


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_renders(server, page, name):
    page.goto(f"{server}/?page={name}")
    page.get_by_role("heading", name=PAGES[name]).first.wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"), full_page=True)


def test_an_old_link_lands_at_the_page_address(server, page):
    """`?page=NAME` from before st.navigation: page NAME, at /NAME, the link's other parameters kept."""
    from urllib.parse import parse_qs, urlparse

    page.goto(f"{server}/?page=explorer&threshold=0.8")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    settle(page)
    page.wait_for_function("() => window.location.pathname === '/explorer'", timeout=30_000)
    url = urlparse(page.url)
    assert parse_qs(url.query) == {"threshold": ["0.8"]}
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.parametrize("name", [n for n in PAGES if n != "audit"])
def test_each_page_opens_at_its_address(server, page, name):
    page.goto(f"{server}/{name}")
    page.get_by_role("heading", name=PAGES[name]).first.wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    # and the navigation menu reaches the default page, at /
    page.locator('[data-testid="stSidebarNav"] a', has_text="Corpus audit").first.click()
    page.get_by_role("heading", name="Corpus audit").first.wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_slider_moves_the_count(server, page):
    page.goto(f"{server}/?page=explorer")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    settle(page)
    before = _metric(page, "surviving documents")
    thumb = page.locator('input[type="range"][aria-label="quality — start"]')
    thumb.focus()
    for _ in range(80):  # keyboard steps: 80 of the 200 steps across the observed range
        page.keyboard.press("ArrowRight")
    deadline = time.monotonic() + 15
    after = before
    while after == before and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        after = _metric(page, "surviving documents")
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "app-explorer-moved.png"), full_page=True)
    assert int(after.replace(",", "")) < int(before.replace(",", ""))
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_slider_move_sees_a_changed_store(server, page, browser_store):
    """A move reruns the explorer's fragment alone; it must still notice that the store has changed."""
    page.goto(f"{server}/?page=explorer")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    settle(page)
    before = int(_metric(page, "surviving documents").replace(",", ""))
    kept_id = page.locator('[data-testid="stMarkdown"]', has_text="Kept (sample)").first.locator(
        "xpath=ancestor::*[@data-testid='stVerticalBlock'][1]").locator("code").first.inner_text()
    with store.open_store(browser_store) as con:  # another copy of a kept document: kept too
        con.execute("INSERT INTO documents SELECT 'copy-1', source_id, record_no + 100000, external_id, text, "
                    "'h-copy-1', n_bytes, metadata, run_id FROM documents WHERE doc_id = ?", [kept_id])
        con.execute("INSERT INTO signals SELECT * REPLACE ('copy-1' AS doc_id) FROM signals WHERE doc_id = ?",
                    [kept_id])
    thumb = page.locator('input[type="range"][aria-label="quality — start"]')
    for key in ("ArrowRight", "ArrowLeft"):  # away and back: the same settings as before
        thumb.focus()
        page.keyboard.press(key)
        settle(page)
    assert int(_metric(page, "surviving documents").replace(",", "")) == before + 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_slider_move_sees_the_job_end(server, page, browser_store):
    """The snapshot notice goes at the first move after the job lets go of the store."""
    store.publish_snapshot(browser_store)
    with Holder(browser_store, new_run=99):
        page.goto(f"{server}/?page=explorer")
        page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
        settle(page)
        assert page.get_by_text("a job is running; showing data as of run").count() == 1
    thumb = page.locator('input[type="range"][aria-label="quality — start"]')
    thumb.focus()
    page.keyboard.press("ArrowRight")
    settle(page)
    assert page.get_by_text("a job is running").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
