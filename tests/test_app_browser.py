"""End to end: the real server on localhost, every page in headless Chromium, a slider moved.

Uses the system Chromium (Debian's `chromium` package) through Playwright; never downloads a
browser. Screenshots land in test-artifacts/ for a person to look at.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from curate import store
from curate.dashboard.launch import serve
from curate.dashboard.synthetic import build_store
from tests.dashboard_helpers import Holder

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PAGES = {"audit": "Corpus audit", "explorer": "Settings explorer", "compare": "Slice comparison",
         "validation": "Validation", "runs": "Runs"}


@pytest.fixture(scope="module")
def browser_store(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("browser") / "store.duckdb", 400, seed=4, train=True)


@pytest.fixture(scope="module")
def server(browser_store):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no system Chromium: apt-get install -y chromium")
    pytest.importorskip("playwright", reason="pip install playwright (the browser itself comes from apt)")
    try:
        proc, url = serve(browser_store)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def _settle(page, timeout_ms: int = 30_000) -> None:
    """Wait until the script run has finished: no running icon, no skeleton placeholders."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], """
        """[data-testid="stStatusWidgetRunningManIcon"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""", timeout=timeout_ms)
    page.wait_for_timeout(800)  # let the Vega charts draw


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_renders(server, page, name):
    page.goto(f"{server}/?page={name}")
    page.get_by_role("heading", name=PAGES[name]).first.wait_for(timeout=30_000)
    _settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"), full_page=True)


def test_an_old_link_lands_at_the_page_address(server, page):
    """`?page=NAME` from before st.navigation: page NAME, at /NAME, the link's other parameters kept."""
    from urllib.parse import parse_qs, urlparse

    page.goto(f"{server}/?page=explorer&threshold=0.8")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    _settle(page)
    page.wait_for_function("() => window.location.pathname === '/explorer'", timeout=30_000)
    url = urlparse(page.url)
    assert parse_qs(url.query) == {"threshold": ["0.8"]}
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.parametrize("name", [n for n in PAGES if n != "audit"])
def test_each_page_opens_at_its_address(server, page, name):
    page.goto(f"{server}/{name}")
    page.get_by_role("heading", name=PAGES[name]).first.wait_for(timeout=30_000)
    _settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    # and the navigation menu reaches the default page, at /
    page.locator('[data-testid="stSidebarNav"] a', has_text="Corpus audit").first.click()
    page.get_by_role("heading", name="Corpus audit").first.wait_for(timeout=30_000)
    _settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_slider_moves_the_count(server, page):
    page.goto(f"{server}/?page=explorer")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    _settle(page)
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
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "app-explorer-moved.png"), full_page=True)
    assert int(after.replace(",", "")) < int(before.replace(",", ""))
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_slider_move_sees_a_changed_store(server, page, browser_store):
    """A move reruns the explorer's fragment alone; it must still notice that the store has changed."""
    page.goto(f"{server}/?page=explorer")
    page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
    _settle(page)
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
        _settle(page)
    assert int(_metric(page, "surviving documents").replace(",", "")) == before + 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_slider_move_sees_the_job_end(server, page, browser_store):
    """The snapshot notice goes at the first move after the job lets go of the store."""
    store.publish_snapshot(browser_store)
    with Holder(browser_store, new_run=99):
        page.goto(f"{server}/?page=explorer")
        page.get_by_role("heading", name="Settings explorer").first.wait_for(timeout=30_000)
        _settle(page)
        assert page.get_by_text("a job is running; showing data as of run").count() == 1
    thumb = page.locator('input[type="range"][aria-label="quality — start"]')
    thumb.focus()
    page.keyboard.press("ArrowRight")
    _settle(page)
    assert page.get_by_text("a job is running").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
