"""WARC/WET and .html ingest (curate/web/): every record a document or quarantined with its
reason, page metadata kept, memory bounded per record, the web signals filled after scoring.

The WARC files here are written by hand (`_warc`), from the WARC 1.1 record layout, not by
the reader's library nor by the sample-data builder."""
from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import pipeline, store
from curate.engines import LocalEngine
from curate.ingest import IngestOptions, read_records
from curate.signals.web import NAMES as WEB_SIGNALS

PAGE = ("<!DOCTYPE html><html><head><title>T</title><style>p{{}}</style></head><body>"
        "<nav><a href='/'>Home</a> <a href='/a'>About</a> <a href='/b'>Blog</a></nav>"
        "<article><h1>{title}</h1><p>{body}</p></article><footer>Copyright 2024 Example</footer></body></html>")
PROSE = ("The quick brown fox jumps over the lazy dog while the careful reader keeps notes on every "
         "paragraph that the extractor is expected to keep as the main text of the page. ") * 4


def _html(title: str = "A page", body: str = PROSE) -> bytes:
    return PAGE.format(title=title, body=body).encode("utf-8")


def _record(warc_type: str, block: bytes, url: str | None = "https://example.com/x", extra: str = "",
            content_type: str = "application/http; msgtype=response", length: int | None = None) -> bytes:
    rid = uuid.uuid5(uuid.NAMESPACE_URL, f"{warc_type}{url}{len(block)}{block[:64]!r}")
    head = (f"WARC/1.1\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
            f"WARC-Date: 2024-05-06T07:08:09Z\r\n" + (f"WARC-Target-URI: {url}\r\n" if url else "") + extra
            + f"Content-Type: {content_type}\r\nContent-Length: {len(block) if length is None else length}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def _response(body: bytes, status: str = "200 OK", ctype: str = "text/html; charset=utf-8",
              url: str = "https://example.com/x") -> bytes:
    http = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return _record("response", http + body, url=url)


def _warc(path: Path, records: list[bytes]) -> Path:
    if path.name.endswith(".gz"):
        data = b"".join(gzip.compress(r, mtime=0) for r in records)
    elif path.name.endswith(".zst"):
        data = b"".join(zstandard.ZstdCompressor().compress(r) for r in records)
    else:
        data = b"".join(records)
    path.write_bytes(data)
    return path


def _rows(db, sql, params=()):
    with store.open_store(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _conserved(db) -> None:
    for n_rec, n_doc, n_quar, docs, quar in _rows(db, """
            SELECT s.n_records, s.n_documents, s.n_quarantined,
                   (SELECT count(*) FROM documents d WHERE d.source_id = s.source_id),
                   (SELECT count(*) FROM quarantine q WHERE q.source_id = s.source_id) FROM sources s"""):
        assert n_rec == n_doc + n_quar and (docs, quar) == (n_doc, n_quar)


MIXED = [
    _record("warcinfo", b"software: test\r\n", url=None, content_type="application/warc-fields"),
    _record("request", b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
            content_type="application/http; msgtype=request"),
    _response(_html("First page"), url="https://example.com/first"),
    _response(_html("Gone"), status="404 Not Found", url="https://example.com/gone"),
    _response(b"\x89PNG\r\n\x1a\n" + bytes(40), ctype="image/png", url="https://example.com/logo.png"),
    _response(_html("Second page"), url="https://example.com/second"),
    _record("revisit", b"HTTP/1.1 200 OK\r\n\r\n", extra="WARC-Refers-To: <urn:uuid:0>\r\n"),
]


@pytest.mark.parametrize("suffix", [".warc", ".warc.gz", ".warc.zst"])
def test_warc_formats_give_the_same_records(tmp_path, db, suffix):
    path = _warc(tmp_path / f"crawl{suffix}", MIXED)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    # warcinfo and request records are not records of the corpus; the rest all are
    assert (report.records, report.documents, report.quarantined) == (5, 2, 3)
    # record numbers count the corpus's records; the error names the position among all WARC records
    kinds = {k: (n, e.split(":")[0]) for k, n, e in _rows(db, "SELECT error_kind, record_no, error FROM quarantine")}
    assert kinds == {"http_status": (2, "WARC record 4"), "not_html": (3, "WARC record 5"),
                     "warc_revisit": (5, "WARC record 7")}
    docs = _rows(db, "SELECT record_no, text, metadata FROM documents ORDER BY record_no")
    assert [d[0] for d in docs] == [1, 4]
    assert "First page" in docs[0][1] and "quick brown fox" in docs[0][1]
    assert "Copyright 2024" not in docs[0][1]  # the footer is boilerplate
    meta = json.loads(docs[0][2])
    assert meta["url"] == "https://example.com/first" and meta["http_status"] == 200
    assert meta["content_type"] == "text/html" and meta["crawl_date"] == "2024-05-06T07:08:09Z"
    assert meta["warc_record_id"].startswith("<urn:uuid:") and meta["charset"] == "utf-8"
    assert 0 < meta["web_extraction"]["web_boilerplate_frac"] < 0.5
    _conserved(db)


def test_quarantine_reasons_name_the_status_and_the_type(tmp_path):
    path = _warc(tmp_path / "c.warc", MIXED)
    recs = {r.record_no: r for r in read_records(path, IngestOptions())}
    assert "404" in recs[2].error and "Not Found" in recs[2].error
    assert "image/png" in recs[3].error
    assert "https://example.com/gone" in recs[2].raw


def test_external_id_is_the_warc_record_id(tmp_path):
    path = _warc(tmp_path / "c.warc", MIXED)
    docs = [r for r in read_records(path, IngestOptions()) if r.error_kind is None]
    assert all(r.external_id == r.metadata["warc_record_id"] for r in docs)


def test_a_rerun_is_a_no_op(tmp_path, db):
    path = _warc(tmp_path / "c.warc.gz", MIXED)
    pipeline.ingest(db, [str(path)], IngestOptions())
    _, again = pipeline.ingest(db, [str(path)], IngestOptions())
    assert [f.status for f in again.files] == ["skipped"]
    assert _rows(db, "SELECT count(*) FROM documents")[0][0] == 2


def test_a_truncated_gzip_warc_fails_the_file_and_keeps_nothing(tmp_path, db):
    path = _warc(tmp_path / "c.warc.gz", MIXED)
    path.write_bytes(path.read_bytes()[:-40])
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    assert [f.status for f in report.files] == ["failed"]
    assert "c.warc.gz" in report.files[0].error
    assert _rows(db, "SELECT count(*) FROM documents")[0][0] == 0


def test_a_truncated_zstd_warc_fails_the_file(tmp_path, db):
    path = _warc(tmp_path / "c.warc.zst", MIXED)
    path.write_bytes(path.read_bytes()[:-25])
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    assert [f.status for f in report.files] == ["failed"]


def test_a_plain_warc_cut_inside_its_last_record_quarantines_that_record(tmp_path, db):
    data = b"".join(MIXED[:3]) + _response(_html("Cut"), url="https://example.com/cut")[:-300]
    path = tmp_path / "cut.warc"
    path.write_bytes(data)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    assert (report.documents, report.quarantined) == (1, 1)
    kind, err = _rows(db, "SELECT error_kind, error FROM quarantine")[0]
    assert kind == "truncated_record" and "truncated" in err
    _conserved(db)


def test_a_file_that_is_not_warc_fails_with_its_name(tmp_path, db):
    path = tmp_path / "fake.warc"
    path.write_bytes(b"this is not a WARC file\n" * 20)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    assert report.files[0].status == "failed"
    assert "fake.warc" in report.files[0].error and "WARC" in report.files[0].error


def test_a_huge_record_is_quarantined_unread(tmp_path, db):
    huge = _html("Huge", PROSE * 3000)  # ~1.6 MB of page
    path = _warc(tmp_path / "big.warc", [_response(huge, url="https://example.com/huge"), MIXED[2]])
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(max_doc_bytes=100_000))
    assert (report.documents, report.quarantined) == (1, 1)
    kind, err = _rows(db, "SELECT error_kind, error FROM quarantine")[0]
    assert kind == "too_large" and "100000" in err and "unread" in err


def test_a_content_length_past_the_end_is_a_truncated_record_not_a_big_read(tmp_path):
    # A header may claim more than the file holds; the read stops at the end of the file.
    rec = _record("resource", b"<html><body><p>short</p></body></html>", content_type="text/html", length=5_000_000)
    recs = list(read_records(_warc(tmp_path / "lie.warc", [rec]), IngestOptions()))
    assert [r.error_kind for r in recs] == ["truncated_record"]


@pytest.mark.parametrize(("ctype", "body", "kind"), [
    ("text/html; charset=utf-8", b"<html><body><p>caf\xe9 \xff\xfe na\xefve</p></body></html>", "undecodable"),
])
def test_bytes_that_fit_no_charset_are_quarantined(tmp_path, ctype, body, kind):
    recs = list(read_records(_warc(tmp_path / "c.warc", [_response(body, ctype=ctype)]), IngestOptions()))
    assert [r.error_kind for r in recs] == [kind]
    assert "utf-8" in recs[0].error and "byte" in recs[0].error


def test_windows_1252_and_an_unknown_charset_label_are_read(tmp_path):
    latin = _html("Straße", "Größere Städte führen öffentliche Bücherhallen und Bäder. " * 8).decode()
    pages = [_response(latin.encode("cp1252"), ctype="text/html; charset=iso-8859-1", url="https://e.com/1"),
             _response(latin.encode("cp1252"), ctype="text/html", url="https://e.com/2"),
             _response(latin.encode("utf-8"), ctype="text/html; charset=x-klingon", url="https://e.com/3")]
    recs = list(read_records(_warc(tmp_path / "c.warc", pages), IngestOptions()))
    assert [r.error_kind for r in recs] == [None, None, None]
    assert all("Bücherhallen" in r.text for r in recs)
    assert [r.metadata["charset"] for r in recs] == ["cp1252", "cp1252", "utf-8"]


def test_an_error_page_without_main_text_is_quarantined(tmp_path):
    empty = b"<html><head><title>x</title><script>var a = 1;</script></head><body></body></html>"
    recs = list(read_records(_warc(tmp_path / "c.warc", [_response(empty)]), IngestOptions()))
    assert [r.error_kind for r in recs] == ["no_main_text"]


def test_wet_conversion_records_are_documents_without_web_signals(tmp_path, db):
    text = "Extracted text of a page.\nA second line of it, long enough to be a document."
    wet = _record("conversion", text.encode(), content_type="text/plain",
                  extra="WARC-Refers-To: <urn:uuid:1>\r\n")
    path = _warc(tmp_path / "crawl.warc.wet.gz", [wet])
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    assert report.documents == 1
    got, meta = _rows(db, "SELECT text, metadata FROM documents")[0]
    assert got == text and "web_extraction" not in json.loads(meta)


def test_a_folder_of_html_files(tmp_path, db):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_bytes(_html("Index page"))
    (site / "sub" / "page.htm").write_bytes(_html("Sub page"))
    (site / "empty.html").write_bytes(b"<html><body></body></html>")
    _, report = pipeline.ingest(db, [str(site)], IngestOptions())
    assert (report.records, report.documents, report.quarantined) == (3, 2, 1)
    ids = {r[0] for r in _rows(db, "SELECT external_id FROM documents")}
    assert ids == {"index", "page"}
    _conserved(db)


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_both_extractors_keep_the_article_and_drop_the_menu(tmp_path, extractor):
    recs = list(read_records(_warc(tmp_path / "c.warc", [MIXED[2]]), IngestOptions(html_extractor=extractor)))
    assert recs[0].error_kind is None, recs[0].error
    assert "quick brown fox" in recs[0].text and "About" not in recs[0].text.split()
    assert recs[0].metadata["web_extraction"]["extractor"] == extractor


def test_web_signals_are_filled_after_scoring_and_null_without_html(tmp_path, db):
    (tmp_path / "plain.jsonl").write_text(json.dumps({"text": PROSE}) + "\n")
    farm = "<html><body><ul>" + "".join(f"<li><a href='/p{i}'>cheap deal {i}</a></li>" for i in range(80)) \
        + "</ul><p>Best deals.</p></body></html>"
    path = _warc(tmp_path / "c.warc", [MIXED[2], _response(farm.encode(), url="https://farm.example/")])
    pipeline.ingest(db, [str(path), str(tmp_path / "plain.jsonl")], IngestOptions())
    with pipeline.recorded_run(db, "score", {}) as ctx:
        LocalEngine(workers=1).score(ctx.con, db)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0)
    cols = ", ".join(WEB_SIGNALS)
    rows = _rows(db, f"SELECT d.metadata->>'url', {cols} FROM signals s JOIN documents d USING (doc_id)")
    by_url = {r[0]: r[1:] for r in rows}
    assert by_url[None] == (None, None, None)  # the JSONL document has no HTML
    article, farm_vals = by_url["https://example.com/first"], by_url["https://farm.example/"]
    assert article[0] < 0.5 and farm_vals[0] > 0.8  # boilerplate share
    assert farm_vals[1] > article[1] and farm_vals[2] > 10 * article[2]  # link density, links per 100 words


def test_the_web_signals_fill_is_a_no_op_on_a_rerun(tmp_path, db):
    from curate.web.scores import update_web_signals

    pipeline.ingest(db, [str(_warc(tmp_path / "c.warc", [MIXED[2]]))], IngestOptions())
    with pipeline.recorded_run(db, "score", {}) as ctx:
        LocalEngine(workers=1).score(ctx.con, db)  # fills them once
        assert update_web_signals(ctx.con) == 0
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0)


def test_the_cli_takes_the_extractor(tmp_path, db, capsys):
    from curate.cli import main

    path = _warc(tmp_path / "c.warc", [MIXED[2]])
    assert main(["ingest", str(path), "--db", str(db), "--html-extractor", "trafilatura"]) == 0
    meta = json.loads(_rows(db, "SELECT metadata FROM documents")[0][0])
    assert meta["web_extraction"]["extractor"] == "trafilatura"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.sampled_from([None, "utf-8", "iso-8859-1", "windows-1252", "x-unknown", "utf-16"]))
def test_decoding_reads_utf8_back_and_fails_only_with_a_reason(text, charset):
    from curate.web.extract import DecodeError, decode_html

    data = text.encode("utf-8", "surrogatepass")
    try:
        got, used = decode_html(data, charset)
    except DecodeError as exc:
        assert exc.kind == "undecodable" and "byte" in str(exc)
        return
    if charset in (None, "utf-8", "x-unknown", "utf-16") and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        assert got == data.decode("utf-8", "surrogatepass") and used in ("utf-8", "utf_8")
