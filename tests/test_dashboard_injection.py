"""A document cannot inject into the dashboard: its text, id and reason reach a page only as
plain text (escaped HTML through st.html, or escaped Markdown), never as Markdown or HTML that
a browser would follow."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import pipeline, store  # noqa: E402
from curate.dashboard.highlight import (  # noqa: E402
    highlight_html,
    label_name,
    md_code,
    md_literal,
    samples_html,
    split_lines,
)
from curate.engines import LocalEngine
from curate.recipes import build_slice, parse_recipe  # noqa: E402
from tests.browser_helpers import ARTIFACTS, chromium, dashboard, new_page, require_browser, settle  # noqa: E402
from tests.dashboard_helpers import run_app  # noqa: E402

EVIL = ("Short note.\r\r![t](http://127.0.0.1:9/track.png) [click](http://evil.example)\n\n"
        "<img src=\"http://127.0.0.1:9/x.png\"> **bold** :red[red] $x^2$ <script>alert(1)</script>\u2028"
        "www.evil.example\r\n\r\n<a href=\"http://evil.example\">a</a>")
GOOD = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed "
        "that the library should stay open later in the evening during the winter months. ") * 2
RECIPE = "name: inj\nfilters:\n  word_count: {min: 60}\n"
ALLOWED_TAGS = {"div", "br", "mark", "p", "code", "b", "i"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data):
        self.text.append(data.replace("\xa0", ""))


def _parse(body: str) -> _Tags:
    p = _Tags()
    p.feed(body)
    p.close()
    return p


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("inject")
    src = tmp / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "good-1", "text": GOOD + "One."}, {"id": "good-2", "text": GOOD + "Two."},
        {"id": "[x](http://evil.example)", "text": EVIL}]), encoding="utf-8")
    db = tmp / "store.duckdb"
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        res = build_slice(con, parse_recipe(RECIPE))
        (doc_id,) = con.execute("SELECT doc_id FROM documents WHERE text = ?", [EVIL]).fetchone()
    assert res.n_dropped == 1
    return db, doc_id


def test_highlight_html_leaves_no_line_break_and_no_tag_of_the_text():
    body = highlight_html(EVIL, {1})
    assert not any(ch in body for ch in "\r\n\u2028")  # a blank line would end an HTML block in Markdown
    parsed = _parse(body)
    assert {t for t, _ in parsed.tags} <= ALLOWED_TAGS
    assert "".join(parsed.text) == "\n".join(split_lines(EVIL))
    assert {t for t, _ in _parse(samples_html([("<b>id</b>", "r<i>", EVIL)])).tags} <= ALLOWED_TAGS


def test_markdown_escapes_render_literally():
    assert md_literal("[click](http://evil.example)") == r"\[click\]\(http\:\/\/evil\.example\)"
    assert md_literal("5a17000000000000-000000007 gopher_dup_line_frac_above_max") == \
        "5a17000000000000-000000007 gopher_dup_line_frac_above_max"
    assert md_literal("_x_ *y*\r\r:red[z]") == r"\_x\_ \*y\*  \:red\[z\]"
    assert md_code("a`b``c") == "``` a`b``c ```"


def _assert_plain(at) -> list[str]:
    """Every element of the run: the text only inside st.html bodies, escaped; no Markdown
    source carries a link, an image or raw HTML of the document."""
    bodies = [e.proto.body for e in at.get("html")]
    for body in bodies:
        parsed = _parse(body)
        assert {t for t, _ in parsed.tags} <= ALLOWED_TAGS, parsed.tags
        assert not any("href" in a or "src" in a for _, a in parsed.tags)
    markdown = [m.value for m in (*at.markdown, *at.caption, *at.warning, *at.info)] + [e.label for e in at.expander]
    for source in markdown:
        assert not any(bad in source for bad in ("](", "http:", "<img", "<a ", "<script")), source
    return bodies


def test_audit_page_shows_the_document_as_plain_text(monkeypatch, evil_store):
    db, doc_id = evil_store
    at = run_app(monkeypatch, db, doc=doc_id)
    bodies = _assert_plain(at)
    shown = ["".join(_parse(b).text) for b in bodies]
    assert "\n".join(split_lines(EVIL)) in shown  # the opened document, every character of it
    assert any(doc_id in m.value for m in at.markdown)
    # and among the dropped examples: its external id is no plain name, so the label shows its
    # doc_id (a label is Markdown with its escapes undone: an escaped URL there is a live link);
    # the external id is in the escaped HTML line naming the document
    assert any(doc_id in e.label for e in at.expander)
    assert any("id <code>[x](http://evil.example)</code>" in body for body in bodies)


def test_a_label_names_a_document_by_its_external_id_only_where_that_is_plain():
    assert label_name("d000026", "abc-1") == "d000026"
    assert label_name("web_page-7", "abc-1") == "web_page-7"
    for hostile in ("[x](http://evil.example)", "www.evil.example", "a@b.example", "x" * 65, "", None, "a b"):
        assert label_name(hostile, "abc-1") == "abc-1"


def test_explorer_samples_show_the_document_as_plain_text(monkeypatch, evil_store):
    db, _ = evil_store
    at = run_app(monkeypatch, db, page="explorer")
    bodies = _assert_plain(at)
    assert any("![t](http://127.0.0.1:9/track.png)" in "".join(_parse(b).text) for b in bodies)


def test_a_hostile_doc_param_is_an_escaped_message(monkeypatch, evil_store):
    db, _ = evil_store
    at = run_app(monkeypatch, db, doc="![t](http://127.0.0.1:9/t.png)")
    warnings = [w.value for w in at.warning]
    assert warnings and all("](" not in w for w in warnings), warnings


# --- in a real browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def evil_server(evil_store):
    require_browser()
    with dashboard(evil_store[0]) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize("query", ["doc", "explorer", "documents"])
def test_browser_fetches_nothing_and_shows_no_link(evil_server, evil_store, query):
    db, doc_id = evil_store
    path = {"doc": f"/?doc={doc_id}", "explorer": "/?page=explorer",
            "documents": f"/documents?doc={doc_id}"}[query]
    requested: list[str] = []
    with chromium() as browser:
        page = new_page(browser)
        page.on("request", lambda r: requested.append(r.url))
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(f"{evil_server}{path}")
        # Shown (innerText leaves out what is hidden, e.g. a closed expander), as its characters.
        page.wait_for_function("t => document.body.innerText.includes(t)", arg="[click](http://evil.example)",
                               timeout=30_000)
        settle(page)
        if query != "explorer":
            for ex in page.locator('[data-testid="stExpander"] summary').all():
                ex.click()
            settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        main = page.locator('[data-testid="stMain"]')
        assert main.locator("img").count() == 0
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator('img[src*="127.0.0.1:9"]').count() == 0
        assert page.locator("script", has_text="alert(1)").count() == 0
        assert "![t](http://127.0.0.1:9/track.png)" in main.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"injection-{query}.png"), full_page=True)
    assert not [u for u in requested if "127.0.0.1:9" in u or "evil.example" in u], requested
