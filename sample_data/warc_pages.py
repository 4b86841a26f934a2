"""Build sample_data/web/: a small WARC of real documentation pages and labelled junk pages.

    python sample_data/warc_pages.py --out sample_data/web   (build.py calls build_web too)

Real pages are the HTML manuals that ship in Debian packages, served as they are, with their
navigation bars, sidebars, breadcrumbs and footers: the Python 3.11 documentation
(python3.11-doc; not its tutorial, howto and faq pages, which validation.txt is made of),
libxslt's API reference (libxslt1-dev) and libffi's manual (libffi8). Around them come
labelled junk pages (link farms, cookie walls, keyword-stuffed SEO pages, "page not found"
pages served with status 200), records that are not pages (404, 500 and 301 responses, PNG,
PDF, JSON and CSS payloads, a revisit record), pages in windows-1252 and with a charset label
no codec knows, and pages whose bytes are not in the charset they declare.

Outputs (deterministic: same seed and same installed packages -> the same bytes):
- crawl.warc.gz: one gzip member per WARC record (warcinfo, then request + response pairs);
- labels.jsonl: one line per response/revisit record: id, url, kind, source, and what the
  record is (`expect`): "document" (a real page: an extractor that finds no main text in it
  missed it), "quarantine:<kind>" (no page: ingest must quarantine it with that kind), or
  "either" for junk pages, which an extractor may rightly find no main text in;
- expected.jsonl.gz: the main text of the Python pages (the text of Sphinx's
  `<div class="body" role="main">`: headings, prose, lists, tables and code, without the
  permalink signs and the tables of contents, which are lists of links to other pages),
  against which extraction precision and recall are measured.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sample_data.htmltext import html_blocks  # noqa: E402
from sample_data.sources import SourceMissing  # noqa: E402

PYDOC = Path("/usr/share/doc/python3.11/html")
XSLT = Path("/usr/share/doc/libxslt1-dev/html")
FFI = Path("/usr/share/doc/libffi8/html")
PYDOC_SKIP = ("tutorial", "howto", "faq", "_static", "_sources", "_images", "_downloads", "genindex", "search",
              "py-modindex", "contents", "whatsnew")
MAX_PAGE_BYTES = 40_000
N_PYDOC, N_XSLT, N_FFI = 110, 40, 15
NAMESPACE = uuid.UUID("6f1c7d9e-4b1a-4f53-9c2e-2f4d8f0b7a10")


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes
    kind: str  # docs or a junk type, or what the record is (http_404, image, ...)
    source: str  # the package or "synthetic"
    expect: str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    expected_text: str | None = None
    revisit_of: str | None = None


# --- real pages ----------------------------------------------------------------------------------

def _pick(paths: list[Path], n: int) -> list[Path]:
    """n paths spread evenly over the sorted list (deterministic, covers every section)."""
    paths = sorted(paths)
    if len(paths) <= n:
        return paths
    step = len(paths) / n
    return [paths[int(i * step)] for i in range(n)]


def _small_html(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    out = []
    for p in root.rglob("*.html"):
        rel = p.relative_to(root).as_posix()
        if any(rel.startswith(s) for s in skip) or p.stat().st_size > MAX_PAGE_BYTES:
            continue
        out.append(p)
    return out


def sphinx_main_text(html: str) -> str:
    """The text of a Sphinx page's main block, one block a line."""
    blocks = html_blocks(html, root_class="body", skip_classes=frozenset({"headerlink", "toctree-wrapper"}))
    lines = [b.text.replace("\u00b6", "").strip() for b in blocks]
    return "\n".join(x for x in lines if x)


def real_pages() -> list[Page]:
    for root, package in ((PYDOC, "python3.11-doc"), (XSLT, "libxslt1-dev"), (FFI, "libffi8")):
        if not root.is_dir():
            raise SourceMissing(f"{root} is missing: install the Debian package {package} (apt-get install {package})")
    pages = []
    for p in _pick(_small_html(PYDOC, PYDOC_SKIP), N_PYDOC):
        body = p.read_bytes()
        rel = p.relative_to(PYDOC).as_posix()
        expected = sphinx_main_text(body.decode("utf-8"))
        pages.append(Page(f"https://docs.python.org/3.11/{rel}", body, "docs", "python3.11-doc", "document",
                          expected_text=expected or None))
    for p in _pick(_small_html(XSLT), N_XSLT):
        pages.append(Page(f"https://gnome.pages.gitlab.gnome.org/libxslt/{p.relative_to(XSLT).as_posix()}",
                          p.read_bytes(), "docs", "libxslt1-dev", "document", content_type="text/html"))
    for p in _pick(_small_html(FFI), N_FFI):
        pages.append(Page(f"https://sourceware.org/libffi/manual/{p.relative_to(FFI).as_posix()}", p.read_bytes(),
                          "docs", "libffi8", "document", content_type="text/html; charset=utf-8"))
    return pages


# --- junk pages ----------------------------------------------------------------------------------

_SPAM_WORDS = ("cheap", "best", "online", "buy", "discount", "casino", "loans", "pills", "free", "deal", "top",
               "review", "2024", "sale", "insurance", "crypto", "bonus", "offer", "fast", "now")
_NAV = ("Home", "About", "Products", "Blog", "Contact", "Login", "Register", "Privacy", "Terms", "Sitemap")
_HOSTS = ("best-deals-online.example", "cheap-pills-shop.example", "top10reviews.example", "newsportal.example",
          "bigshop.example", "casino-bonus.example", "travelguide.example", "recipes-hub.example")


def _page(title: str, body: str, lang: str = "en") -> bytes:
    nav = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in _NAV)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<style>body{{font-family:sans-serif}}</style><script>var _t=1;</script></head><body>'
            f'<header><nav><ul>{nav}</ul></nav></header>{body}'
            f'<footer><p>© 2024 {title}. All rights reserved.</p><a href="/privacy">Privacy</a> '
            f'<a href="/terms">Terms</a></footer></body></html>').encode()


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_SPAM_WORDS) for _ in range(n))


def link_farm(rng: random.Random) -> bytes:
    links = "".join(f'<li><a href="https://{rng.choice(_HOSTS)}/{_phrase(rng, 2).replace(" ", "-")}">'
                    f'{_phrase(rng, rng.randint(2, 4))}</a></li>' for _ in range(rng.randint(60, 140)))
    return _page("Useful links", f"<main><h1>Top resources</h1><ul>{links}</ul></main>")


def cookie_wall(rng: random.Random) -> bytes:
    teaser = rng.choice(("Read the full story", "Continue to the article", "See today's offers"))
    banner = ('<div id="cookie-consent" class="cookie-banner"><h2>We value your privacy</h2><p>We and our '
              f'{rng.randint(90, 900)} partners use cookies and similar technologies to store and access '
              'information on your device, to personalise ads and content, measure ads and content, and '
              'develop and improve products. By clicking "Accept all" you consent to the processing of '
              'your data. You can change your preferences at any time.</p><button>Accept all</button>'
              '<button>Reject all</button><a href="/cookies">Manage preferences</a></div>')
    return _page("News", f'{banner}<main><p class="teaser">{teaser}</p>'
                         '<noscript>Please enable JavaScript to view this site.</noscript></main>')


def seo_spam(rng: random.Random) -> bytes:
    kw = _phrase(rng, 2)
    paras = "".join(f"<p>{kw} {kw} {_phrase(rng, rng.randint(12, 30))} {kw}. Get {kw} {kw} today, the {kw} "
                    f"{_phrase(rng, 6)} {kw}!</p>" for _ in range(rng.randint(4, 9)))
    return _page(f"{kw} | {kw} 2024", f"<main><h1>{kw} {kw} {kw}</h1>{paras}</main>")


def soft_404(rng: random.Random) -> bytes:
    return _page("Page not found", "<main><h1>404 - Page not found</h1><p>Sorry, the page you are looking for "
                                   "does not exist.</p><p><a href=\"/\">Back to home</a></p></main>")


def windows_1252_page(rng: random.Random) -> bytes:
    text = ("Über die Straße läuft ein Bär. Größere Städte führen öffentliche Bücherhallen, "
            "deren Öffnungszeiten sich nach den Jahreszeiten richten. ") * rng.randint(3, 6)
    html = (f'<!DOCTYPE html><html lang="de"><head><meta http-equiv="Content-Type" content="text/html; '
            f'charset=windows-1252"><title>Straße</title></head><body><nav><a href="/">Start</a></nav>'
            f'<article><h1>Städte und Bücher</h1><p>{text}</p><p>{text}</p></article></body></html>')
    return html.encode("cp1252")


def junk_pages(rng: random.Random) -> list[Page]:
    out: list[Page] = []

    def url(kind: str, i: int) -> str:
        return f"https://{rng.choice(_HOSTS)}/{kind.replace('_', '-')}/{i:03d}.html"

    for kind, make, n in (("link_farm", link_farm, 20), ("cookie_wall", cookie_wall, 15), ("seo_spam", seo_spam, 15),
                          ("soft_404", soft_404, 10)):
        for i in range(n):
            out.append(Page(url(kind, i), make(rng), kind, "synthetic", "either"))
    for i in range(4):
        out.append(Page(url("latin", i), windows_1252_page(rng), "windows_1252", "synthetic", "document",
                        content_type="text/html"))
    for i in range(2):  # a charset label no codec knows; the bytes are UTF-8
        out.append(Page(url("klingon", i), _page("Hallo", "<main><h1>Grüße</h1><p>" + "Schöne Grüße aus Köln, "
                                                   "wo die Straßenbahn über die Brücke fährt. " * 6 + "</p></main>"),
                        "unknown_charset", "synthetic", "document", content_type="text/html; charset=x-klingon"))
    for i in range(3):  # declared UTF-8, but Latin-1 bytes mixed with invalid sequences
        out.append(Page(url("broken", i), b"<html><body><p>caf\xe9 \xff\xfe\xc3 na\xefve</p></body></html>",
                        "bad_bytes", "synthetic", "quarantine:undecodable"))
    for status, n, kind in ((404, 10, "http_404"), (500, 5, "http_500"), (301, 10, "http_301")):
        for i in range(n):
            out.append(Page(url(kind, i), _page("Error", f"<h1>{status}</h1>"), kind, "synthetic",
                            "quarantine:http_status", status=status))
    for ctype, body, n in (("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(64)), 5),
                           ("application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 3),
                           ("application/json", b'{"items": [1, 2, 3], "next": null}', 5),
                           ("text/css", b"body { margin: 0 } .nav { display: none }", 3)):
        for _ in range(n):
            out.append(Page(url("asset", len(out)), body, ctype.split("/")[1], "synthetic", "quarantine:not_html",
                            content_type=ctype))
    return out


# --- the WARC ------------------------------------------------------------------------------------

_REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error"}


def _record(warc_type: str, url: str | None, date: str, rid: str, content_type: str, block: bytes,
            extra: dict[str, str] | None = None) -> bytes:
    h = {"WARC-Type": warc_type, "WARC-Record-ID": f"<urn:uuid:{rid}>", "WARC-Date": date}
    if url:
        h["WARC-Target-URI"] = url
    h.update(extra or {})
    h["Content-Type"] = content_type
    h["WARC-Block-Digest"] = "sha1:" + hashlib.sha1(block).hexdigest()
    h["Content-Length"] = str(len(block))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    # mtime=0: a gzip member carries no build time, so the bytes are the same on every build
    return gzip.compress(head.encode("utf-8") + block + b"\r\n\r\n", compresslevel=9, mtime=0)


def _rid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x00".join(parts)))


def write_warc(pages: list[Page], out: Path, rng: random.Random) -> tuple[list[dict], list[dict]]:
    labels, expected = [], []
    with open(out / "crawl.warc.gz", "wb") as fh:
        info = b"software: curate sample_data/warc_pages.py\r\nformat: WARC File Format 1.1\r\n"
        fh.write(_record("warcinfo", None, "2024-03-01T00:00:00Z", _rid("warcinfo"),
                         "application/warc-fields", info, {"WARC-Filename": "crawl.warc.gz"}))
        for i, page in enumerate(pages):
            date = (f"2024-03-{1 + i * 28 // len(pages):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
                    f"{rng.randrange(60):02d}Z")
            host = page.url.split("/")[2]
            path = "/" + page.url.split("/", 3)[3]
            req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curate-sample/1.0\r\n\r\n".encode()
            rid = _rid("response", page.url, page.kind)
            fh.write(_record("request", page.url, date, _rid("request", page.url, page.kind), "application/http; "
                             "msgtype=request", req, {"WARC-Concurrent-To": f"<urn:uuid:{rid}>"}))
            http = [f"HTTP/1.1 {page.status} {_REASONS[page.status]}", f"Content-Type: {page.content_type}",
                    f"Content-Length: {len(page.body)}", "Server: nginx"]
            if page.status == 301:
                http.append(f"Location: {page.url.rsplit('/', 1)[0]}/")
            block = ("\r\n".join(http) + "\r\n\r\n").encode() + page.body
            fh.write(_record("response", page.url, date, rid, "application/http; msgtype=response", block,
                             {"WARC-Payload-Digest": "sha1:" + hashlib.sha1(page.body).hexdigest(),
                              # as Common Crawl writes it: the payload's type as the crawler identified it
                              "WARC-Identified-Payload-Type": page.content_type.split(";")[0]}))
            labels.append({"id": f"<urn:uuid:{rid}>", "url": page.url, "kind": page.kind, "source": page.source,
                           "expect": page.expect})
            if page.expected_text:
                expected.append({"id": f"<urn:uuid:{rid}>", "url": page.url, "text": page.expected_text})
        for j, page in enumerate(p for p in pages if p.kind == "docs" and p.source == "libffi8"):
            if j >= 2:
                break
            rid = _rid("revisit", page.url)
            block = f"HTTP/1.1 200 OK\r\nContent-Type: {page.content_type}\r\n\r\n".encode()
            fh.write(_record("revisit", page.url, "2024-03-30T12:00:00Z", rid, "application/http; msgtype=response",
                             block, {"WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
                                     "WARC-Refers-To": f"<urn:uuid:{_rid('response', page.url, page.kind)}>",
                                     "WARC-Payload-Digest": "sha1:" + hashlib.sha1(page.body).hexdigest()}))
            labels.append({"id": f"<urn:uuid:{rid}>", "url": page.url, "kind": "revisit", "source": page.source,
                           "expect": "quarantine:warc_revisit"})
    return labels, expected


def build_web(out: Path, seed: int = 0) -> dict:
    """Write crawl.warc.gz, labels.jsonl and expected.jsonl.gz into `out`; returns counts."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:web")
    pages = real_pages() + junk_pages(rng)
    rng.shuffle(pages)
    labels, expected = write_warc(pages, out, rng)
    with open(out / "labels.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for row in labels:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in expected).encode("utf-8")
    (out / "expected.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    kinds: dict[str, int] = {}
    for row in labels:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    return {"records": len(labels), "expected_texts": len(expected), "kinds": dict(sorted(kinds.items())),
            "warc_bytes": (out / "crawl.warc.gz").stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "web")
    args = ap.parse_args(argv)
    try:
        stats = build_web(args.out, args.seed)
    except SourceMissing as exc:
        print(f"warc_pages.py: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
