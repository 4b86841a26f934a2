"""Readers per format -> documents / quarantine.

Every record read ends up either in `documents` or in `quarantine` (with its file,
record number and error), so records read = ingested + quarantined for every file.
A file that cannot be read at all (corrupt or truncated archive, unreadable Parquet)
fails as a whole: its transaction is rolled back, so none of its partial rows stay.
Memory stays bounded: lines are read with a size limit and inserted in batches.
A file that changes while it is read fails as well: the bytes read are hashed as they
pass and must match the hash the file's identity was taken from.
"""
from __future__ import annotations

import contextlib
import csv
import fnmatch
import glob
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from curate import remote, store
from curate.errors import FileFailedError, UsageError
from curate.store import now
from curate.textnorm import text_hashes

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
    ".warc": "warc",
    ".warc.gz": "warc",
    ".warc.zst": "warc",
    ".wet": "warc",
    ".wet.gz": "warc",
    ".wet.zst": "warc",
    ".html": "html",
    ".htm": "html",
    ".html.gz": "html",
}


@dataclass(frozen=True)
class IngestOptions:
    text_field: str = "text"
    id_field: str | None = None
    max_doc_bytes: int = MAX_DOC_BYTES
    batch_docs: int = 4096
    batch_bytes: int = 64 * 1024 * 1024
    html_extractor: str = "resiliparse"  # or "trafilatura" (curate/web/extract.py)


@dataclass
class Record:
    record_no: int
    text: str | None = None
    external_id: str | None = None
    metadata: dict | None = None
    metadata_json: str | None = None
    error_kind: str | None = None
    error: str | None = None
    raw: str | None = None
    utf8: bytes | None = None  # the text's UTF-8, encoded once when the text was checked


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
        pattern = remote.localized(pattern)  # file:// is a local path
        if remote.is_url(pattern):  # s3://, gs://, hf://...: listed by the store (curate/remote.py)
            objects, matched = remote.expand(pattern, lambda name: detect_format(Path(name)) is not None,
                                             ", ".join(sorted(FORMATS)))
            found.extend(objects)
            if not matched:
                unmatched.append(pattern)
            continue
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            base = _glob_base(pattern)
            if not base.is_dir():
                raise UsageError(f"no folder {base} for the input glob {pattern!r}")
            unmatched.append(pattern)
        if glob.has_magic(pattern) and "**" in pattern and _glob_base(pattern).is_dir():
            # glob skips folders it cannot list without a word: name them, they fail as inputs
            found.extend(_walk_inputs(_glob_base(pattern))[1])
        for m in matches:
            p = Path(m)
            if p.is_dir():
                files, unreadable = _walk_inputs(p)
                found.extend(sorted(files + unreadable))
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
        key = p.url if isinstance(p, remote.RemoteFile) else p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, unmatched


def _walk_inputs(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the files of a supported type under `folder`, the folders under it that cannot be listed).

    Path.rglob passes over a folder it may not read as if it were empty; an input that was
    not read must fail the run instead, so the folders os.walk could not list are kept.
    """
    files: list[Path] = []
    unreadable: list[Path] = []

    def failed(exc: OSError) -> None:
        unreadable.append(Path(exc.filename) if exc.filename is not None else folder)

    for root, _dirs, names in os.walk(folder, onerror=failed):
        for name in names:
            q = Path(root, name)
            if detect_format(q) is not None and q.is_file():
                files.append(q)
    return files, unreadable


def display_path(path: Path | str | bytes) -> str:
    """The path as printable text: bytes of a file name that are not UTF-8 (`lat\\xe9.jsonl`,
    written by a Latin-1 system) become `\\xNN` escapes, so the name can be stored and
    printed; the file itself is still read through its real path."""
    s = os.fsdecode(path)
    s = remote.SPOOLED.get(s, s)  # a local copy of an object is named by the object's URL
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def refuse_output_inside_inputs(out: Path | None, patterns: Iterable[str], formats: Iterable[str]) -> None:
    """A usage error when an export folder lies inside (or is) an input folder, or its exports
    would be matched by an input glob: each run would ingest the previous run's export."""
    if out is None:
        return
    out, patterns = remote.localized(out), [remote.localized(p) for p in patterns]
    inside = remote.output_inside_inputs(out, patterns, formats)
    if inside is not None:
        raise UsageError(f"--out {out} is inside the input {inside}: every run would ingest the previous "
                         "run's export; write the export outside the input folders")
    if remote.is_url(out) or all(remote.is_url(p) for p in patterns):
        return
    patterns = [p for p in patterns if not remote.is_url(p)]
    out_abs = Path(os.path.abspath(out))
    candidates = [out_abs] + [out_abs / f"export.{fmt}" for fmt in formats]
    for pattern in patterns:
        if glob.has_magic(pattern):
            pat_parts = Path(os.path.abspath(pattern)).parts
            hit = any(_glob_parts_match(pat_parts, c.parts) for c in candidates)
            hit = hit or any(_glob_parts_match(pat_parts, a.parts) for a in out_abs.parents)
        else:
            folder = Path(os.path.abspath(pattern))
            hit = folder.is_dir() and (out_abs == folder or folder in out_abs.parents)
            if not hit and folder.is_dir():
                real = Path(os.path.realpath(folder))
                out_real = Path(os.path.realpath(out_abs))
                hit = out_real == real or real in out_real.parents
        if hit:
            raise UsageError(
                f"--out {display_path(out)} is inside the input {display_path(pattern)}: every run would "
                f"ingest the previous run's export; write the export outside the input folders"
            )


def _glob_parts_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether a path's components match a glob's, `**` standing for any number of folders."""
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        return any(_glob_parts_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _glob_parts_match(pattern[1:], parts[1:])


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


_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_FCS_BYTES = (0, 2, 4, 8)
_ZSTD_DICT_ID_BYTES = (0, 1, 2, 4)


def _zstd_check_frames(path: Path) -> None:
    """Walk the frame and block headers of a .zst file; EOFError if it ends inside a frame.

    zstandard's stream_reader is the one decompressor there whose output per call is bounded
    (its decompressobj expands a whole input chunk at once: 128 KB of a zstd bomb is 4 GiB),
    but it reports a clean end on a truncated frame. The headers say where each frame ends
    (RFC 8878, 3.1), so a walk over them, seeking past block contents, finds the truncation.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:

        def need(n: int) -> bytes:
            data = fh.read(n)
            if len(data) < n:
                raise EOFError("zstd stream ended before the end of its frame (truncated file)")
            return data

        def skip(n: int) -> None:
            if fh.tell() + n > size:
                raise EOFError("zstd stream ended before the end of its frame (truncated file)")
            fh.seek(n, io.SEEK_CUR)

        while True:
            head = fh.read(4)
            if not head:
                return
            if len(head) < 4:
                raise EOFError("zstd stream ended inside a frame header (truncated file)")
            magic = int.from_bytes(head, "little")
            if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame: a 4-byte size, then data
                skip(int.from_bytes(need(4), "little"))
                continue
            if magic != _ZSTD_MAGIC:
                raise EOFError(f"corrupt zstd data: unknown frame magic 0x{magic:08x}")
            descriptor = need(1)[0]
            if descriptor & 0x08:
                raise EOFError("corrupt zstd data: reserved bit set in a frame header")
            single_segment = bool(descriptor & 0x20)
            fcs = _ZSTD_FCS_BYTES[descriptor >> 6] or (1 if single_segment else 0)
            skip((0 if single_segment else 1) + _ZSTD_DICT_ID_BYTES[descriptor & 0x03] + fcs)
            while True:
                block = int.from_bytes(need(3), "little")
                kind, block_size = (block >> 1) & 0x03, block >> 3
                if kind == 3:
                    raise EOFError("corrupt zstd data: reserved block type")
                skip(1 if kind == 1 else block_size)  # an RLE block stores its one byte
                if block & 0x01:
                    break
            if descriptor & 0x04:
                skip(4)  # content checksum


class _ZstdRaw(io.RawIOBase):
    """Raw reader over a .zst stream: bounded output per read, corrupt data as EOFError."""

    def __init__(self, fh):
        import zstandard

        self._zstd = zstandard
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            fh, read_size=1 << 17, read_across_frames=True, closefd=False)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self._reader.read(min(len(b), 1 << 20))
        except self._zstd.ZstdError as exc:
            raise EOFError(f"corrupt zstd data: {exc}") from exc
        n = len(data)
        b[:n] = data
        return n


class _HashingRaw(io.RawIOBase):
    """Raw reader that feeds every byte it reads to a digest: the hash of what was read."""

    def __init__(self, fh, digest):
        self._fh, self._digest = fh, digest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        if n:
            self._digest.update(memoryview(b)[:n])
        return n


@contextlib.contextmanager
def _open_binary(path: Path, digest=None):
    """The decompressed bytes of a file; with `digest`, the file's bytes are hashed as they
    are read, up to its end once the reader is done, so the digest covers the whole file."""
    name = path.name.lower()
    raw = open(path, "rb", buffering=0)
    src = io.BufferedReader(raw if digest is None else _HashingRaw(raw, digest), buffer_size=1 << 17)
    try:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=src, mode="rb") as fh:
                yield fh
        elif name.endswith(".zst"):
            _zstd_check_frames(path)
            yield io.BufferedReader(_ZstdRaw(src), buffer_size=1 << 17)
        else:
            yield src
        if digest is not None:
            for _ in iter(lambda: src.read(1 << 20), b""):
                pass
    finally:
        src.close()
        raw.close()


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
    if not text or text.isspace():  # strip() would copy the text
        return Record(record_no, error_kind="empty_text",
                      error=f"field {opts.text_field!r} is empty or whitespace only", raw=_truncate(raw))
    try:
        utf8 = text.encode("utf-8")
    except UnicodeEncodeError:
        return Record(record_no, error_kind="invalid_utf8",
                      error="text holds bytes that are not valid UTF-8", raw=_truncate(raw))
    if len(utf8) > opts.max_doc_bytes:
        return Record(record_no, error_kind="too_large",
                      error=f"document is {len(utf8)} bytes, over --max-doc-bytes {opts.max_doc_bytes}",
                      raw=_truncate(raw))
    external_id = None
    if opts.id_field is not None and obj.get(opts.id_field) is not None:
        external_id = str(obj[opts.id_field])
    metadata = {k: v for k, v in obj.items() if k not in (opts.text_field, opts.id_field)} or None
    # Serialized here, not when the batch is written: a field that cannot be stored
    # (a lone surrogate such as "\ud800", nesting past the recursion limit) fails its record only.
    try:
        metadata_json = json.dumps(metadata, default=str, ensure_ascii=False) if metadata else None
        if metadata_json is not None:
            metadata_json.encode("utf-8")
        if external_id is not None:
            external_id.encode("utf-8")
    except UnicodeEncodeError:
        return Record(record_no, error_kind="invalid_utf8",
                      error="a field other than the text holds characters that are not valid UTF-8 "
                            "(a lone surrogate)", raw=_truncate(raw))
    except RecursionError:
        return Record(record_no, error_kind="too_deep",
                      error="a field is nested too deeply to store", raw=_truncate(raw))
    except (TypeError, ValueError) as exc:
        return Record(record_no, error_kind="bad_metadata",
                      error=f"other fields cannot be stored as JSON: {exc}", raw=_truncate(raw))
    return Record(record_no, text=text, external_id=external_id, metadata=metadata,
                  metadata_json=metadata_json, utf8=utf8)


_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF16_ERROR = ("the file is UTF-16, not UTF-8 (it starts with a UTF-16 byte-order mark): "
                "re-encode it as UTF-8")


def _raw_lines(fh, limit: int) -> Iterator[tuple[bytes, int]]:
    """(line, its length) for each line of a binary stream; a line longer than `limit` is
    drained in pieces of at most `limit` bytes and only its first piece is returned."""
    while True:
        line = fh.readline(limit)
        if not line:
            return
        n = len(line)
        if n >= limit and not line.endswith(b"\n"):
            piece = line
            while piece and not piece.endswith(b"\n"):
                piece = fh.readline(limit)
                n += len(piece)
        yield line, n


_SLOW_PATH = object()
_SAFE_DEPTH = 400
_INT64_SPAN = float(2 ** 63)


def _fast_json(line: bytes) -> object:
    """A line's JSON value by orjson (which checks the UTF-8 as it parses), or _SLOW_PATH where
    orjson's answer could differ from json's or is an error: then the line goes through
    json.loads, whose errors name the record's fault.

    orjson refuses what json reads (NaN, a lone surrogate escape, 1e400), which the slow path
    handles, and reads two things differently: an integer past 64 bits becomes a float, and it
    nests 1024 deep where json stops at Python's recursion limit. A value holding a float of
    2^63 or more, or nested past _SAFE_DEPTH, is therefore read again by json.
    """
    try:
        obj = orjson.loads(line)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return _SLOW_PATH
    return _SLOW_PATH if _differs_from_json(obj) else obj


def _differs_from_json(obj: object) -> bool:
    """Whether json.loads may read the value orjson read as `obj` otherwise (see _fast_json)."""
    stack = [(obj, 0)]
    while stack:
        v, depth = stack.pop()
        if depth >= _SAFE_DEPTH:
            return True
        for x in (v.values() if type(v) is dict else v if type(v) is list else (v,)):
            t = type(x)
            if t is dict or t is list:
                stack.append((x, depth + 1))
            elif t is float and not -_INT64_SPAN < x < _INT64_SPAN:
                return True
    return False


def _read_jsonl(path: Path, opts: IngestOptions, digest=None) -> Iterator[Record]:
    # A JSON line may escape every character (\uXXXX), so allow 6x the text limit.
    line_limit = opts.max_doc_bytes * 6 + 65536
    with _open_binary(path, digest) as fh:
        utf16 = False
        for record_no, (line, n) in enumerate(_raw_lines(fh, line_limit), start=1):
            if record_no == 1 and line.startswith(_UTF16_BOMS):
                utf16 = True
            if utf16:
                yield Record(record_no, error_kind="invalid_utf8", error=_UTF16_ERROR,
                             raw=_truncate(line[:RAW_KEEP_CHARS].decode("utf-16", "replace")))
                continue
            if n > len(line):
                yield Record(record_no, error_kind="too_large",
                             error=f"line is {n} bytes, over --max-doc-bytes {opts.max_doc_bytes}",
                             raw=_truncate(line[:RAW_KEEP_CHARS].decode("utf-8", "replace")))
                continue
            if line.startswith(_UTF8_BOM):  # spreadsheet and Windows tools write one
                line = line[len(_UTF8_BOM):]
            if not line.strip():
                yield Record(record_no, error_kind="empty_line", error="blank line", raw="")
                continue
            obj = _fast_json(line)
            if obj is not _SLOW_PATH:
                rec = _to_record(record_no, obj, opts, "")
                if rec.error_kind is not None:  # the quote of a bad record is only made for one
                    rec.raw = _truncate(line.decode("utf-8"))
                yield rec
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
            except RecursionError:
                yield Record(record_no, error_kind="too_deep",
                             error="JSON nested too deeply to read (past Python's recursion limit)",
                             raw=_truncate(decoded))
                continue
            except ValueError as exc:  # e.g. an integer of more than 4300 digits
                yield Record(record_no, error_kind="malformed_json", error=f"unreadable JSON: {exc}",
                             raw=_truncate(decoded))
                continue
            yield _to_record(record_no, obj, opts, decoded)


class _CsvOversize(Exception):
    def __init__(self, n_chars: int, head: str):
        super().__init__(n_chars)
        self.n_chars, self.head = n_chars, head


# States of the default CSV dialect's parser, enough to find where a record ends.
_FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED, _RECORD_END = range(5)
_UNQUOTED_STOP = re.compile(r"[,\r\n]")
_COMMAS = re.compile(r",+")
_QUOTES = re.compile(r'"+')


def _csv_scan(s: str, state: int) -> int:
    """The parser's state after `s`, or _RECORD_END at a line end outside quotes (as the csv
    module reads: a quote opens a field only at its start, `""` inside quotes is one quote)."""
    i, n = 0, len(s)
    while i < n:
        if state == _FIELD_START or state == _QUOTE_IN_QUOTED:
            c = s[i]
            if c == '"':
                state = _QUOTED
                i += 1
            elif c == ",":  # a run of empty fields in one step
                state, i = _FIELD_START, _COMMAS.match(s, i).end()
            elif c in "\r\n":
                return _RECORD_END
            else:
                state = _UNQUOTED
        elif state == _UNQUOTED:
            m = _UNQUOTED_STOP.search(s, i)
            if m is None:
                return state
            if m.group() != ",":
                return _RECORD_END
            state, i = _FIELD_START, m.end()
        else:  # _QUOTED
            j = s.find('"', i)
            if j < 0:
                return state
            # a run of quotes in one step (a field of 100 MB of `""` is read at the speed of
            # the rest): each pair is one literal quote, an odd one out ends the quoted part
            k = _QUOTES.match(s, j).end()
            state, i = (_QUOTED if (k - j) % 2 == 0 else _QUOTE_IN_QUOTED), k
    return state


class _BoundedLines:
    """The lines of a text stream for csv.reader, with a bound on one record's size.

    csv.reader reads a whole line before its field limit applies, so one 4 GiB line would be
    held in memory. Here the lines of a record are read with a size limit; a record past it
    is drained in bounded pieces up to the line end where it closes, and _CsvOversize is
    raised (csv.reader passes it on and starts afresh at the next record).
    """

    def __init__(self, fh, limit: int):
        self.fh, self.limit = fh, limit
        self.pieces: list[str] = []
        self.n_chars = 0

    def __iter__(self):
        return self

    def new_record(self) -> None:
        self.pieces.clear()
        self.n_chars = 0

    def __next__(self) -> str:
        line = self.fh.readline(self.limit - self.n_chars + 1)  # always >= 1: 0 would mean "no limit"
        if not line:
            raise StopIteration
        self.n_chars += len(line)
        self.pieces.append(line)
        if self.n_chars > self.limit:
            self._drain()
        return line

    def _drain(self) -> None:
        so_far = "".join(self.pieces)
        head, n_chars = so_far[:RAW_KEEP_CHARS], self.n_chars
        state = _csv_scan(so_far, _FIELD_START)
        del so_far
        while state != _RECORD_END:
            piece = self.fh.readline(1 << 20)
            if not piece:
                break
            n_chars += len(piece)
            state = _csv_scan(piece, state)
        self.new_record()
        raise _CsvOversize(n_chars, head)


def _read_csv(path: Path, opts: IngestOptions, digest=None) -> Iterator[Record]:
    # One record may hold other fields beside the text; past this it is too large whatever
    # they hold. The csv module's own field limit is set above it, so it never fires first.
    record_limit = opts.max_doc_bytes * 2 + 65536
    csv.field_size_limit(record_limit + 1)
    with _open_binary(path, digest) as raw_fh:
        if raw_fh.peek(2)[:2] in _UTF16_BOMS:
            for record_no, (line, _n) in enumerate(_raw_lines(raw_fh, record_limit), start=1):
                yield Record(record_no, error_kind="invalid_utf8", error=_UTF16_ERROR,
                             raw=_truncate(line[:RAW_KEEP_CHARS].decode("utf-16", "replace")))
            return
        # surrogateescape keeps invalid bytes visible (as lone surrogates) so one bad
        # record is quarantined instead of the decoder abandoning the file; utf-8-sig drops
        # the byte-order mark spreadsheet programs write (else the first field is "\ufefftext").
        fh = io.TextIOWrapper(raw_fh, encoding="utf-8-sig", errors="surrogateescape", newline="")
        lines = _BoundedLines(fh, record_limit)
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileFailedError(f"{display_path(path)}: unreadable CSV header: {exc}") from exc
        except _CsvOversize as exc:
            raise FileFailedError(f"{display_path(path)}: CSV header is {exc.n_chars} characters, "
                                  f"over the limit for --max-doc-bytes {opts.max_doc_bytes}") from exc
        record_no = 0
        while True:
            record_no += 1
            lines.new_record()
            try:
                row = next(reader)
            except StopIteration:
                return
            except _CsvOversize as exc:
                yield Record(record_no, error_kind="too_large",
                             error=f"row is {exc.n_chars} characters, over the limit for "
                                   f"--max-doc-bytes {opts.max_doc_bytes}",
                             raw=_truncate(_printable(exc.head)))
                continue
            except csv.Error as exc:
                yield Record(record_no, error_kind="malformed_csv", error=f"CSV error: {exc}", raw="")
                continue
            raw = ",".join(row)
            if len(row) != len(header):
                yield Record(record_no, error_kind="malformed_csv",
                             error=f"row has {len(row)} fields, header has {len(header)}",
                             raw=_truncate(_printable(raw)))
                continue
            obj = dict(zip(header, row))
            if _has_surrogates(raw):  # in any field: the commas that join them are ASCII
                yield Record(record_no, error_kind="invalid_utf8",
                             error="row holds bytes that are not valid UTF-8",
                             raw=_truncate(_printable(raw)))
                continue
            yield _to_record(record_no, obj, opts, raw)


def _printable(s: str) -> str:
    """Text read with surrogateescape, with its undecodable bytes as U+FFFD."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_parquet(path: Path, opts: IngestOptions, digest=None) -> Iterator[Record]:
    # Read by random access, so `digest` is not fed: ingest_file hashes the file again after.
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a bad footer
        raise FileFailedError(f"{display_path(path)}: unreadable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    record_no = 0
    try:
        batches = pf.iter_batches(batch_size=1024)
        for batch in batches:
            for obj in batch.to_pylist():
                record_no += 1
                rec = _to_record(record_no, obj, opts, "")
                if rec.error_kind is not None:  # the quote of a bad record is only made for one
                    rec.raw = _json_preview(obj, names)
                yield rec
    except (OSError, pa.ArrowException, ValueError, OverflowError) as exc:
        raise FileFailedError(
            f"{display_path(path)}: unreadable Parquet data after record {record_no}: {exc}") from exc


def _json_preview(obj: dict, names: list[str]) -> str:
    return _truncate(json.dumps(obj, default=str, ensure_ascii=False))


def _read_txt(path: Path, opts: IngestOptions, digest=None) -> Iterator[Record]:
    with _open_binary(path, digest) as fh:
        data = fh.read(opts.max_doc_bytes + len(_UTF8_BOM) + 1)  # bounded by the read, not by a stat
        size = len(data)
        if size > opts.max_doc_bytes + (len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0):
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                size += len(chunk)
            yield Record(1, error_kind="too_large",
                         error=f"file is {size} bytes, over --max-doc-bytes {opts.max_doc_bytes}",
                         raw=data[:RAW_KEEP_CHARS].decode("utf-8", "replace"))
            return
    if data.startswith(_UTF16_BOMS):
        yield Record(1, error_kind="invalid_utf8", error=_UTF16_ERROR,
                     raw=_truncate(data[:RAW_KEEP_CHARS * 2].decode("utf-16", "replace")))
        return
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Record(1, error_kind="invalid_utf8",
                     error=f"invalid UTF-8 at byte {exc.start}: {exc.reason}",
                     raw=_truncate(data.decode("utf-8", "replace")))
        return
    obj = {opts.text_field: text, "path": display_path(path)}
    rec = _checked_text(1, text, obj, opts, text)
    if rec.error_kind is None:
        rec.external_id = display_path(path.stem)
    yield rec


def _read_web(path: Path, opts: IngestOptions, digest=None) -> Iterator[Record]:
    """WARC/WET records and .html pages (curate/web/): main text, page metadata, quarantine."""
    from curate.web import warc

    read = warc.read_warc if detect_format(path) == "warc" else warc.read_html
    with _open_binary(path, digest) as fh:
        for r in read(fh, display_path(path), max_bytes=opts.max_doc_bytes, extractor=opts.html_extractor):
            if r.error_kind is not None:
                yield Record(r.record_no, error_kind=r.error_kind, error=r.error, raw=_truncate(r.raw))
                continue
            rec = _checked_text(r.record_no, r.text, {**r.metadata, opts.text_field: r.text}, opts, r.text)
            if rec.error_kind is None and rec.external_id is None:
                rec.external_id = r.metadata.get("warc_record_id") or display_path(path.stem)
            yield rec


READERS: dict[str, Callable[..., Iterator[Record]]] = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "parquet": _read_parquet,
    "txt": _read_txt,
    "warc": _read_web,
    "html": _read_web,
}


def read_records(path: Path, opts: IngestOptions = IngestOptions(), digest=None) -> Iterator[Record]:
    """The records of one file; `digest` (a hashlib object), where given, is fed the file's
    bytes as they are read (not for Parquet, which is read by random access)."""
    fmt = detect_format(path)
    if fmt is None:
        raise UsageError(f"{display_path(path)}: unsupported file type")
    return READERS[fmt](path, opts, digest=digest)


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


def _storable(s: str | None) -> str | None:
    """A quarantine text that can be stored whatever it quotes: lone surrogates (from bytes
    that are not UTF-8, in a field name or a file name) become `\\udcNN` escapes."""
    return None if s is None else s.encode("utf-8", "backslashreplace").decode("utf-8")


def make_doc_id(source_id: str, record_no: int) -> str:
    return f"{source_id}-{record_no:09d}"


class _Batcher:
    """Writes a file's records in batches. The rows of a batch are built here; its INSERT
    runs on a writer thread (DuckDB releases the GIL while it inserts) while the reader goes on
    to the next batch. At most one batch is in flight: memory holds two batches at most."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source_id: str, uri: str, run_id: int, opts: IngestOptions):
        self.con, self.source_id, self.uri, self.run_id, self.opts = con, source_id, uri, run_id, opts
        self.docs: list[Record] = []
        self.quar: list[Record] = []
        self.doc_bytes = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curate-ingest-writer")
        self._in_flight: Future | None = None

    def add(self, rec: Record) -> None:
        if rec.error_kind is None:
            self.docs.append(rec)
            self.doc_bytes += len(rec.utf8)
        else:
            self.quar.append(rec)
        if len(self.docs) + len(self.quar) >= self.opts.batch_docs or self.doc_bytes >= self.opts.batch_bytes:
            self.flush()

    def flush(self) -> None:
        """Hand the batch to the writer (after the previous one is written: its error, if any,
        is raised here)."""
        docs = quar = None
        if self.docs:
            n = len(self.docs)
            docs = pa.table(
                [
                    [make_doc_id(self.source_id, r.record_no) for r in self.docs],
                    [self.source_id] * n,
                    [r.record_no for r in self.docs],
                    [r.external_id for r in self.docs],
                    # from the UTF-8 each text was checked with: Arrow copies bytes, it does not
                    # encode each str again (the cast checks the UTF-8, vectorized)
                    pa.array([r.utf8 for r in self.docs], pa.binary()).cast(pa.string()),
                    text_hashes([r.text for r in self.docs]),
                    [len(r.utf8) for r in self.docs],
                    [r.metadata_json if r.metadata_json is not None or not r.metadata
                     else json.dumps(r.metadata, default=str, ensure_ascii=False) for r in self.docs],
                    [self.run_id] * n,
                ],
                schema=_DOC_SCHEMA,
            )
        if self.quar:
            quar = pa.table(
                [
                    [self.source_id] * len(self.quar),
                    [self.uri] * len(self.quar),
                    [r.record_no for r in self.quar],
                    [r.error_kind for r in self.quar],
                    [_storable(r.error) for r in self.quar],
                    [_storable(r.raw) for r in self.quar],
                    [self.run_id] * len(self.quar),
                ],
                schema=_QUAR_SCHEMA,
            )
        self.docs, self.quar, self.doc_bytes = [], [], 0
        self.wait()
        if docs is not None or quar is not None:
            self._in_flight = self._writer.submit(self._write, docs, quar)

    def _write(self, docs: pa.Table | None, quar: pa.Table | None) -> None:
        if docs is not None:
            store.register(self.con, "_ingest_docs", docs)
            self.con.execute("INSERT INTO documents BY NAME "
                             "SELECT * REPLACE (metadata::JSON AS metadata) FROM _ingest_docs")
            self.con.unregister("_ingest_docs")
        if quar is not None:
            store.register(self.con, "_ingest_quar", quar)
            self.con.execute("INSERT INTO quarantine BY NAME SELECT * FROM _ingest_quar")
            self.con.unregister("_ingest_quar")

    def wait(self) -> None:
        """Until the batch in flight is written; raises its error."""
        pending, self._in_flight = self._in_flight, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Write what is left and stop the writer; the connection is the caller's again."""
        try:
            self.flush()
            self.wait()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Stop the writer once the batch in flight is done (written or failed), without raising:
        a file that failed drops its rows after this."""
        with contextlib.suppress(BaseException):
            self.wait()
        self._writer.shutdown(wait=True)


def ingest_file(
    con: duckdb.DuckDBPyConnection, path: Path, opts: IngestOptions, run_id: int, *, sha: str | None = None
) -> FileResult:
    """Ingest one file; a file whose content is already stored is skipped.

    Batches commit one by one (a single transaction over a multi-GB file makes DuckDB hold
    the whole file in memory), and the file's `sources` row is written last: it is the
    commit point. A file that fails has its rows deleted; rows left by a killed run have
    no `sources` row and are removed by `remove_orphans` before the next ingest. `sha`: the
    file's sha256 where it is already known (an object's, taken as it was downloaded). An
    object whose listing says what it said when its content was stored is skipped without
    being downloaded (see `_unchanged_object`).
    """
    if isinstance(path, remote.RemoteFile):  # read from a local copy, recorded under its URL
        stored = _unchanged_object(con, path)
        if stored is not None:  # its listing says what it said when its content was stored
            return FileResult(path.url, "skipped", source_id=stored[:16])
        try:
            with remote.spooled(path) as (local, object_sha):
                result = ingest_file(con, local, opts, run_id, sha=object_sha)
        except remote.RemoteReadError as exc:
            return FileResult(path.url, "failed", error=str(exc))
        if result.status != "failed":
            _record_listing(con, path, object_sha, run_id)
        return result
    uri = display_path(path)
    fmt = detect_format(path)
    if path.is_dir():  # a folder under an input that could not be listed (see _walk_inputs)
        try:
            with os.scandir(path):
                pass
            why = "it could not be listed when the inputs were searched"
        except OSError as exc:
            why = exc.strerror or str(exc)
        return FileResult(uri, "failed", error=f"{uri}: cannot read folder: {why}")
    try:
        before = os.stat(path)
        sha = file_sha256(path) if sha is None else sha
    except OSError as exc:
        return FileResult(uri, "failed", error=f"{uri}: cannot read: {_storable(exc.strerror or str(exc))}")
    source_id = sha[:16]
    if con.execute("SELECT count(*) FROM sources WHERE sha256 = ?", [sha]).fetchone()[0]:
        return FileResult(uri, "skipped", source_id=source_id)
    result = FileResult(uri, "ingested", source_id=source_id)
    digest = hashlib.sha256() if fmt != "parquet" else None
    try:
        batcher = _Batcher(con, source_id, uri, run_id, opts)
        try:
            for rec in read_records(path, opts, digest=digest):
                result.records += 1
                if rec.error_kind is None:
                    result.documents += 1
                else:
                    result.quarantined += 1
                    result.quarantine_kinds[rec.error_kind] = result.quarantine_kinds.get(rec.error_kind, 0) + 1
                batcher.add(rec)
            batcher.close()
        except BaseException:
            batcher.abandon()  # the batch in flight is done before the file's rows are dropped
            raise
        assert result.records == result.documents + result.quarantined
        change = _change_while_read(path, before, sha, digest)
        if change is not None:
            raise FileFailedError(
                f"{uri}: the file changed while it was read ({change}); none of its records were kept: "
                f"ingest it again once it is complete")
        store.insert(con, "sources", {
            "source_id": source_id, "uri": uri, "sha256": sha, "format": fmt, "n_bytes": before.st_size,
            "n_records": result.records, "n_documents": result.documents, "n_quarantined": result.quarantined,
            "ingested_at": now(), "run_id": run_id})
    except FileFailedError as exc:
        _drop_source_rows(con, source_id)
        return FileResult(uri, "failed", source_id=source_id, error=str(exc))
    except _READ_ERRORS as exc:
        _drop_source_rows(con, source_id)
        return FileResult(uri, "failed", source_id=source_id,
                          error=f"{uri}: cannot be read after record {result.records}: {_storable(str(exc))}")
    except BaseException:
        _drop_source_rows(con, source_id)
        raise
    return result


def _unchanged_object(con: duckdb.DuckDBPyConnection, obj: remote.RemoteFile) -> str | None:
    """The sha256 of an object's stored content when its listing now says what it said when
    that content was read (size and ETag, version or modified time), else None: download it.
    None too when the listing has no such field, or in a store older than remote_objects."""
    if obj.listing is None or not store.table_exists(con, "remote_objects"):
        return None
    row = con.execute(
        "SELECT o.sha256 FROM remote_objects o SEMI JOIN sources s ON s.sha256 = o.sha256 "
        "WHERE o.uri = ? AND o.listing = ?", [obj.url, obj.listing]).fetchone()
    return row[0] if row else None


def _record_listing(con: duckdb.DuckDBPyConnection, obj: remote.RemoteFile, sha: str, run_id: int) -> None:
    """Remember what the listing said of an object whose content (`sha`) is now stored."""
    if obj.listing is None or not store.table_exists(con, "remote_objects"):
        return
    with store.transaction(con):
        con.execute("DELETE FROM remote_objects WHERE uri = ?", [obj.url])
        store.insert(con, "remote_objects", {"uri": obj.url, "listing": obj.listing, "sha256": sha,
                                             "seen_at": now(), "run_id": run_id})


def _change_while_read(path: Path, before: os.stat_result, sha: str, digest) -> str | None:
    """Why the file read is not the file whose hash names it, or None when it is.

    The stored sha256 is taken before reading; a writer rewriting the file meanwhile would
    leave that hash beside records of another content (and the real file "already stored").
    The bytes read were hashed as they passed (`digest`); Parquet, read by random access,
    is hashed again. The stat catches a change the hash cannot see (a file replaced after
    it was opened).
    """
    try:
        after = os.stat(path)
    except OSError as exc:
        return f"it can no longer be read: {exc.strerror or exc}"
    fields = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino", "st_dev")
    changed = [f[3:] for f in fields if getattr(before, f) != getattr(after, f)]
    if changed:
        return f"{', '.join(changed)} changed"
    read_sha = digest.hexdigest() if digest is not None else file_sha256(path)
    if read_sha != sha:
        return f"sha256 {sha[:16]}... before reading, {read_sha[:16]}... of the bytes read"
    return None


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
