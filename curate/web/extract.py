"""HTML bytes -> text: charset, main-text extraction, and what the extractor threw away.

Decoding follows what a browser does (WHATWG "encoding sniffing", much simplified): a
byte-order mark, then the HTTP header's charset, then a `<meta charset>` in the first
4 KiB, then UTF-8, then windows-1252. A label Python does not know is passed over like a
browser would; bytes that the chosen charset cannot decode are `undecodable` (quarantined
with the charset and the byte offset), never silently replaced.

Extraction is resiliparse's `extract_plain_text(main_content=True)` by default (DCLM's
choice) or trafilatura (`--html-extractor trafilatura`, FineWeb's choice, with FineWeb's
settings `favor_precision=True, include_comments=False`). On the sample crawl resiliparse
is about 10x faster and more precise, and it drops cookie banners that trafilatura keeps:
docs/web.md has the measurements. Trafilatura's `deduplicate` is left off: its cache spans
every page a process has seen, so a page's text would depend on the pages ingested before
it; repeated lines are the `corpus` signal's job.

The page counts behind the `web` signals (curate/signals/web.py) are taken from the same
parsed tree the extractor reads: characters of visible text (outside script, style,
noscript, template and head; whitespace not counted); the characters of link text and the
number of `<a href>` links are read from the page's source (`link_counts`).
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html import unescape

EXTRACTORS = ("trafilatura", "resiliparse")
DEFAULT_EXTRACTOR = "resiliparse"

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# WHATWG Encoding: these labels mean windows-1252, which decodes 0x80..0x9F as printable text.
_WINDOWS_1252 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "ascii", "us-ascii", "iso_8859-1",
                 "cp819", "ibm819", "windows-1252", "cp1252", "x-cp1252"}
_SPACE = re.compile(r"\s+")


class DecodeError(ValueError):
    """The bytes cannot be read as text: `kind` is the quarantine kind."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _WINDOWS_1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(data: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """(text, the charset it was decoded with); DecodeError when no charset fits."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _strict(data, name, "byte-order mark"), name
    declared = [(http_charset, "HTTP header")]
    m = _META_CHARSET.search(data, 0, 4096)
    if m:
        declared.append((m.group(1).decode("ascii", "replace"), "<meta charset>"))
    unknown = []
    for label, where in declared:
        name = _codec(label)
        if name is None:
            if label:
                unknown.append(f"{label!r} ({where})")
            continue
        if name.startswith("utf-16") or name.startswith("utf_16"):
            # a UTF-16 label on ASCII-compatible bytes is a known authoring mistake (WHATWG: use UTF-8)
            name = "utf-8"
        try:
            return data.decode(name), name
        except UnicodeDecodeError as exc:
            try:
                return data.decode("utf-8"), "utf-8"  # mislabelled UTF-8 is the common case
            except UnicodeDecodeError:
                raise DecodeError("undecodable", f"bytes are not valid {name} (declared by the {where}) at "
                                                 f"byte {exc.start}: {exc.reason}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        why = f"; unknown charset {', '.join(unknown)}" if unknown else ""
        raise DecodeError("undecodable", f"bytes are neither UTF-8 nor windows-1252 (byte {exc.start}: "
                                         f"{exc.reason}){why}") from None


def _strict(data: bytes, name: str, where: str) -> str:
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        raise DecodeError("undecodable", f"bytes are not valid {name} (declared by the {where}) at byte "
                                         f"{exc.start}: {exc.reason}") from None


def visible_len(s: str) -> int:
    """Characters other than whitespace: what the counts compare, whatever the layout."""
    return len(_SPACE.sub("", s))


@dataclass(frozen=True)
class Extraction:
    text: str  # the main text, "" when the extractor found none
    visible_chars: int  # the page's visible text, whitespace not counted
    link_chars: int  # of which inside <a> elements
    links: int  # <a href> elements
    extractor: str


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR, url: str | None = None) -> Extraction:
    """The main text of a page and the counts of what it was taken from."""
    if extractor == "trafilatura":
        return _trafilatura(html, url)
    if extractor == "resiliparse":
        return _resiliparse(html)
    raise ValueError(f"unknown HTML extractor {extractor!r} (known: {', '.join(EXTRACTORS)})")


# XHTML pages start with one; lxml refuses a declared encoding in text it is given decoded
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_HIDDEN = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template or ancestor::head"


_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(r"\bhref\s*=", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def link_counts(html: str) -> tuple[int, int]:
    """(characters of link text, `<a href>` links) of a page, read from its source: the same for
    both extractors, and 300x faster than asking resiliparse's DOM for each anchor's text."""
    chars = links = 0
    for m in _ANCHOR.finditer(html):
        chars += visible_len(unescape(_TAG.sub("", m.group(2))))
        links += _HREF.search(m.group(1)) is not None
    return chars, links


def _trafilatura(html: str, url: str | None) -> Extraction:
    import lxml.etree
    import lxml.html
    import trafilatura

    try:
        tree = lxml.html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    except lxml.etree.ParserError:  # no element at all
        return Extraction("", 0, 0, 0, "trafilatura")
    visible = sum(visible_len(t) for t in tree.xpath(f"//body//text()[not({_HIDDEN})]"))
    link_chars, links = link_counts(html)
    # trafilatura cleans the tree it is given in place: the counts above are taken first
    text = trafilatura.extract(tree, url=url, favor_precision=True, include_comments=False, include_tables=True,
                               deduplicate=False, output_format="txt", with_metadata=False) or ""
    return Extraction(text.strip(), visible, link_chars, links, "trafilatura")


def _resiliparse(html: str) -> Extraction:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, main_content=True, alt_texts=False, list_bullets=True)
    if tree.body is None:
        return Extraction(text.strip(), 0, 0, 0, "resiliparse")
    visible = visible_len(extract_plain_text(tree, main_content=False, alt_texts=False, list_bullets=False))
    link_chars, links = link_counts(html)
    return Extraction(text.strip(), visible, link_chars, links, "resiliparse")
