"""WARC, WET and HTML files -> web records (main text + page metadata, or why not).

The WARC reader is FastWARC (docs/web.md: about 4.8x warcio's records/s on the same file,
and it passes over an oversized record's payload without holding it in memory). It reads the
decompressed stream `curate.ingest` opens, so a truncated .gz or .zst fails the file as it
does for every other format, and the bytes are hashed on the way.

Per WARC record (`record_no` counts the records of the corpus below, from 1, as line numbers
do for JSONL; a quarantine error names the record's position among all WARC records too):
- `response` (HTTP), `resource` and `conversion` (WET) records are records of the corpus:
  each becomes a document or a quarantined record with its reason;
- `revisit` (the payload is an earlier capture's) and `continuation` (a segment of a record
  split over files) carry no page of their own: quarantined, so that a count says so;
- `warcinfo`, `request` and `metadata` records describe the crawl, not a page: not records
  of the corpus (FineWeb and datatrove read `response` and `conversion` records only).

Quarantine kinds: `http_status` (not 200), `not_html` (another content type), `too_large`
(the payload is over --max-doc-bytes: skipped unread), `truncated_record` (the file ends
inside the record), `bad_http` (no readable HTTP header), `undecodable` (no charset fits the
bytes), `no_main_text` (the extractor found no main text: error pages, link farms),
`extraction_failed`, `warc_revisit`, `warc_segmented`. A record that is not WARC at all
fails the file: FastWARC cannot find the next record after it.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from curate.errors import FileFailedError, UsageError
from curate.signals.web import META_KEY, page_signals
from curate.web.extract import DEFAULT_EXTRACTOR, EXTRACTORS, DecodeError, decode_html, extract, visible_len

RAW_KEEP = 1000
HTML_TYPES = ("text/html", "application/xhtml+xml")
_LOOKS_HTML = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)


@dataclass
class WebRecord:
    record_no: int
    text: str | None = None
    external_id: str | None = None
    metadata: dict | None = None
    error_kind: str | None = None
    error: str | None = None
    raw: str = ""


def _head(data: bytes) -> str:
    s = data[:RAW_KEEP].decode("utf-8", "replace")
    return s if len(data) <= RAW_KEEP else s + "…"


def _is_html(content_type: str | None, payload: bytes) -> bool:
    if content_type:
        return content_type.split(";")[0].strip().lower() in HTML_TYPES
    return bool(_LOOKS_HTML.match(payload[:4096]))


def page_record(record_no: int, payload: bytes, meta: dict, *, http_charset: str | None,
                extractor: str, url: str | None) -> WebRecord:
    """An HTML payload -> a document with its `web_extraction` counts, or a quarantined record."""
    try:
        html, charset = decode_html(payload, http_charset)
    except DecodeError as exc:
        return WebRecord(record_no, error_kind=exc.kind, error=str(exc), raw=_head(payload))
    try:
        ex = extract(html, extractor, url=url)
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:  # lxml, trafilatura, resiliparse
        return WebRecord(record_no, error_kind="extraction_failed",
                         error=f"{extractor} failed on the page: {type(exc).__name__}: {exc}", raw=_head(payload))
    if not ex.text.strip():
        return WebRecord(record_no, error_kind="no_main_text",
                         error=f"{extractor} found no main text on the page "
                               f"({ex.visible_chars} visible characters, {ex.links} links)", raw=_head(payload))
    counts = {"extractor": ex.extractor, "visible_chars": ex.visible_chars, "main_chars": visible_len(ex.text),
              "link_chars": ex.link_chars, "links": ex.links}
    signals = page_signals(main_chars=counts["main_chars"], main_words=len(ex.text.split()),
                           visible_chars=ex.visible_chars, link_chars=ex.link_chars, links=ex.links)
    meta = {**meta, "charset": charset, META_KEY: {**signals, **counts}}
    return WebRecord(record_no, text=ex.text, metadata=meta)


def _check_extractor(extractor: str) -> None:
    if extractor not in EXTRACTORS:
        raise UsageError(f"unknown HTML extractor {extractor!r} (known: {', '.join(EXTRACTORS)})")


def read_html(fh, name: str, *, max_bytes: int, extractor: str = DEFAULT_EXTRACTOR) -> Iterator[WebRecord]:
    """One .html file (decompressed stream `fh`) -> one record."""
    _check_extractor(extractor)
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        size = len(data) + sum(len(c) for c in iter(lambda: fh.read(1 << 20), b""))
        yield WebRecord(1, error_kind="too_large", error=f"page is {size} bytes, over --max-doc-bytes {max_bytes}",
                        raw=_head(data))
        return
    rec = page_record(1, data, {"path": name, "content_type": "text/html"}, http_charset=None,
                      extractor=extractor, url=None)
    yield rec


class _Counted:
    """A forward-only stream with `tell`, which FastWARC asks of a Python stream (the decompressed
    streams curate.ingest opens cannot seek)."""

    def __init__(self, fh):
        self._fh, self._pos = fh, 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos


def read_warc(fh, name: str, *, max_bytes: int, extractor: str = DEFAULT_EXTRACTOR) -> Iterator[WebRecord]:
    """The records of a WARC or WET stream (already decompressed)."""
    _check_extractor(extractor)
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    wanted = (WarcRecordType.response, WarcRecordType.resource, WarcRecordType.conversion,
              WarcRecordType.revisit, WarcRecordType.continuation)
    records = ArchiveIterator(_Counted(fh), record_types=WarcRecordType.any_type, parse_http=False, auto_decode="none",
                              stream_detect=False, fsspec_args=False)
    record_no = position = 0
    it = iter(records)
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except OSError as exc:
            raise FileFailedError(f"{name}: no readable WARC record after WARC record {position} "
                                  f"(not a WARC file, or damaged): {exc}") from exc
        position += 1
        if rec.record_type not in wanted:
            continue
        record_no += 1
        out = _record(rec, record_no, max_bytes, extractor)
        if out.error_kind is not None:
            out.error = f"WARC record {position}: {out.error}"
        yield out


def _warc_meta(rec) -> dict:
    h = rec.headers
    meta = {"url": h.get("WARC-Target-URI"), "crawl_date": h.get("WARC-Date"),
            "warc_record_id": h.get("WARC-Record-ID"), "warc_type": h.get("WARC-Type")}
    return {k: v for k, v in meta.items() if v is not None}


def _summary(meta: dict, *extra: str) -> str:
    return " ".join(str(x) for x in (meta.get("url"), *extra) if x)


def _read_payload(reader, declared: int, max_bytes: int, record_no: int, what: str) -> bytes | WebRecord:
    if declared > max_bytes:
        return WebRecord(record_no, error_kind="too_large",
                         error=f"{what} is {declared} bytes, over --max-doc-bytes {max_bytes} (skipped unread)")
    data = reader.read(declared)
    if len(data) < declared:
        return WebRecord(record_no, error_kind="truncated_record",
                         error=f"the file ends {declared - len(data)} bytes before the end of this record's "
                               f"{what} (truncated file?)", raw=_head(data))
    return data


def _record(rec, record_no: int, max_bytes: int, extractor: str) -> WebRecord:
    from fastwarc.warc import WarcRecordType

    meta = _warc_meta(rec)
    kind = rec.record_type
    if kind == WarcRecordType.revisit:
        return WebRecord(record_no, error_kind="warc_revisit",
                         error="revisit record: its payload is an earlier capture's "
                               f"({rec.headers.get('WARC-Refers-To') or 'not named'}), not a page of its own",
                         raw=_summary(meta))
    if kind == WarcRecordType.continuation:
        return WebRecord(record_no, error_kind="warc_segmented",
                         error="continuation record: a segment of a record split over several files",
                         raw=_summary(meta))
    ctype = rec.headers.get("Content-Type")
    if kind == WarcRecordType.response:
        if rec.content_length > max_bytes:  # before parsing HTTP: its header would be read too
            return WebRecord(record_no, error_kind="too_large",
                             error=f"record is {rec.content_length} bytes, over --max-doc-bytes {max_bytes} "
                                   f"(skipped unread)", raw=_summary(meta))
        why = "no status line"
        try:
            rec.parse_http()
            http = rec.http_headers
        except (OSError, ValueError) as exc:
            http, why = None, str(exc)
        if http is None or not isinstance(http.status_code, int):
            return WebRecord(record_no, error_kind="bad_http",
                             error=f"response record without a readable HTTP header ({why})", raw=_summary(meta))
        status = http.status_code
        ctype = http.get("Content-Type")
        meta["http_status"] = status
        if ctype:
            meta["content_type"] = ctype.split(";")[0].strip().lower()
        if status != 200:
            return WebRecord(record_no, error_kind="http_status",
                             error=f"HTTP {http.status_line.split(' ', 1)[-1].strip()}: only 200 responses are pages",
                             raw=_summary(meta, http.status_line, ctype or ""))
        declared = rec.content_length  # what is left after the HTTP header
        charset = rec.http_charset
    else:
        if ctype:
            meta["content_type"] = ctype.split(";")[0].strip().lower()
        declared = rec.content_length
        charset = None
        if ctype and "charset=" in ctype.lower():
            charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip()
    got = _read_payload(rec.reader, declared, max_bytes, record_no, "payload")
    if isinstance(got, WebRecord):
        got.raw = got.raw or _summary(meta)
        return got
    if kind == WarcRecordType.conversion and (not ctype or ctype.lower().startswith("text/plain")):
        return _wet_record(record_no, got, meta)
    if not _is_html(ctype, got):
        return WebRecord(record_no, error_kind="not_html",
                         error=f"content type {meta.get('content_type') or 'unknown'} is not HTML",
                         raw=_summary(meta, meta.get("content_type", "")))
    return page_record(record_no, got, meta, http_charset=charset, extractor=extractor, url=meta.get("url"))


def _wet_record(record_no: int, data: bytes, meta: dict) -> WebRecord:
    """A WET conversion record: text someone else extracted (Common Crawl writes UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return WebRecord(record_no, error_kind="undecodable",
                         error=f"WET text is not valid UTF-8 at byte {exc.start}: {exc.reason}", raw=_head(data))
    if not text.strip():
        return WebRecord(record_no, error_kind="no_main_text", error="WET record with no text", raw=_summary(meta))
    return WebRecord(record_no, text=text.strip(), metadata=meta)
