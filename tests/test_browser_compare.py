"""The Slice comparison page in headless Chromium: its verdicts and its caveat are on screen, the
difference chart the browser draws has an axis through 0, the table fits the page,
and the generations sit in boxes of a fixed height.

The chart is drawn on a canvas, so its axis is read from the Vega-Lite spec the browser received
over the app's websocket (the bytes it rendered), not from pixels.
"""
from __future__ import annotations

import json

import pytest

from tests.browser_helpers import ARTIFACTS, chromium, dashboard, new_page, require_browser, settle
from tests.test_comparison import CLEAR, trained_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    db = trained_store(tmp_path_factory.mktemp("browser-compare") / "store.duckdb", CLEAR)
    with dashboard(db) as url:
        yield url


@pytest.fixture(scope="module")
def loaded(server):
    """The page once loaded, and every Vega-Lite spec that reached the browser on the way."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    specs: list[dict] = []

    def on_frame(payload) -> None:
        if isinstance(payload, bytes):
            msg = ForwardMsg.FromString(payload)
            if msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "vega_lite_chart":
                specs.append(json.loads(msg.delta.new_element.vega_lite_chart.spec))

    with chromium() as browser:
        page = new_page(browser)
        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        page.goto(f"{server}/compare")
        page.get_by_role("heading", name="Slice comparison").first.wait_for(timeout=60_000)
        settle(page, timeout_ms=60_000, draw_ms=1000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app-compare-verdicts.png"), full_page=True)
        yield page, specs


def test_the_verdicts_and_the_caveat_are_on_screen(loaded):
    page, _ = loaded
    assert page.locator('[data-testid="stException"]').count() == 0
    beyond = page.locator('[data-testid="stAlert"]', has_text="tight is 0.140 bits/byte better than raw")
    assert beyond.count() == 1 and beyond.is_visible()
    assert "(±0.023, 95% interval over 3 seeds each): beyond noise." in beyond.inner_text()
    within = page.locator('[data-testid="stAlert"]', has_text="loose is 0.013 bits/byte better than raw")
    assert within.is_visible() and "within noise" in within.inner_text()
    caveat = page.locator('[data-testid="stAlert"]',
                          has_text="The models are too small to generate readable text at this budget")
    caveat.scroll_into_view_if_needed()
    assert caveat.is_visible() and "compare bits/byte above" in caveat.inner_text()


def test_the_difference_chart_has_its_axis_through_zero(loaded):
    page, specs = loaded
    [spec] = [s for s in specs if "difference to raw" in json.dumps(s.get("title", ""))]
    xs = [layer["encoding"]["x"] for layer in spec["layer"] if "field" in layer["encoding"].get("x", {})]
    assert xs and all(x["scale"].get("zero") is True and "domain" not in x["scale"] for x in xs)
    assert any(layer["encoding"]["x"].get("datum") == 0 for layer in spec["layer"])  # the line at 0
    absolute = [s for s in specs if "per slice" in json.dumps(s.get("title", ""))]
    assert absolute and absolute[0]["layer"][0]["encoding"]["x"]["scale"]["zero"] is True
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 60  # drawn, not an empty frame


def test_the_comparison_table_fits_the_page(loaded):
    page, _ = loaded
    table = page.locator('[data-testid="stTable"]').first
    table.scroll_into_view_if_needed()
    # nothing in it is wider than its box (no horizontal scroll bar, no cell cut off)
    overflowing = table.evaluate("""el => [el, ...el.querySelectorAll('*')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName + ' ' + e.scrollWidth + '/' + e.clientWidth)""")
    assert overflowing == []
    assert table.bounding_box()["width"] <= page.locator('[data-testid="stMain"]').bounding_box()["width"]
    text = table.inner_text()
    assert "better, beyond noise" in text and "too small to judge (junk samples)" in text
    assert "−0.140 ± 0.023" in text


def test_the_generations_sit_in_boxes_of_a_fixed_height(loaded):
    page, _ = loaded
    sample = page.locator('[data-testid="stText"]', has_text="The river from raw").first
    sample.scroll_into_view_if_needed()
    assert "⏎ ⏎ ⏎ seed 0" in sample.inner_text()
    box = sample.locator("xpath=ancestor::*[@data-testid='stVerticalBlock'][1]").bounding_box()
    assert box and box["height"] <= 340
