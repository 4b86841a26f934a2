"""Settings-explorer latency: one slider move, as a query, as a page rerun, and in a browser.

    python bench/bench_explorer.py [--docs 100000] [--moves 50] [--db PATH]    the query
    python bench/bench_explorer.py --page [--moves 50] [--db PATH]             the page (AppTest)
    python bench/bench_explorer.py --browser [--moves 30] [--db PATH]          the page (Chromium)

Builds a synthetic store (signals drawn at random inside each registry range, no scorers;
see curate/dashboard/synthetic.py), or reuses the one at --db.

The default mode times `explore()` for --moves random settings: 3-8 random rules over the
registry's numeric signals (bounds at random quantiles), an optional language allow-list, and
random exact/near dedup. Each move is timed as the dashboard runs it (`ExplorerFrame.explore`:
the frame is loaded once per store version, then every move scans it in memory) and, for
comparison, through `compile_decisions` on the store (`explore_reference`, a read-only open +
joins + close per move). Also times the one-off frame load.

--page drives the whole page script through Streamlit's AppTest: --moves random moves of a
random explorer slider, each timed from the widget change to the end of the script run; then
as many again with the store probe's cache emptied before each (what a rerun pays at most once
per PROBE_TTL_S). AppTest always re-executes the whole script, fragments included, so these
are full reruns; in a browser a slider move reruns the explorer's fragment alone.

--browser starts `streamlit run app.py` on localhost and drives headless Chromium (the system
`chromium`, through Playwright): each move is one PageUp/PageDown on a thumb of the quality
slider, timed in the page from the key press to the moment the shown count of surviving
documents changes. That is what a person waits for.

Every mode prints p50/p95/max in milliseconds. The target is p95 < 200 ms at 100k documents.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.dashboard.explorer import ExplorerFrame, Settings, explore_reference, signal_ranges  # noqa: E402
from curate.dashboard.launch import serve  # noqa: E402
from curate.dashboard.source import read_store  # noqa: E402
from curate.dashboard.synthetic import LANGS, THRESHOLDS, build_store  # noqa: E402
from curate.recipes import Rule  # noqa: E402
from curate.signals import signals  # noqa: E402

APP = ROOT / "app.py"
CHROMIUM = "/usr/bin/chromium"
METRIC = "surviving documents"


def random_settings(rng: random.Random, ranges: dict) -> Settings:
    names = rng.sample(sorted(ranges), rng.randint(3, min(8, len(ranges))))
    rules = []
    for n in names:
        r = ranges[n]
        lo = r.lo + (r.hi - r.lo) * rng.uniform(0, 0.3)
        hi = r.lo + (r.hi - r.lo) * rng.uniform(0.5, 1.0)
        rules.append(Rule(n, lo if rng.random() < 0.6 else None, hi if rng.random() < 0.6 else None))
    rules = [r for r in rules if r.min is not None or r.max is not None]
    if rng.random() < 0.5:
        rules.insert(0, Rule("lang", allow=tuple(rng.sample(LANGS, rng.randint(1, 3)))))
    return Settings(tuple(rules), exact_dedup=rng.random() < 0.5,
                    near_threshold=rng.choice([None, *THRESHOLDS]))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def row(label: str, values: list[float]) -> str:
    return f"| {label} | {statistics.median(values):.1f} | {pct(values, 0.95):.1f} | {max(values):.1f} |"


def print_table(title: str, rows: list[str]) -> None:
    print(title)
    print("| path | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(r)


def bench_query(db: Path, n_moves: int, seed: int) -> None:
    with read_store(db) as (con, _):
        n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        ranges = signal_ranges(con, [s.name for s in signals()])
    rng = random.Random(seed)
    moves = [random_settings(rng, ranges) for _ in range(n_moves)]

    t = time.perf_counter()
    with read_store(db) as (con, _):
        frame = ExplorerFrame(con)
    load_ms = (time.perf_counter() - t) * 1000
    fast, kept = [], []
    for s in moves:
        t = time.perf_counter()
        out = frame.explore(s)
        fast.append((time.perf_counter() - t) * 1000)
        kept.append(out.n_kept)
    ref = []
    for s in moves:
        t = time.perf_counter()
        with read_store(db) as (con, _):
            same = explore_reference(con, s)
        ref.append((time.perf_counter() - t) * 1000)
        if same != frame.explore(s):
            raise SystemExit(f"frame and compile_decisions disagree for {s}")
    frame.close()

    print_table(f"explorer latency, {n_docs:,} documents, {n_moves} random settings "
                f"(kept documents from {min(kept):,} to {max(kept):,})",
                [row("explorer frame, one move (as the app runs it)", fast),
                 row("compile_decisions on the store: open + query + close", ref),
                 f"| explorer frame load, once per store version | {load_ms:.0f} | | |"])


def _slider_move(rng: random.Random, slider) -> tuple:
    """A new (lo, hi) for a range slider, on its step grid, different from the current one."""
    steps = int(round((slider.max - slider.min) / slider.step))
    while True:
        a, b = sorted(rng.sample(range(steps + 1), 2))
        value = tuple(slider.min + k * slider.step for k in (a, b))
        if isinstance(slider.min, int):
            value = tuple(int(round(v)) for v in value)
        if value != tuple(slider.value):
            return value


def bench_page(db: Path, n_moves: int, seed: int) -> None:
    from streamlit.testing.v1 import AppTest

    from curate.dashboard.page import _probe

    os.environ["CURATE_DB"] = str(db)
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["page"] = "explorer"
    t = time.perf_counter()
    at.run()
    first_ms = (time.perf_counter() - t) * 1000
    if at.exception:
        raise SystemExit([e.value for e in at.exception])
    rng = random.Random(seed)
    rows, counts = [], set()
    for label, reprobe in (("whole script rerun, widget change to end of run", False),
                           ("the same, with the store probed again (probe cache expired)", True)):
        times = []
        for _ in range(n_moves):
            slider = rng.choice([s for s in at.slider if s.key and s.key.startswith("ex_")])
            slider.set_value(_slider_move(rng, slider))
            if reprobe:
                _probe.clear()
            t = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t) * 1000)
            if at.exception:
                raise SystemExit([e.value for e in at.exception])
            counts.add(next(m.value for m in at.metric if m.label == METRIC))
        rows.append(row(label, times))
    print_table(f"explorer page through AppTest, 2 x {n_moves} random slider moves "
                f"({len(counts)} distinct surviving-document counts)",
                [*rows, f"| first run of the page (loads the explorer frame) | {first_ms:.0f} | | |"])


# Stamps the key press and the first DOM change that shows a different count of surviving
# documents, both on the page's own clock (no Playwright round trip in the figure).
WATCH_JS = """label => {
  const shown = () => {
    const box = [...document.querySelectorAll('[data-testid="stMetric"]')].find(m => m.innerText.includes(label));
    return box ? box.querySelector('[data-testid="stMetricValue"]').innerText : null;
  };
  document.addEventListener('keydown', () => { window.__before = shown(); window.__t0 = performance.now();
                                               window.__t1 = null; }, true);
  new MutationObserver(() => {
    if (window.__t0 == null || window.__t1 != null) return;
    const now = shown();
    if (now !== null && now !== window.__before) window.__t1 = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
IDLE_JS = ("""() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], """
           """[data-testid="stStatusWidgetRunningManIcon"]')""")


def _quality_key(rng: random.Random, page) -> tuple[str, str]:
    """A thumb of the quality slider and PageUp/PageDown, kept inside 0-0.6 (start) and 0.5-1 (end)."""
    thumb = rng.choice(["start", "end"])
    value = float(page.locator(f'input[type="range"][aria-label="quality — {thumb}"]').input_value())
    lo, hi = (0.0, 0.6) if thumb == "start" else (0.5, 1.0)
    keys = [k for k, ok in (("PageUp", value + 0.1 <= hi + 1e-9), ("PageDown", value - 0.1 >= lo - 1e-9)) if ok]
    return thumb, rng.choice(keys)


def bench_browser(db: Path, n_moves: int, seed: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    proc, url = serve(db, script=APP, timeout_s=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            page.goto(f"{url}/?page=explorer")
            page.locator('[data-testid="stMetric"]', has_text=METRIC).first.wait_for(timeout=300_000)
            page.wait_for_function(IDLE_JS, timeout=300_000)
            first_ms = (time.perf_counter() - t) * 1000
            page.wait_for_timeout(1500)
            page.evaluate(WATCH_JS, METRIC)
            rng = random.Random(seed)
            times, unchanged = [], 0
            for _ in range(n_moves):
                thumb, key = _quality_key(rng, page)
                page.locator(f'input[type="range"][aria-label="quality — {thumb}"]').focus()
                page.keyboard.press(key)
                try:
                    page.wait_for_function("() => window.__t1 != null", timeout=10_000, polling=20)
                    times.append(page.evaluate("() => window.__t1 - window.__t0"))
                except PlaywrightTimeout:  # the move kept the same count: nothing to time
                    unchanged += 1
                page.wait_for_timeout(300)
                page.wait_for_function(IDLE_JS, timeout=60_000)
                page.wait_for_timeout(rng.uniform(200, 1200))  # a person's pause between moves
            if page.locator('[data-testid="stException"]').count():
                raise SystemExit("the page shows an exception")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    if not times:
        raise SystemExit("no move changed the shown count")
    print_table(f"explorer page in headless Chromium, {len(times)} quality-slider moves timed"
                + (f" ({unchanged} left the count unchanged, not timed)" if unchanged else ""),
                [row("key press to the new surviving-document count on screen", times),
                 f"| first load of the page (server start not counted) | {first_ms:.0f} | | |"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--moves", type=int, default=None, help="default: 50, or 30 with --browser")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", type=Path, default=None, help="reuse or create the store here")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--page", action="store_true", help="time whole page reruns through AppTest")
    mode.add_argument("--browser", action="store_true", help="time slider moves in headless Chromium")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        t = time.perf_counter()
        build_store(db, args.docs, seed=args.seed)
        print(f"built {args.docs:,}-document store in {time.perf_counter() - t:.1f}s: {db}", file=sys.stderr)
    if args.browser:
        bench_browser(db, args.moves or 30, args.seed)
    elif args.page:
        bench_page(db, args.moves or 50, args.seed)
    else:
        bench_query(db, args.moves or 50, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
