"""Shared by the browser tests: the system Chromium through Playwright, the dashboard served on
localhost, and a wait for Streamlit's script run to finish.

Uses Debian's `chromium` package; never downloads a browser. Screenshots go to ARTIFACTS for a
person to look at.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# True once no script run is going (the status widget's running icon) and no element waits to be
# drawn (the skeleton placeholders).
RUN_FINISHED = ("""() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], """
                """[data-testid="stStatusWidgetRunningManIcon"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""")


def require_browser() -> None:
    """Skip the test unless the system Chromium and the playwright package are both there."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no system Chromium: apt-get install -y chromium")
    pytest.importorskip("playwright", reason="pip install playwright (the browser itself comes from apt)")


@contextmanager
def dashboard(db: Path, **serve_kwargs) -> Iterator[str]:
    """`with dashboard(db) as url:` the dashboard on a free localhost port until the block ends.

    `serve_kwargs` go to curate.dashboard.launch.serve; a server that does not start fails the
    test with its last output.
    """
    from curate.dashboard.launch import serve, stop

    try:
        proc, url = serve(db, **serve_kwargs)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop(proc)


@contextmanager
def chromium() -> Iterator[Browser]:
    """`with chromium() as browser:` the system Chromium, headless, closed when the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, width: int = 1400, height: int = 1000) -> Page:
    """A new tab of `browser` with a `width` × `height` viewport."""
    return browser.new_page(viewport={"width": width, "height": height})


def settle(page: Page, timeout_ms: int = 30_000, draw_ms: int = 800) -> None:
    """Wait until Streamlit's script run has finished: no running icon, no skeleton placeholders.

    Waits half a second first (a run a click or a key press starts takes a moment to show), at
    most `timeout_ms` for the run, then `draw_ms` more to let the Vega charts draw. A page that
    runs slow queries (a store the real pipeline built) passes larger values.
    """
    page.wait_for_timeout(500)
    page.wait_for_function(RUN_FINISHED, timeout=timeout_ms)
    page.wait_for_timeout(draw_ms)
