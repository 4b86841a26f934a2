"""Readers per format -> documents / quarantine.

Every record read ends up either in `documents` or in `quarantine` (with its file,
record number and error), so records read = ingested + quarantined for every file.
A file that cannot be read at all (corrupt or truncated archive, unreadable Parquet)
fails as a whole: its transaction is rolled back, so none of its partial rows stay.
Memory stays bounded: lines are read with a size limit and inserted in batches.
"""
from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from curate.errors import FileFailedError, UsageError
from curate import store
from curate.store import now
from curate.textnorm import text_hash

MAX_DOC_BYTES = 10 * 1024 * 1024
RAW_KEEP_CHARS = 1000

FORMATS = {
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".jsonl.zst": "jsonl",
    ".json.gz": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.zst": "csv",
    ".txt": "txt",
}


@dataclass(frozen=True)
class IngestOptions:
    text_field: str = "text"
    id_field: str | None = None
    max_doc_bytes: int = MAX_DOC_BYTES
    batch_docs: int = 4096
    batch_bytes: int = 64 * 1024 * 1024


@dataclass
class Record:
    record_no: int
    text: str | None = None
    external_id: str | None = None
    metadata: dict | None = None
    error_kind: str | None = None
    error: str | None = None
    raw: str | None = None


@dataclass
class FileResult:
    path: str
    status: str  # ingested | skipped | failed
    source_id: str = ""
    records: int = 0
    documents: int = 0
    quarantined: int = 0
    error: str | None = None
    quarantine_kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files if f.status == "ingested")

    @property
    def documents(self) -> int:
        return sum(f.documents for f in self.files if f.status == "ingested")

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files if f.status == "ingested")

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "skipped"]


# --- finding inputs -------------------------------------------------------------------


def detect_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def expand_inputs(patterns: Iterable[str]) -> list[Path]:
    """Files named by paths, globs and folders (searched recursively), in a stable order.

    A glob that matches nothing is an error here (`curate ingest`: a typo, most likely);
    `curate run` uses match_inputs, where it only means that no file has arrived yet.
    """
    paths, unmatched = match_inputs(patterns)
    if unmatched:
        raise UsageError(f"no file matches {unmatched[0]!r}")
    return paths


def match_inputs(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """(files named by paths, globs and folders, the globs that matched nothing).

    A path that does not exist is an error, and so is a glob whose folder does not exist
    ('/data/incomng/*.jsonl'): both are mistakes, not an empty inbox.
    """
    found: list[Path] = []
    unmatched: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            base = _glob_base(pattern)
            if not base.is_dir():
                raise UsageError(f"no folder {base} for the input glob {pattern!r}")
            unmatched.append(pattern)
        for m in matches:
            p = Path(m)
            if p.is_dir():
                found.extend(
                    sorted(q for q in p.rglob("*") if q.is_file() and detect_format(q) is not None)
                )
            elif p.is_file():
                if detect_format(p) is None:
                    raise UsageError(
                        f"{p}: unsupported file type (supported: {', '.join(sorted(FORMATS))})"
                    )
                found.append(p)
            else:
                raise UsageError(f"no such file or folder: {p}")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, unmatched


def _glob_base(pattern: str) -> Path:
    """The folder a glob searches: its leading path components that hold no wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- opening (de)compressed streams ------------------------------------------------------


class _ZstdRaw(io.RawIOBase):
    """Raw reader over a .zst file that notices truncation.

    zstandard's own stream_reader returns a clean EOF on a truncated frame, which would
    keep a partial file silently; the decompressobj's `eof` flag tells the truth.
    """

    def __init__(self, fh):
        import zstandard

        self._fh = fh
        self._zstd = zstandard
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._buf = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            chunk = self._fh.read(1 << 17)
            if not chunk:
                if self._in_frame and not self._dobj.eof:
                    raise EOFError("zstd stream ended before the end of its frame (truncated file)")
                return 0
            self._in_frame = True
            try:
                out = self._dobj.decompress(chunk)
                while self._dobj.eof:
                    rest = self._dobj.unused_data
                    self._dobj = self._zstd.ZstdDecompressor().decompressobj()
                    self._in_frame = bool(rest)
                    if not rest:
                        break
                    out += self._dobj.decompress(rest)
            except self._zstd.ZstdError as exc:
                raise EOFError(f"corrupt zstd data: {exc}") from exc
            self._buf = out
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _open_binary(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdRaw(open(path, "rb")), buffer_size=1 << 17)
    return open(path, "rb")


_READ_ERRORS = (EOFError, OSError, zlib.error, gzip.BadGzipFile)


# --- readers ------------------------------------------------------------------------------


def _truncate(s: str) -> str:
    return s if len(s) <= RAW_KEEP_CHARS else s[:RAW_KEEP_CHARS] + "…"


def _to_record(record_no: int, obj: object, opts: IngestOptions, raw: str) -> Record:
    if not isinstance(obj, dict):
        return Record(record_no, error_kind="not_an_object",
                      error=f"expected a JSON object, got {type(obj).__name__}", raw=_truncate(raw))
    if opts.text_field not in obj:
        fields = ", ".join(sorted(map(str, obj))) or "(none)"
        return Record(record_no, error_kind="missing_text_field",
                      error=f"no field {opts.text_field!r}; fields present: {fields}", raw=_truncate(raw))
    text = obj[opts.text_field]
    return _checked_text(record_no, text, obj, opts, raw)


def _checked_text(record_no: int, text: object, obj: dict, opts: IngestOptions, raw: str) -> Record:
    if not isinstance(text, str):
        return Record(record_no, error_kind="non_string_text",
                      error=f"field {opts.text_field!r} is {type(text).__name__}, not a string",
                      raw=_truncate(raw))
    if not text.strip():
        return Record(record_no, error_kind="empty_text",
                      error=f"field {opts.text_field!r} is empty or whitespace only", raw=_truncate(raw))
    try:
        n_bytes = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return Record(record_no, error_kind="invalid_utf8",
                      error="text holds bytes that are not valid UTF-8", raw=_truncate(raw))
    if n_bytes > opts.max_doc_bytes:
        return Record(record_no, error_kind="too_large",
                      error=f"document is {n_bytes} bytes, over --max-doc-bytes {opts.max_doc_bytes}",
                      raw=_truncate(raw))
    external_id = None
    if opts.id_field is not None and obj.get(opts.id_field) is not None:
        external_id = str(obj[opts.id_field])
    metadata = {k: v for k, v in obj.items() if k not in (opts.text_field, opts.id_field)}
    return Record(record_no, text=text, external_id=external_id, metadata=metadata or None)


def _read_jsonl(path: Path, opts: IngestOptions) -> Iterator[Record]:
    # A JSON line may escape every character (\uXXXX), so allow 6x the text limit.
    line_limit = opts.max_doc_bytes * 6 + 65536
    with _open_binary(path) as fh:
        record_no = 0
        while True:
            line = fh.readline(line_limit)
            if not line:
                return
            record_no += 1
            if len(line) >= line_limit and not line.endswith(b"\n"):
                head = line[:RAW_KEEP_CHARS].decode("utf-8", "replace")
                skipped = len(line)
                while line and not line.endswith(b"\n"):  # drain the rest of the line, bounded
                    line = fh.readline(line_limit)
                    skipped += len(line)
                yield Record(record_no, error_kind="too_large",
                             error=f"line is {skipped} bytes, over --max-doc-bytes {opts.max_doc_bytes}",
                             raw=_truncate(head))
                continue
            if not line.strip():
                yield Record(record_no, error_kind="empty_line", error="blank line", raw="")
                continue
            try:
                decoded = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Record(record_no, error_kind="invalid_utf8",
                             error=f"invalid UTF-8 at byte {exc.start} of the line: {exc.reason}",
                             raw=_truncate(line.decode("utf-8", "replace")))
                continue
            try:
                obj = json.loads(decoded)
            except json.JSONDecodeError as exc:
                hint = " (last line has no newline: truncated file?)" if not line.endswith(b"\n") else ""
                yield Record(record_no, error_kind="malformed_json",
                             error=f"malformed JSON at column {exc.colno}: {exc.msg}{hint}",
                             raw=_truncate(decoded))
                continue
            yield _to_record(record_no, obj, opts, decoded)


def _read_csv(path: Path, opts: IngestOptions) -> Iterator[Record]:
    csv.field_size_limit(opts.max_doc_bytes * 2 + 1)
    with _open_binary(path) as raw_fh:
        # surrogateescape keeps invalid bytes visible (as lone surrogates) so one bad
        # record is quarantined instead of the decoder abandoning the file.
        fh = io.TextIOWrapper(raw_fh, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileFailedError(f"{path}: unreadable CSV header: {exc}") from exc
        record_no = 0
        while True:
            record_no += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(record_no, error_kind="malformed_csv", error=f"CSV error: {exc}", raw="")
                continue
            raw = ",".join(row)
            if len(row) != len(header):
                yield Record(record_no, error_kind="malformed_csv",
                             error=f"row has {len(row)} fields, header has {len(header)}",
                             raw=_truncate(raw.encode("utf-8", "replace").decode("utf-8", "replace")))
                continue
            obj = dict(zip(header, row))
            if any(_has_surrogates(v) for v in row):
                yield Record(record_no, error_kind="invalid_utf8",
                             error="row holds bytes that are not valid UTF-8",
                             raw=_truncate(raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))
                continue
            yield _to_record(record_no, obj, opts, raw)


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_parquet(path: Path, opts: IngestOptions) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a bad footer
        raise FileFailedError(f"{path}: unreadable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    record_no = 0
    try:
        batches = pf.iter_batches(batch_size=1024)
        for batch in batches:
            for obj in batch.to_pylist():
                record_no += 1
                yield _to_record(record_no, obj, opts, _json_preview(obj, names))
    except (OSError, pa.ArrowException) as exc:
        raise FileFailedError(f"{path}: unreadable Parquet data after record {record_no}: {exc}") from exc


def _json_preview(obj: dict, names: list[str]) -> str:
    return _truncate(json.dumps(obj, default=str, ensure_ascii=False))


def _read_txt(path: Path, opts: IngestOptions) -> Iterator[Record]:
    size = path.stat().st_size
    if size > opts.max_doc_bytes:
        with open(path, "rb") as fh:
            head = fh.read(RAW_KEEP_CHARS).decode("utf-8", "replace")
        yield Record(1, error_kind="too_large",
                     error=f"file is {size} bytes, over --max-doc-bytes {opts.max_doc_bytes}", raw=head)
        return
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Record(1, error_kind="invalid_utf8",
                     error=f"invalid UTF-8 at byte {exc.start}: {exc.reason}",
                     raw=_truncate(data.decode("utf-8", "replace")))
        return
    obj = {opts.text_field: text, "path": str(path)}
    rec = _checked_text(1, text, obj, opts, text)
    if rec.error_kind is None:
        rec.external_id = path.stem
    yield rec


READERS: dict[str, Callable[[Path, IngestOptions], Iterator[Record]]] = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "parquet": _read_parquet,
    "txt": _read_txt,
}


def read_records(path: Path, opts: IngestOptions = IngestOptions()) -> Iterator[Record]:
    fmt = detect_format(path)
    if fmt is None:
        raise UsageError(f"{path}: unsupported file type")
    return READERS[fmt](path, opts)


# --- writing ------------------------------------------------------------------------------

_DOC_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source_id", pa.string()), ("record_no", pa.int64()),
    ("external_id", pa.string()), ("text", pa.string()), ("text_hash", pa.string()),
    ("n_bytes", pa.int64()), ("metadata", pa.string()), ("run_id", pa.int64()),
])
_QUAR_SCHEMA = pa.schema([
    ("source_id", pa.string()), ("uri", pa.string()), ("record_no", pa.int64()),
    ("error_kind", pa.string()), ("error", pa.string()), ("raw", pa.string()), ("run_id", pa.int64()),
])


def make_doc_id(source_id: str, record_no: int) -> str:
    return f"{source_id}-{record_no:09d}"


class _Batcher:
    def __init__(self, con: duckdb.DuckDBPyConnection, source_id: str, uri: str, run_id: int, opts: IngestOptions):
        self.con, self.source_id, self.uri, self.run_id, self.opts = con, source_id, uri, run_id, opts
        self.docs: list[Record] = []
        self.quar: list[Record] = []
        self.doc_bytes = 0

    def add(self, rec: Record) -> None:
        if rec.error_kind is None:
            self.docs.append(rec)
            self.doc_bytes += len(rec.text)
        else:
            self.quar.append(rec)
        if len(self.docs) + len(self.quar) >= self.opts.batch_docs or self.doc_bytes >= self.opts.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self.docs:
            encoded = [r.text.encode("utf-8") for r in self.docs]
            tbl = pa.table(
                [
                    [make_doc_id(self.source_id, r.record_no) for r in self.docs],
                    [self.source_id] * len(self.docs),
                    [r.record_no for r in self.docs],
                    [r.external_id for r in self.docs],
                    [r.text for r in self.docs],
                    [text_hash(r.text) for r in self.docs],
                    [len(b) for b in encoded],
                    [json.dumps(r.metadata, default=str, ensure_ascii=False) if r.metadata else None
                     for r in self.docs],
                    [self.run_id] * len(self.docs),
                ],
                schema=_DOC_SCHEMA,
            )
            store.register(self.con, "_ingest_docs", tbl)
            self.con.execute("INSERT INTO documents SELECT * REPLACE (metadata::JSON AS metadata) FROM _ingest_docs")
            self.con.unregister("_ingest_docs")
        if self.quar:
            tbl = pa.table(
                [
                    [self.source_id] * len(self.quar),
                    [self.uri] * len(self.quar),
                    [r.record_no for r in self.quar],
                    [r.error_kind for r in self.quar],
                    [r.error for r in self.quar],
                    [r.raw for r in self.quar],
                    [self.run_id] * len(self.quar),
                ],
                schema=_QUAR_SCHEMA,
            )
            store.register(self.con, "_ingest_quar", tbl)
            self.con.execute("INSERT INTO quarantine SELECT * FROM _ingest_quar")
            self.con.unregister("_ingest_quar")
        self.docs, self.quar, self.doc_bytes = [], [], 0


def ingest_file(
    con: duckdb.DuckDBPyConnection, path: Path, opts: IngestOptions, run_id: int
) -> FileResult:
    """Ingest one file; a file whose content is already stored is skipped.

    Batches commit one by one (a single transaction over a multi-GB file makes DuckDB hold
    the whole file in memory), and the file's `sources` row is written last: it is the
    commit point. A file that fails has its rows deleted; rows left by a killed run have
    no `sources` row and are removed by `remove_orphans` before the next ingest.
    """
    uri = str(path)
    fmt = detect_format(path)
    try:
        sha = file_sha256(path)
    except OSError as exc:
        return FileResult(uri, "failed", error=f"{path}: cannot read: {exc}")
    source_id = sha[:16]
    if con.execute("SELECT count(*) FROM sources WHERE sha256 = ?", [sha]).fetchone()[0]:
        return FileResult(uri, "skipped", source_id=source_id)
    result = FileResult(uri, "ingested", source_id=source_id)
    try:
        batcher = _Batcher(con, source_id, uri, run_id, opts)
        for rec in read_records(path, opts):
            result.records += 1
            if rec.error_kind is None:
                result.documents += 1
            else:
                result.quarantined += 1
                result.quarantine_kinds[rec.error_kind] = result.quarantine_kinds.get(rec.error_kind, 0) + 1
            batcher.add(rec)
        batcher.flush()
        assert result.records == result.documents + result.quarantined
        con.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [source_id, uri, sha, fmt, os.path.getsize(path), result.records, result.documents,
             result.quarantined, now(), run_id],
        )
    except FileFailedError as exc:
        _drop_source_rows(con, source_id)
        return FileResult(uri, "failed", source_id=source_id, error=str(exc))
    except _READ_ERRORS as exc:
        _drop_source_rows(con, source_id)
        return FileResult(uri, "failed", source_id=source_id,
                          error=f"{path}: cannot be read after record {result.records}: {exc}")
    except BaseException:
        _drop_source_rows(con, source_id)
        raise
    return result


def _drop_source_rows(con: duckdb.DuckDBPyConnection, source_id: str) -> None:
    con.execute("DELETE FROM documents WHERE source_id = ?", [source_id])
    con.execute("DELETE FROM quarantine WHERE source_id = ?", [source_id])


def remove_orphans(con: duckdb.DuckDBPyConnection) -> int:
    """Rows of a file whose ingest was killed before its `sources` row was written."""
    n = con.execute("SELECT count(*) FROM documents ANTI JOIN sources USING (source_id)").fetchone()[0]
    n += con.execute("SELECT count(*) FROM quarantine ANTI JOIN sources USING (source_id)").fetchone()[0]
    if n:
        con.execute("DELETE FROM documents WHERE source_id NOT IN (SELECT source_id FROM sources)")
        con.execute("DELETE FROM quarantine WHERE source_id NOT IN (SELECT source_id FROM sources)")
    return n


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    opts: IngestOptions,
    run_id: int,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestReport:
    report = IngestReport()
    remove_orphans(con)
    for path in paths:
        res = ingest_file(con, path, opts, run_id)
        report.files.append(res)
        if on_file is not None:
            on_file(res)
    return report
