from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate import pipeline, store
from curate.cli import main
from curate.ingest import IngestOptions, read_records


def _rows(db, sql, params=()):
    with store.open_store(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _conserved(db):
    """records read = ingested + quarantined, per source and per run."""
    per_source = _rows(db, """
        SELECT s.n_records, s.n_documents, s.n_quarantined,
               (SELECT count(*) FROM documents d WHERE d.source_id = s.source_id),
               (SELECT count(*) FROM quarantine q WHERE q.source_id = s.source_id)
        FROM sources s""")
    for n_rec, n_doc, n_quar, docs, quar in per_source:
        assert n_rec == n_doc + n_quar
        assert (docs, quar) == (n_doc, n_quar)
    for read, ing, quar in _rows(db, "SELECT records_read, documents_ingested, quarantined FROM runs"):
        assert read == ing + quar


def _write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


GOOD = [json.dumps({"id": f"a{i}", "text": f"document number {i}", "url": "u"}).encode() + b"\n" for i in range(5)]


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_formats(tmp_path, db, suffix):
    data = b"".join(GOOD)
    path = tmp_path / f"c{suffix}"
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(id_field="id"))
    assert (report.records, report.documents, report.quarantined) == (5, 5, 0)
    rows = _rows(db, "SELECT external_id, text, metadata->>'url' FROM documents ORDER BY record_no")
    assert rows[0] == ("a0", "document number 0", "u")
    _conserved(db)


def test_parquet(tmp_path, db):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2", "p3"], "body": ["one doc", None, "three"], "n": [1, 2, 3]}), path)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(text_field="body", id_field="id"))
    assert (report.documents, report.quarantined) == (2, 1)
    assert _rows(db, "SELECT error_kind, record_no FROM quarantine") == [("non_string_text", 2)]
    assert _rows(db, "SELECT metadata->>'n' FROM documents ORDER BY record_no") == [("1",), ("3",)]
    _conserved(db)


def test_csv(tmp_path, db):
    path = tmp_path / "c.csv"
    path.write_bytes(b'id,text\nc1,"hello, world"\nc2,"multi\nline"\nc3\nc4,\xff\xfebad\n')
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(id_field="id"))
    assert report.documents == 2
    kinds = dict(_rows(db, "SELECT record_no, error_kind FROM quarantine"))
    assert kinds == {3: "malformed_csv", 4: "invalid_utf8"}
    assert _rows(db, "SELECT text FROM documents WHERE external_id='c2'") == [("multi\nline",)]
    _conserved(db)


def test_txt_folder_and_glob(tmp_path, db):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "a.txt").write_text("first page text")
    (folder / "b.txt").write_text("   \n")
    (folder / "c.txt").write_bytes(b"caf\xe9 latin-1 bytes")
    _, report = pipeline.ingest(db, [str(folder / "*.txt")])
    assert (report.records, report.documents, report.quarantined) == (3, 1, 2)
    assert _rows(db, "SELECT external_id FROM documents") == [("a",)]
    assert sorted(r[0] for r in _rows(db, "SELECT error_kind FROM quarantine")) == ["empty_text", "invalid_utf8"]
    _conserved(db)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, kind, message",
    [
        (b'{"text": "unterminated\n', "malformed_json", "malformed JSON"),
        (b'{"text": "caf\xc3 au lait"}\n', "invalid_utf8", "invalid UTF-8 at byte"),
        (b'{"body": "x", "title": "y"}\n', "missing_text_field", "fields present: body, title"),
        (b'{"text": ["a", "list"]}\n', "non_string_text", "is list, not a string"),
        (b'{"text": null}\n', "non_string_text", "is NoneType"),
        (b'{"text": ""}\n', "empty_text", "empty or whitespace"),
        (b'{"text": " \\n\\t "}\n', "empty_text", "empty or whitespace"),
        (b'[1, 2, 3]\n', "not_an_object", "expected a JSON object"),
    ],
)
def test_bad_record_quarantined_and_run_goes_on(tmp_path, db, line, kind, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", [GOOD[0], line, GOOD[1]])
    _, report = pipeline.ingest(db, [str(path)])
    assert (report.records, report.documents, report.quarantined) == (3, 2, 1)
    (row,) = _rows(db, "SELECT uri, record_no, error_kind, error FROM quarantine")
    assert row[0] == str(path) and row[1] == 2 and row[2] == kind
    assert message in row[3]
    _conserved(db)


def test_truncated_last_line(tmp_path, db):
    path = _write_jsonl(tmp_path / "t.jsonl", [GOOD[0], b'{"text": "cut he'])
    _, report = pipeline.ingest(db, [str(path)])
    (row,) = _rows(db, "SELECT record_no, error_kind, error FROM quarantine")
    assert row[:2] == (2, "malformed_json") and "truncated" in row[2]
    _conserved(db)


def test_invalid_utf8_keeps_rest_of_file(tmp_path, db):
    path = _write_jsonl(tmp_path / "u.jsonl", [GOOD[0], b"\xff\xfe\xfd garbage\n", *GOOD[1:]])
    _, report = pipeline.ingest(db, [str(path)])
    assert report.documents == 5 and report.quarantined == 1


def test_oversized_document(tmp_path, db):
    big = json.dumps({"text": "x" * 5000}).encode() + b"\n"
    path = _write_jsonl(tmp_path / "big.jsonl", [GOOD[0], big, GOOD[1]])
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(max_doc_bytes=1000))
    assert report.documents == 2
    (row,) = _rows(db, "SELECT record_no, error_kind, error, length(raw) FROM quarantine")
    assert row[:2] == (2, "too_large") and "--max-doc-bytes 1000" in row[2]
    assert row[3] <= 1001  # raw is truncated, not the whole document


def test_oversized_line_read_in_bounded_pieces(tmp_path):
    # The line is far over the reader's line limit: it is drained, not loaded whole.
    big = b'{"text": "' + b"y" * 200_000 + b'"}\n'
    path = _write_jsonl(tmp_path / "huge.jsonl", [big, GOOD[0]])
    recs = list(read_records(path, IngestOptions(max_doc_bytes=1000)))
    assert [r.error_kind for r in recs] == ["too_large", None]
    assert recs[1].record_no == 2


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_archive_fails_whole_file(tmp_path, db, suffix):
    data = b"".join(GOOD * 2000)
    comp = gzip.compress(data) if suffix.endswith(".gz") else zstandard.ZstdCompressor().compress(data)
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(comp[: len(comp) // 2])
    ok = _write_jsonl(tmp_path / "ok.jsonl", GOOD)
    rc = main(["ingest", "--db", str(db), "-q", str(bad), str(ok)])
    assert rc == 1
    assert _rows(db, "SELECT count(*) FROM documents"
                     " WHERE source_id IN (SELECT source_id FROM sources WHERE uri = ?)", [str(bad)]) == [(0,)]
    assert _rows(db, "SELECT count(*) FROM documents") == [(5,)]  # the good file still went in
    assert _rows(db, "SELECT count(*) FROM sources WHERE uri = ?", [str(bad)]) == [(0,)]
    (status, failed, msg) = _rows(db, "SELECT status, files_failed, message FROM runs")[0]
    assert status == "failed" and failed == 1 and str(bad) in msg
    _conserved(db)


def test_corrupt_gzip_fails(tmp_path, db):
    bad = tmp_path / "junk.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip data" * 10)
    _, report = pipeline.ingest(db, [str(bad)])
    assert report.failed and str(bad) in report.failed[0].error
    assert _rows(db, "SELECT count(*) FROM documents") == [(0,)]


def test_unreadable_parquet_fails(tmp_path, db):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    _, report = pipeline.ingest(db, [str(bad)])
    assert report.failed and "unreadable Parquet" in report.failed[0].error


# --- idempotence and identity ------------------------------------------------------------


def test_reingest_same_content_is_noop(tmp_path, db):
    path = _write_jsonl(tmp_path / "a.jsonl", GOOD)
    pipeline.ingest(db, [str(path)])
    copy = _write_jsonl(tmp_path / "copy.jsonl", GOOD)  # same bytes, other name
    _, report = pipeline.ingest(db, [str(path), str(copy)])
    assert [f.status for f in report.files] == ["skipped", "skipped"]
    assert _rows(db, "SELECT count(*) FROM documents") == [(5,)]


def test_changed_file_is_new_source(tmp_path, db):
    path = _write_jsonl(tmp_path / "a.jsonl", GOOD)
    pipeline.ingest(db, [str(path)])
    _write_jsonl(path, GOOD + [b'{"text": "one more"}\n'])
    pipeline.ingest(db, [str(path)])
    assert _rows(db, "SELECT count(*), count(DISTINCT source_id) FROM documents") == [(11, 2)]


def test_doc_ids_stable_and_text_hash_normalized(tmp_path):
    path = _write_jsonl(tmp_path / "a.jsonl", [b'{"text": "Hello   World"}\n', b'{"text": "hello world "}\n'])
    ids = []
    hashes = []
    for n in range(2):
        db = tmp_path / f"s{n}.duckdb"
        pipeline.ingest(db, [str(path)])
        rows = _rows(db, "SELECT doc_id, text_hash FROM documents ORDER BY record_no")
        ids.append([r[0] for r in rows])
        hashes = [r[1] for r in rows]
    assert ids[0] == ids[1]
    assert hashes[0] == hashes[1]


def test_missing_input_is_usage_error(tmp_path, db, capsys):
    assert main(["ingest", "--db", str(db), str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- property: any byte string as a JSONL line either ingests or quarantines -----------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=6))
def test_any_bytes_ingest_or_quarantine(tmp_path, lines):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines))
    recs = list(read_records(path, IngestOptions(max_doc_bytes=150)))
    for r in recs:
        assert (r.error_kind is None) == (r.text is not None)
        if r.text is not None:
            assert r.text.strip()
    assert [r.record_no for r in recs] == list(range(1, len(recs) + 1))
