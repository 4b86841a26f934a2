"""End to end: the real server on localhost, every page in headless Chromium, a slider moved.

Uses the system Chromium (Debian's `chromium` package) through Playwright; never downloads a
browser. Screenshots land in test-artifacts/ for a person to look at.
"""
from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from curate.dashboard.launch import command, free_port
from curate.dashboard.synthetic import build_store

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PAGES = {"audit": "Corpus audit", "explorer": "Settings explorer", "compare": "Slice comparison",
         "validation": "Validation", "runs": "Runs"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no system Chromium: apt-get install -y chromium")
    pytest.importorskip("playwright", reason="pip install playwright (the browser itself comes from apt)")
    db = build_store(tmp_path_factory.mktemp("browser") / "store.duckdb", 400, seed=4, train=True)
    port = free_port()
    proc = subprocess.Popen(command(db, port, address="127.0.0.1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start: {proc.stdout.read()[-2000:]}")
        time.sleep(0.3)
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
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')
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
