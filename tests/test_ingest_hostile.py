"""Hostile input: bombs, deep nesting, odd file names, files that change while read, BOMs,
unreadable folders, an export folder inside the input. One bad record or file never stops
a command, and memory stays bounded whatever a file holds."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from curate import ingest, pipeline, store
from curate.cli import main
from curate.errors import UsageError
from curate.ingest import IngestOptions, read_records

MIB = 1 << 20
GOOD = [json.dumps({"id": f"a{i}", "text": f"document number {i}"}).encode() + b"\n" for i in range(5)]


def _rows(db, sql, params=()):
    with store.open_store(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _conserved(db):
    for n_rec, n_doc, n_quar, docs, quar in _rows(db, """
            SELECT s.n_records, s.n_documents, s.n_quarantined,
                   (SELECT count(*) FROM documents d WHERE d.source_id = s.source_id),
                   (SELECT count(*) FROM quarantine q WHERE q.source_id = s.source_id)
            FROM sources s"""):
        assert n_rec == n_doc + n_quar and (docs, quar) == (n_doc, n_quar)
    for read, ing, quar in _rows(db, "SELECT records_read, documents_ingested, quarantined FROM runs"):
        assert read == ing + quar


# --- A. bombs: memory bounded for every reader ----------------------------------------------

# The reader runs in a child process under an address-space limit (a reader that expands
# the bomb dies there, not the test machine) and reports its peak resident memory.
_CHILD = r"""
import json, resource, sys
from pathlib import Path
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from curate.ingest import IngestOptions, read_records
opts = IngestOptions(max_doc_bytes=int(sys.argv[2]))
recs = [[r.record_no, r.error_kind, r.text] for r in read_records(Path(sys.argv[1]), opts)]
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would count the forking test process.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"records": recs, "peak_rss": int(hwm.split()[1]) * 1024}))
"""

AS_LIMIT = int(1.5 * 1024 ** 3)


def _read_in_child(path: Path, max_doc_bytes: int) -> tuple[list, int]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(max_doc_bytes), str(AS_LIMIT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    return [tuple(r) for r in out["records"]], out["peak_rss"]


def _zst_writer(path: Path):
    fh = open(path, "wb")
    return fh, zstandard.ZstdCompressor(level=1).stream_writer(fh, closefd=False)


def _bomb_jsonl_zst(path: Path, mib: int) -> None:
    fh, w = _zst_writer(path)  # one frame, streamed: the test never holds the expanded bytes
    w.write(b'{"text": "')
    chunk = b"x" * MIB
    for _ in range(mib):
        w.write(chunk)
    w.write(b'"}\n' + GOOD[0])
    w.flush(zstandard.FLUSH_FRAME)
    fh.close()


def _gzip_members(path: Path, head: bytes, chunk: bytes, mib: int, tail: bytes) -> None:
    # gzip members concatenate: one compressed MiB written `mib` times is a `mib` MiB stream.
    member = gzip.compress(chunk, compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(head))
        for _ in range(mib):
            fh.write(member)
        fh.write(gzip.compress(tail))


def _bomb_csv_zst(path: Path, mib: int) -> None:
    fh, w = _zst_writer(path)
    w.write(b"id,text\n1,")
    chunk = b"y" * MIB
    for _ in range(mib):
        w.write(chunk)
    w.write(b"\n2,a good row\n")
    w.flush(zstandard.FLUSH_FRAME)
    fh.close()


def _sparse(path: Path, head: bytes, mib: int, tail: bytes) -> None:
    # A hole reads as NUL bytes (valid UTF-8): a huge line that takes no disk space.
    with open(path, "wb") as fh:
        fh.write(head)
        fh.seek(mib * MIB, os.SEEK_CUR)
        fh.write(tail)


BOMBS = {
    "jsonl.zst": ("bomb.jsonl.zst", _bomb_jsonl_zst),
    "jsonl.gz": ("bomb.jsonl.gz", lambda p, m: _gzip_members(p, b'{"text": "', b"x" * MIB, m, b'"}\n' + GOOD[0])),
    "jsonl": ("bomb.jsonl", lambda p, m: _sparse(p, b'{"text": "', m, b'"}\n' + GOOD[0])),
    "csv.gz": ("bomb.csv.gz", lambda p, m: _gzip_members(p, b"id,text\n1,", b"y" * MIB, m, b"\n2,a good row\n")),
    "csv.zst": ("bomb.csv.zst", _bomb_csv_zst),
    "csv": ("bomb.csv", lambda p, m: _sparse(p, b"id,text\n1,", m, b"\n2,a good row\n")),
    # a quoted field over many lines: the record ends where its quote closes, not at a line end
    "csv.gz multi-line": ("multi.csv.gz", lambda p, m: _gzip_members(
        p, b'id,text\n1,"', (b"z" * 1023 + b"\n") * 1024, m, b'"\n2,a good row\n')),
}


def _check_bomb(tmp_path: Path, kind: str, mib: int, max_doc_bytes: int, rss_limit: int) -> int:
    name, build = BOMBS[kind]
    path = tmp_path / name
    build(path, mib)
    assert path.stat().st_blocks * 512 < 16 * MIB  # the file on disk is small
    recs, peak = _read_in_child(path, max_doc_bytes)
    assert [r[1] for r in recs] == ["too_large", None], recs
    assert recs[1][0] == 2 and recs[1][2] in ("document number 0", "a good row")
    assert peak < rss_limit, f"{kind}: peak RSS {peak / MIB:.0f} MiB reading a {mib} MiB record"
    return peak


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_bomb_memory_bounded(tmp_path, kind):
    _check_bomb(tmp_path, kind, mib=256, max_doc_bytes=MIB, rss_limit=200 * MIB)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_bomb_4gib_default_limits(tmp_path, kind):
    peak = _check_bomb(tmp_path, kind, mib=4096, max_doc_bytes=ingest.MAX_DOC_BYTES, rss_limit=700 * MIB)
    print(f"{kind}: peak RSS {peak / MIB:.0f} MiB")


def test_huge_txt_file_bounded(tmp_path):
    path = tmp_path / "big.txt"
    _sparse(path, b"start ", 256, b" end")
    recs, peak = _read_in_child(path, MIB)
    assert [r[1] for r in recs] == ["too_large"]
    assert peak < 200 * MIB


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.zst"])
def test_oversized_csv_row_quarantined_and_file_read_on(tmp_path, db, suffix):
    data = b"id,text\n1,first row\n2," + b"w" * 300_000 + b"\n3,third row\n4,\"" + b"q\n" * 100_000 + b"\"\n5,fifth\n"
    if suffix == ".csv.gz":
        data = gzip.compress(data)
    elif suffix == ".csv.zst":
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(data)
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(max_doc_bytes=1000))
    assert (report.records, report.documents, report.quarantined) == (5, 3, 2)
    rows = _rows(db, "SELECT record_no, error_kind, error FROM quarantine ORDER BY record_no")
    assert [r[:2] for r in rows] == [(2, "too_large"), (4, "too_large")]
    assert all("--max-doc-bytes 1000" in r[2] for r in rows)
    assert _rows(db, "SELECT text FROM documents ORDER BY record_no") == [("first row",), ("third row",), ("fifth",)]
    _conserved(db)


def test_oversized_csv_field_is_too_large_not_malformed(tmp_path):
    # Under the record limit but over --max-doc-bytes: too_large, from the text check.
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,text\n1," + b"v" * 5000 + b"\n2,ok\n")
    recs = list(read_records(path, IngestOptions(max_doc_bytes=1000)))
    assert [r.error_kind for r in recs] == ["too_large", None]


def test_csv_scan_finds_record_end():
    scan = ingest._csv_scan
    assert scan('a,"b\n', ingest._FIELD_START) == ingest._QUOTED
    assert scan('a,"b""c",d\n', ingest._FIELD_START) == ingest._RECORD_END
    assert scan('5" screen,x\n', ingest._FIELD_START) == ingest._RECORD_END  # a quote mid-field is literal
    assert scan('"', ingest._QUOTE_IN_QUOTED) == ingest._QUOTED  # "" split across pieces
    assert scan('\n', ingest._QUOTE_IN_QUOTED) == ingest._RECORD_END


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_single_frame_zst_still_fails(tmp_path, db, cut):
    path = tmp_path / "cut.jsonl.zst"
    comp = zstandard.ZstdCompressor().compress(b"".join(GOOD * 5000))
    path.write_bytes(comp[: int(len(comp) * cut)])
    _, report = pipeline.ingest(db, [str(path)])
    assert report.failed and "truncated" in report.failed[0].error
    assert _rows(db, "SELECT count(*) FROM documents") == [(0,)]


def test_zst_multiple_and_skippable_frames(tmp_path):
    c = zstandard.ZstdCompressor()
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(c.compress(GOOD[0]) + skippable + c.compress(GOOD[1]))
    assert [r.text for r in read_records(path)] == ["document number 0", "document number 1"]


# --- B. one bad record never aborts a command -----------------------------------------------


def test_deeply_nested_record_quarantined(tmp_path, db):
    deep = b'{"text": "t", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n"
    bad = tmp_path / "a_deep.jsonl"
    bad.write_bytes(GOOD[0] + deep + GOOD[1])
    good = tmp_path / "b_good.jsonl"
    good.write_bytes(b"".join(GOOD[2:]))
    assert main(["ingest", "--db", str(db), "-q", str(bad), str(good)]) == 0
    assert _rows(db, "SELECT record_no, error_kind FROM quarantine") == [(2, "too_deep")]
    assert _rows(db, "SELECT count(*) FROM documents") == [(5,)]
    _conserved(db)


@pytest.mark.parametrize("line, kind", [
    (b'{"text": "ok", "title": "\\ud800"}\n', "invalid_utf8"),      # a lone surrogate in metadata
    (b'{"text": "ok", "n": ' + b"9" * 5000 + b"}\n", "malformed_json"),  # past int digit limit
    # near the recursion limit: stored, or quarantined if the caller's stack is deep; never a crash
    (b'{"text": "ok", "x": ' + b"[" * 990 + b"]" * 990 + b"}\n", "too_deep?"),
])
def test_odd_record_never_aborts_file(tmp_path, db, line, kind):
    path = tmp_path / "odd.jsonl"
    path.write_bytes(GOOD[0] + line + GOOD[1])
    _, report = pipeline.ingest(db, [str(path)])
    assert not report.failed and report.records == 3
    quarantined = _rows(db, "SELECT error_kind FROM quarantine")
    if kind.endswith("?"):
        assert quarantined in ([], [(kind[:-1],)])
    else:
        assert quarantined == [(kind,)]
    _conserved(db)


def test_non_utf8_file_name(tmp_path, db, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    raw_name = os.path.join(os.fsencode(folder), b"lat\xe9.jsonl")
    with open(raw_name, "wb") as fh:
        fh.write(b"".join(GOOD[:3]))
    (folder / "ok.jsonl").write_bytes(b"".join(GOOD[3:]))
    assert main(["ingest", "--db", str(db), "-q", str(folder)]) == 0
    uris = sorted(r[0] for r in _rows(db, "SELECT uri FROM sources"))
    assert uris == [str(folder / "lat\\xe9.jsonl"), str(folder / "ok.jsonl")]
    assert _rows(db, "SELECT count(*) FROM documents") == [(5,)]
    # named directly, as a shell passes it (surrogateescape), it is the same content: skipped
    _, report = pipeline.ingest(db, [os.fsdecode(raw_name)])
    assert [f.status for f in report.files] == ["skipped"]
    capsys.readouterr()


def test_non_utf8_txt_name_and_csv_header(tmp_path, db):
    folder = tmp_path / "pages"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"a page of text")
    csv_path = tmp_path / "h.csv"
    csv_path.write_bytes(b"id,caf\xe9\n1,x\n")  # no text field; the field name is not UTF-8
    _, report = pipeline.ingest(db, [str(folder), str(csv_path)])
    assert not report.failed
    assert _rows(db, "SELECT external_id FROM documents") == [("caf\\xe9",)]
    (err,) = _rows(db, "SELECT error FROM quarantine")
    assert "no field 'text'" in err[0]
    _conserved(db)


# --- C. a file that changes while it is read ------------------------------------------------


def _rewrite_after_first_batch(monkeypatch, path: Path, new_bytes: bytes) -> None:
    calls = {"n": 0}
    flush = ingest._Batcher.flush

    def flush_then_rewrite(self):
        flush(self)
        calls["n"] += 1
        if calls["n"] == 1:
            st = path.stat()
            with open(path, "r+b") as fh:  # in place, same size, mtime put back
                fh.write(new_bytes)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    monkeypatch.setattr(ingest._Batcher, "flush", flush_then_rewrite)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_file_changed_while_read_fails_and_keeps_nothing(tmp_path, db, monkeypatch, suffix):
    n = 20_000
    if suffix == ".jsonl":
        original = b"".join(b'{"text": "record %06d"}\n' % i for i in range(n))
        changed = original.replace(b"record", b"RECORD")
    else:
        original = b"text\n" + b"".join(b"row %06d\n" % i for i in range(n))
        changed = original.replace(b"row", b"ROW")
    path = tmp_path / f"live{suffix}"
    path.write_bytes(original)
    _rewrite_after_first_batch(monkeypatch, path, changed)
    opts = IngestOptions(batch_docs=1000)
    _, report = pipeline.ingest(db, [str(path)], opts)
    (res,) = report.files
    assert res.status == "failed" and "changed while it was read" in res.error
    assert _rows(db, "SELECT count(*) FROM sources") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM documents") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert _rows(db, "SELECT status, files_failed FROM runs") == [("failed", 1)]
    monkeypatch.undo()
    path.write_bytes(original)  # restored: it is read, not "already stored"
    _, report = pipeline.ingest(db, [str(path)], opts)
    assert [f.status for f in report.files] == ["ingested"] and report.documents == n
    _conserved(db)


def test_parquet_changed_while_read_fails(tmp_path, db, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "live.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(5000)]}), path, row_group_size=1000)
    size = path.stat().st_size
    _rewrite_after_first_batch(monkeypatch, path, b"\0" * 16)
    assert path.stat().st_size == size
    _, report = pipeline.ingest(db, [str(path)], IngestOptions(batch_docs=1000))
    assert report.failed and "changed while it was read" in report.failed[0].error
    assert _rows(db, "SELECT count(*) FROM documents") == [(0,)]


# --- D. unreadable folders, byte-order marks, UTF-16 ----------------------------------------


def _deny_listing(monkeypatch, denied: Path) -> None:
    # Tests may run as root, where a chmod 000 folder can still be read: refuse it by name.
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(denied):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


@pytest.mark.parametrize("as_glob", [False, True])
def test_unreadable_subfolder_fails_the_input(tmp_path, db, monkeypatch, as_glob):
    top = tmp_path / "pages"
    (top / "private").mkdir(parents=True)
    (top / "a.txt").write_text("a readable page")
    (top / "private" / "b.txt").write_text("a page nobody may list")
    _deny_listing(monkeypatch, top / "private")
    target = str(top / "**" / "*.txt") if as_glob else str(top)
    assert main(["ingest", "--db", str(db), "-q", target]) == 1
    assert _rows(db, "SELECT external_id FROM documents") == [("a",)]
    (msg,) = _rows(db, "SELECT message FROM runs")[0]
    assert str(top / "private") in msg and "Permission denied" in msg


def test_bom_csv_jsonl_txt(tmp_path, db):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "s.csv").write_bytes(bom + b"id,text\r\n1,from a spreadsheet\r\n")
    (tmp_path / "s.jsonl").write_bytes(bom + GOOD[0] + bom + GOOD[1])  # also a cat of two BOM files
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "page.txt").write_bytes(bom + b"a page")
    _, report = pipeline.ingest(db, [str(tmp_path / "s.csv"), str(tmp_path / "s.jsonl"), str(tmp_path / "p")],
                            IngestOptions(id_field="id"))
    assert (report.documents, report.quarantined) == (4, 0)
    texts = sorted(r[0] for r in _rows(db, "SELECT text FROM documents"))
    assert texts == ["a page", "document number 0", "document number 1", "from a spreadsheet"]
    _conserved(db)


def test_bom_csv_gz(tmp_path):
    path = tmp_path / "s.csv.gz"
    path.write_bytes(gzip.compress(b"\xef\xbb\xbftext\n\xef\xbb\xbfnot a bom at the start of a file\n"))
    (rec,) = read_records(path)
    assert rec.error_kind is None


@pytest.mark.parametrize("name", ["u.jsonl", "u.csv", "u.txt"])
def test_utf16_file_is_a_clear_per_record_error(tmp_path, db, name):
    body = "text\nfirst\nsecond\n" if name.endswith(".csv") else '{"text": "first"}\n{"text": "second"}\n'
    if name.endswith(".txt"):
        body = "a page"
    path = tmp_path / name
    path.write_bytes(body.encode("utf-16"))  # with its byte-order mark
    _, report = pipeline.ingest(db, [str(path)])
    assert not report.failed and report.documents == 0 and report.quarantined >= 1
    errors = _rows(db, "SELECT DISTINCT error_kind, error FROM quarantine")
    assert len(errors) == 1 and errors[0][0] == "invalid_utf8" and "UTF-16" in errors[0][1]
    _conserved(db)


# --- E. the job does not eat its own output ------------------------------------------------


@pytest.mark.parametrize("inputs, out", [
    (["data"], "data/clean"),
    (["data"], "data"),
    (["data/"], "data/./clean/x"),
    (["data/*"], "data/clean"),
    (["data/**/*.parquet"], "data/clean"),
    (["data/*.jsonl"], "data"),
])
def test_out_inside_input_is_refused(tmp_path, inputs, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(UsageError, match="inside the input"):
        ingest.refuse_output_inside_inputs(Path(out), inputs, ["parquet", "jsonl"])


@pytest.mark.parametrize("inputs, out", [
    (["data"], "clean"),
    (["data/*.jsonl"], "data/clean"),
    (["data/*.jsonl"], "datax"),
    (["data/in.jsonl"], "data/clean"),
])
def test_out_beside_input_is_allowed(tmp_path, inputs, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.jsonl").write_bytes(GOOD[0])
    ingest.refuse_output_inside_inputs(Path(out), inputs, ["parquet", "jsonl"])


def test_run_refuses_out_inside_input_before_writing(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.jsonl").write_bytes(b"".join(GOOD))
    db = tmp_path / "s.duckdb"
    rc = main(["run", "strict", "--db", str(db), "-q", "--input", str(data), "--out", str(data / "clean")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(data / "clean") in err and str(data) in err
    assert not db.exists() and not (data / "clean").exists()


def test_a_failed_batch_write_keeps_nothing_and_stops_the_writer(tmp_path, db, monkeypatch):
    """The INSERT of a later batch fails on the writer thread (disk full, say) while the reader
    is on the next one: the error reaches the caller, the batches already written are
    removed, and no writer thread is left behind."""
    import threading

    import duckdb

    path = tmp_path / "many.jsonl"
    path.write_bytes(b"".join(GOOD * 400))
    calls = []
    write = ingest._Batcher._write

    def fail_third(self, docs, quar):
        calls.append(1)
        if len(calls) == 3:
            raise duckdb.IOException("no space left on device")
        write(self, docs, quar)

    monkeypatch.setattr(ingest._Batcher, "_write", fail_third)
    with store.open_store(db) as con:
        with pytest.raises(duckdb.IOException, match="no space left"):
            ingest.ingest_file(con, path, IngestOptions(batch_docs=100), run_id=1)
        assert con.execute("SELECT count(*) FROM documents").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM sources").fetchone() == (0,)
        monkeypatch.undo()
        res = ingest.ingest_file(con, path, IngestOptions(batch_docs=100), run_id=2)
        assert res.status == "ingested" and res.documents == 2000
        assert con.execute("SELECT count(*) FROM documents").fetchone() == (2000,)
    assert len(calls) == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("curate-ingest-writer")]
