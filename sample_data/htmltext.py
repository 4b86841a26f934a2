"""HTML -> text blocks with the standard library only (html.parser).

The sample corpus is built from real HTML manuals (Debian Reference, the aptitude
manual, the Python documentation). Their navigation bars, tables of contents and
index tables would turn every "clean" page into boilerplate, so those containers are
skipped by class name; what remains is headings, paragraphs, list items and code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

BLOCK_TAGS = frozenset({
    "p", "div", "li", "dt", "dd", "pre", "blockquote", "section", "article", "br",
    "tr", "ul", "ol", "dl", "table", "h1", "h2", "h3", "h4", "h5", "h6", "title",
})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
VOID_TAGS = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"})
ALWAYS_SKIP = frozenset({"script", "style", "head", "noscript", "svg", "button", "form", "nav"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


@dataclass(frozen=True)
class Block:
    kind: str  # "h1".."h6", "p" (any prose block), "pre"
    text: str


class _BlockParser(HTMLParser):
    def __init__(self, skip_classes: frozenset[str], skip_tags: frozenset[str], root_class: str | None):
        super().__init__(convert_charrefs=True)
        self.skip_classes = skip_classes
        self.skip_tags = ALWAYS_SKIP | skip_tags
        self.root_class = root_class
        self.blocks: list[Block] = []
        self._buf: list[str] = []
        self._kind = "p"
        self._stack: list[str] = []
        self._skip_depth: int | None = None
        self._root_depth: int | None = None if root_class else 0
        self._pre = 0

    def _flush(self) -> None:
        raw = "".join(self._buf)
        self._buf = []
        if self._pre:
            text = raw.strip("\n")
            if text.strip():
                self.blocks.append(Block("pre", text.rstrip()))
        else:
            text = _SPACES.sub(" ", raw).strip()
            if text:
                self.blocks.append(Block(self._kind, text))
        self._kind = "p"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS:
            if tag == "br" and self._capturing():
                self._buf.append("\n" if self._pre else " ")
            return
        self._stack.append(tag)
        depth = len(self._stack)
        classes = set((dict(attrs).get("class") or "").split())
        if self._root_depth is None and self.root_class in classes:
            self._root_depth = depth
        if self._skip_depth is None and (tag in self.skip_tags or classes & self.skip_classes):
            self._skip_depth = depth
        if not self._capturing():
            return
        if tag in BLOCK_TAGS:
            self._flush()
            if tag in HEADING_TAGS:
                self._kind = tag
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS or tag not in self._stack:
            return
        # Close everything opened after this tag (HTML in the wild leaves <p>/<li> open).
        while self._stack:
            depth = len(self._stack)
            top = self._stack.pop()
            if self._capturing() and (top in BLOCK_TAGS or top == "pre"):
                self._flush()
                if top == "pre":
                    self._pre = max(0, self._pre - 1)
            if self._skip_depth == depth:
                self._skip_depth = None
            if self._root_depth == depth and self.root_class:
                self._root_depth = None
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._capturing():
            self._buf.append(data)

    def _capturing(self) -> bool:
        return self._skip_depth is None and self._root_depth is not None

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(
    html: str,
    *,
    skip_classes: frozenset[str] = frozenset(),
    skip_tags: frozenset[str] = frozenset(),
    root_class: str | None = None,
) -> list[Block]:
    """Blocks of text in document order; containers with a class in `skip_classes` are
    dropped whole; with `root_class`, only text inside an element of that class is kept."""
    parser = _BlockParser(skip_classes, skip_tags, root_class)
    parser.feed(html)
    parser.close()
    return parser.blocks


def sections(blocks: list[Block], split_at: frozenset[str] = frozenset({"h1", "h2", "h3"})) -> list[list[Block]]:
    """Group blocks into sections, each starting at a heading of a level in `split_at`."""
    out: list[list[Block]] = []
    cur: list[Block] = []
    for b in blocks:
        if b.kind in split_at and cur:
            out.append(cur)
            cur = []
        cur.append(b)
    if cur:
        out.append(cur)
    return out
