"""Data Docs as shipped: every link in every page resolves, nothing is loaded from the web, the
index and the status icons work without scripts (and, marked browser, in headless Chromium)."""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("great_expectations", reason="great_expectations not installed")

from curate.validate import History, SuiteSpec, slice_profile, validate_slice  # noqa: E402
from tests.browser_helpers import ARTIFACTS, chromium, new_page, require_browser  # noqa: E402

# Hosts GX's own templates load assets from; none may be named in a page.
CDN_HOSTS = ("unpkg.com", "jsdelivr.net", "bootstrapcdn.com", "cloudflare.com", "jquery.com", "amazonaws.com")


def frame(n: int = 600, de_share: float = 0.3) -> pd.DataFrame:
    n_de = round(n * de_share)
    return pd.DataFrame({
        "doc_id": [f"d{i}" for i in range(n)],
        "text": [f"Document {i} says something." for i in range(n)],
        "lang": ["de"] * n_de + ["en"] * (n - n_de),
        "quality": [0.4 + 0.5 * (i % 10) / 10 for i in range(n)],
        "is_duplicate": [False] * n,
        "n_bytes": [600 + 7 * (i % 50) for i in range(n)],
        "gopher_word_count": [100 + (i % 50) for i in range(n)],
    })


STRICT = SuiteSpec(name="strict", allowed_langs=("en", "de"), min_allowed_lang_share=1.0, min_tokens=1_000)


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    """A docs folder as a store's gets it: runs that pass and fail, drift checks, several suites,
    a dotted suite name (GX nests it in folders), a run name GX would file as "profiling",
    and a run with no name."""
    d = tmp_path_factory.mktemp("docs") / "data_docs"
    base = frame()
    reference = History(1000, slice_profile(base, 1000, STRICT.quantiles()), "run 1 (slice strict-abc)")
    validate_slice(base, STRICT, docs_dir=d, run_name="strict-abc-run1", history=History(1000, None, "first run"))
    failed = validate_slice(frame(de_share=0.6), STRICT, docs_dir=d, run_name="strict-def-run2", history=reference)
    assert not failed.success and "lang_share_drift:de" in failed.failed_checks()
    validate_slice(base, SuiteSpec(name="strict.v2"), docs_dir=d, run_name="strict.v2-run3")
    validate_slice(base, SuiteSpec(name="profiling"), docs_dir=d, run_name="profiling-nightly-run4")
    validate_slice(base.head(3), SuiteSpec(name="tiny", min_documents=5), docs_dir=d)
    return d


class Page(HTMLParser):
    """Every reference a page makes (tag, attribute, value), its element ids, its inline CSS."""

    def __init__(self, text: str):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src", "srcset", "data", "poster"):
            if attrs.get(name) is not None:
                self.refs.append((tag, name, attrs[name]))
        if attrs.get("style"):
            self.styles.append(attrs["style"])
        self._in = tag if tag in ("style", "script") else None

    def handle_data(self, data):
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in = None


def pages(root: Path) -> dict[Path, Page]:
    return {f.resolve(): Page(f.read_text(encoding="utf-8")) for f in sorted(root.rglob("*.html"))}


def broken_links(root: Path) -> list[str]:
    """Every relative href/src of every page that names no file (or no element, after #)."""
    found = pages(root)
    broken = []
    for path, page in found.items():
        for tag, attr, url in page.refs:
            if url.startswith(("http://", "https://", "mailto:", "data:")):
                continue
            target, _, fragment = url.partition("#")
            resolved = (path.parent / target).resolve() if target else path
            if not resolved.is_file():
                broken.append(f"{path.relative_to(root.resolve())}: {tag} {attr}={url!r} (no such file)")
            elif fragment and fragment not in found.get(resolved, page).ids:
                broken.append(f"{path.relative_to(root.resolve())}: {url!r} (no element with that id)")
    return broken


def _fetches_from_web(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://", "//"))


def web_assets(root: Path) -> list[str]:
    """Everything a page would fetch from the web (CSS, scripts, fonts, images, icons), or needs
    a web library for (jQuery, bootstrap-table)."""
    found = []
    for path, page in pages(root).items():
        where = path.relative_to(root.resolve())
        found += [f"{where}: {tag} {url}" for tag, attr, url in page.refs if tag != "a" and _fetches_from_web(url)]
        css = "\n".join(page.styles)
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(r"@import\s+['\"]?([^'\";\s]+)", css)
        found += [f"{where}: css {u}" for u in urls if _fetches_from_web(u)]
        found += [f"{where}: script src={url}" for tag, attr, url in page.refs if tag == "script" and attr == "src"]
        text = path.read_text(encoding="utf-8")
        found += [f"{where}: names {h}" for h in CDN_HOSTS if h in text]
        if "bootstrapTable" in text or "$(" in "\n".join(page.scripts):
            found.append(f"{where}: needs jQuery")
    return found


def test_every_link_in_every_page_resolves(docs):
    names = {p.relative_to(docs.resolve()).as_posix() for p in pages(docs)}
    assert "index.html" in names
    assert {"expectations/strict.html", "expectations/strict/v2.html", "expectations/profiling.html",
            "expectations/tiny.html"} <= names
    assert sum(n.startswith("validations/") for n in names) == 5  # every run has its page
    assert broken_links(docs) == []


def test_no_page_loads_styles_scripts_fonts_or_images_from_the_web(docs):
    assert web_assets(docs) == []


def test_the_checks_can_fail(tmp_path):
    """The two checks above find what GX's own templates write: CDN scripts, a dead suite link."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    head = (templates / "js_script_imports.j2").read_text(encoding="utf-8")
    (tmp_path / "index.html").write_text(head + '<a href="expectations/gone.html">suite</a>', encoding="utf-8")
    assert any("gone.html" in b for b in broken_links(tmp_path))
    assert any("jquery" in w for w in web_assets(tmp_path))


def test_the_index_is_written_out_with_status_text_and_links(docs):
    index = (docs / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr>(.*?)</tr>", index, re.S)
    runs = {name: row for row in rows for name in re.findall(r">\s*([\w.-]+-run\d)\s*<", row)}
    assert set(runs) == {"strict-abc-run1", "strict-def-run2", "strict.v2-run3", "profiling-nightly-run4"}
    assert 'curate-status-text bad">failed' in runs["strict-def-run2"]
    assert 'curate-status-text ok">passed' in runs["strict-abc-run1"]
    assert "fa-times" in runs["strict-def-run2"] and "fa-check-circle" in runs["strict-abc-run1"]
    assert 'href="expectations/strict/v2.html"' in runs["strict.v2-run3"]
    # the run with no name is listed too, and failed its floor
    assert index.count('curate-status-text bad">failed') == 2


def test_status_icons_are_drawn_by_the_page_itself(docs):
    page = next((docs / "validations" / "strict" / "strict-def-run2").rglob("*.html")).read_text(encoding="utf-8")
    assert "fas fa-times text-danger" in page and "fas fa-check-circle text-success" in page
    css = "\n".join(Page(page).styles)
    for icon in ("fa-check-circle", "fa-times"):
        assert re.search(re.escape(icon) + r"::before[^{]*\{[^}]*background-image:\s*url\(\"data:image/svg\+xml", css)


def test_a_folder_written_by_an_older_curate_is_rendered_again(docs, tmp_path):
    """Older folders kept no suites (their pages were deleted, the links dead) and loaded CDN
    assets: the next validation restores the suites from the results and renders every page."""
    old = tmp_path / "data_docs"
    shutil.copytree(docs, old)
    shutil.rmtree(old / "_expectation_suites")
    (old / "_curate_docs_version").unlink()
    for page in old.rglob("*.html"):
        page.write_text('<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap.css">'
                        '<a href="expectations/gone.html">x</a>', encoding="utf-8")
    for suite_page in (old / "expectations").rglob("*.html"):
        suite_page.unlink()
    assert validate_slice(frame(), STRICT, docs_dir=old, run_name="strict-ghi-run5").docs_error is None
    assert broken_links(old) == [] and web_assets(old) == []
    assert (old / "expectations" / "tiny.html").is_file()  # a suite known only from its results


@pytest.mark.browser
def test_the_docs_render_offline_in_chromium(docs):
    require_browser()
    fetched: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = new_page(browser, width=1300, height=900)

        def offline(route):
            fetched.append(route.request.url)
            route.abort()

        page.route(re.compile(r"^(https?|wss?)://"), offline)
        page.goto((docs / "index.html").as_uri())
        rows = page.locator("#Validation-Results table tbody tr")
        assert rows.count() == 5 and rows.first.is_visible()
        status = page.locator("#Validation-Results td.curate-status").first
        assert status.inner_text().strip() in ("passed", "failed")
        icon = page.locator("#Validation-Results td.curate-status i").first
        box = icon.bounding_box()
        assert box and box["width"] >= 10 and box["height"] >= 10
        drawn = icon.evaluate("e => getComputedStyle(e, '::before').backgroundImage")
        assert drawn.startswith('url("data:image/svg+xml')
        page.screenshot(path=str(ARTIFACTS / "data_docs_index.png"), full_page=True)
        # a failed run: open it from the index, then show only what failed
        page.locator("a", has_text="strict-def-run2").first.click()
        page.wait_for_load_state()
        assert "Validations / strict" in page.locator(".curate-breadcrumb").inner_text()
        visible = page.locator("tr:visible").count()
        page.locator("#curate-failed-only").check()
        assert 0 < page.locator("tr:visible").count() < visible
        assert page.locator("td i.fa-times:visible").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "data_docs_failed_run.png"), full_page=True)
    assert fetched == []
