"""Fuzz: hostile bytes through every reader, hostile YAML through the recipe parser.

Each group runs in a child process under an address-space limit (RLIMIT_AS): a reader or
parser that expands what it reads dies there of MemoryError, not the test machine, and the
child reports the peak resident memory it reached. Hypothesis runs derandomized with a fixed
example budget, so every run and every machine tries the same examples; a failure prints
Hypothesis's falsifying example (and the file's bytes) in the assertion message.

Properties checked:
- readers: iterating read_records yields Records numbered 1, 2, 3, ..., each a document
  (text that is UTF-8, not blank, at most max_doc_bytes) or a quarantined record (a known
  error_kind and an error), or raises one of the errors ingest_file turns into a failed file.
  Nothing else escapes: no RecursionError, UnicodeError, MemoryError, zstd or pyarrow error.
- bombs: files of a few MB on disk that expand to 200-256 MiB are read in bounded memory,
  and the record after the bomb is still read.
- ingest: records read = documents + quarantined for every file and in the store, the same
  counts as read_records gives; a file that fails leaves no row and the good file after it
  is ingested whole.
- recipes: parse_recipe, read_recipe_file and load_recipe raise only RecipeError; a recipe
  they accept is usable (its values are UTF-8 and bind as SQL parameters, every rule has a
  bound) and parses back from its own YAML to the same recipe; anchors and aliases (billion
  laughs), non-finite bounds and keys given twice are refused.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
import zstandard
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from curate import ingest, recipes
from curate.errors import FileFailedError
from curate.ingest import FORMATS, IngestOptions, Record, display_path, read_records

pytestmark = pytest.mark.slow

MIB = 1 << 20
GIB = 1 << 30
# The child (duckdb, pyarrow, numpy, hypothesis, a DuckDB store) peaks at about 750 MiB of
# address space here; a thread's stack reserves 8 MiB and DuckDB starts threads per core, hence
# the part that grows with the cores. 1 GiB leaves room for the readers' bounded buffers and
# little for a reader that holds a bomb's 200-256 MiB and its decoded copy (BOMB_RSS_GROWTH
# catches one that holds less).
AS_LIMIT = GIB + 24 * MIB * (os.cpu_count() or 1)
RSS_LIMIT = 1 * GIB  # peak resident memory of a whole group
BOMB_RSS_GROWTH = 160 * MIB  # reading one bomb (>= 200 MiB expanded) may grow RSS by at most this

# What ingest_file turns into a `failed` file (FileFailedError and ingest._READ_ERRORS).
# Written out here, so that a reader that starts raising something new fails this test.
FILE_ERRORS = (FileFailedError, EOFError, OSError, zlib.error)
QUARANTINE_KINDS = {"bad_metadata", "empty_line", "empty_text", "invalid_utf8", "malformed_csv",
                    "malformed_json", "missing_text_field", "non_string_text", "not_an_object",
                    "too_deep", "too_large",
                    # WARC/WET and HTML (curate/web/warc.py)
                    "http_status", "not_html", "truncated_record", "bad_http", "undecodable", "no_main_text",
                    "extraction_failed", "warc_revisit", "warc_segmented"}

FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=False,
            suppress_health_check=list(HealthCheck))
# Groups whose examples cost seconds report the first failing example as it is, unshrunk.
NO_SHRINK = dict(phases=[Phase.explicit, Phase.reuse, Phase.generate])
MARK = "@@fuzz-result@@ "


# --- the child process ---------------------------------------------------------------------

_LAUNCH = r"""
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
runpy.run_path(sys.argv[2], run_name="curate_fuzz_child")["_child_main"](sys.argv[3], sys.argv[4])
"""


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def _reset_peak_rss() -> bool:
    """Start VmHWM afresh at the current RSS (Linux >= 4.0); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class _TooSlow(BaseException):
    """An example that ran past its time limit (a BaseException: no `except Exception` in the
    code under test swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: float, what):
    """SIGALRM after `seconds`: a reader or parser that loops (or walks a billion-laughs graph)
    fails its example, naming it, instead of hanging the child until the parent's timeout."""
    def expired(signum, frame):
        raise _TooSlow(f"over {seconds} s on {what() if callable(what) else what}")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _child_main(group: str, workdir: str) -> None:
    import traceback

    def describe(exc: BaseException, depth: int = 0) -> str:
        # the error and Hypothesis's falsifying example first, each cut short (an example may
        # hold a file of kilobytes), then where it was raised
        parts = [f"{type(exc).__name__}: {str(exc)[:4000]}"]
        parts += [note[:3000] for note in getattr(exc, "__notes__", [])]
        for sub in getattr(exc, "exceptions", [])[:3] if depth < 2 else []:
            parts.append(describe(sub, depth + 1))
        cause = exc.__cause__ or exc.__context__
        if cause is not None and depth < 2 and not getattr(exc, "exceptions", None):
            parts.append(f"caused by {type(cause).__name__}: {str(cause)[:1500]}\n"
                         + "".join(traceback.format_tb(cause.__traceback__))[-3000:])
        parts.append("".join(traceback.format_tb(exc.__traceback__))[-3000:])
        return "\n".join(parts)

    stats: dict = {}
    try:
        GROUPS[group](Path(workdir), stats)
        failure = None
    except BaseException as exc:  # MemoryError and RecursionError included: report, don't die
        failure = describe(exc)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would count the forking pytest process.
    out = {"failure": failure, "stats": stats, "peak_rss": _status_kib("VmHWM") * 1024,
           "peak_vm": _status_kib("VmPeak") * 1024}
    print(MARK + json.dumps(out, default=str), flush=True)
    sys.exit(1 if failure else 0)


def _run_group(group: str, tmp_path: Path) -> dict:
    # Address space reserved, not used: each thread's malloc arena reserves 64 MiB, Arrow starts
    # threads per core, and its default allocator (mimalloc) reserves 1 GiB on first use. Keep
    # them small (Arrow on the system allocator) so the limit measures the code, not the machine.
    env = dict(os.environ, MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="2", ARROW_IO_THREADS="2",
               ARROW_DEFAULT_MEMORY_POOL="system",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", POLARS_MAX_THREADS="1")
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", _LAUNCH, str(AS_LIMIT), __file__, group, str(tmp_path)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=400)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    other = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(MARK))
    tail = f"\n--- stdout ---\n{other[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    assert lines, f"fuzz child {group!r} died (exit {proc.returncode}) without a report{tail}"
    out = json.loads(lines[-1][len(MARK):])
    assert out["failure"] is None, f"fuzz group {group!r} failed:\n{out['failure']}{tail}"
    assert proc.returncode == 0, tail
    assert out["peak_rss"] < RSS_LIMIT, f"{group}: peak RSS {out['peak_rss'] / MIB:.0f} MiB"
    print(f"{group}: peak RSS {out['peak_rss'] / MIB:.0f} MiB, peak VM {out['peak_vm'] / MIB:.0f} MiB, "
          f"{out['stats']}")
    return out["stats"]


# --- hostile files -------------------------------------------------------------------------

UTF8_BOM = b"\xef\xbb\xbf"
BOMS = [UTF8_BOM, b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", UTF8_BOM + UTF8_BOM]
SNIPPETS = st.one_of(
    st.sampled_from([
        b"\x00", b"\x00" * 100, UTF8_BOM, b"\xff\xfe", b"\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80", b"\xe2\x80\xa8", b"\xc2\x85", b"\r", b"\n", b"\r\n", b"\n\n\n", b'"', b'""',
        b",", b",,,,", b"\\", b"\\u", b"\\ud800", b'\\udfff"', b"[" * 3000, b"{" * 3000, b'{"a":' * 1500,
        b"x" * 100_000, b'"' + b"q\n" * 2000, b"NaN", b"-Infinity", b"9" * 5000, b"1e999",
    ]),
    st.binary(min_size=1, max_size=24),
)
HOSTILE_STRINGS = st.sampled_from(["\ud800", "a\udfffb", "\x00", "\ufeff", "\u2028", "\r\n", "\x85",
                                   " ", "", "\t\n", "é" * 50, "\U0010ffff", "\\", '"', "x" * 5000])
TEXTS = st.one_of(st.text(max_size=40), HOSTILE_STRINGS)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXTS)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(TEXTS, kids, max_size=4), max_leaves=12)
FIELD_NAMES = st.one_of(st.sampled_from(["text", "id", "body", "meta", "", "\ufefftext", "TEXT"]), TEXTS)

HOSTILE_LINES = [
    b"[" * 3000 + b"]" * 3000,
    b'{"text": "deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"text": "deep", "x": ' + b"[" * 980 + b"]" * 980 + b"}",  # near the recursion limit
    b'{"text": "deep", "id": ' + b"[" * 980 + b"]" * 980 + b"}",  # str() of it as the external id
    b'{"text": "big", "n": ' + b"9" * 5000 + b"}",
    b'{"text": "big", "id": ' + b"9" * 4000 + b"}",
    b'{"text": "inf", "f": 1e999, "g": NaN, "h": -Infinity}',
    b'{"text": NaN}', b"NaN", b"null", b'"text"', b"[]", b"{}", b"", b"   ", b"\t", b"\x00",
    b'{"text": "\\ud800"}', b'{"text": "ok", "k": "\\udfff"}', b'{"\\ud800": 1, "text": "k"}',
    b'{"text": "ok", "id": "\\udc80"}', b'{"text": "a\\u0000b", "\\u0000": "\\u0000"}',
    b'{"text": "x" ', b'{"text": "tr', b'\xef\xbb\xbf{"text": "bom"}', b'\xff\xfe{\x00"\x00',
    b'{"text": "' + b"x" * 300_000 + b'"}', b'{"text": "' + b"\\u00e9" * 50_000 + b'"}',
    b'{"text": "\xc3\x28"}', b'{"text": "ok", "m": "\xff"}', b'{"text": "a", "text": 1}',
    b'{"text": "t", "id": {"a": [1, {"b": null}]}}', b'{"text": "t", "id": 1.5e300}',
]


@st.composite
def jsonl_payload(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["object", "object", "value", "hostile"]))
        if kind == "hostile":
            lines.append(draw(st.sampled_from(HOSTILE_LINES)))
            continue
        obj = draw(JSON_VALUES) if kind == "value" else draw(st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=4))
        if isinstance(obj, dict) and draw(st.integers(0, 3)):
            obj[draw(st.sampled_from(["text", "text", "body", ""]))] = draw(st.one_of(TEXTS, TEXTS, JSON_VALUES))
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass"))
    sep = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r", b"\n\n"]))
    return sep.join(lines) + draw(st.sampled_from([sep, b""]))


@st.composite
def csv_payload(draw) -> bytes:
    header = draw(st.lists(FIELD_NAMES, min_size=0, max_size=4))
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), "text")
    width = len(header)
    rows = [header]
    for _ in range(draw(st.integers(0, 6))):
        n = width if draw(st.integers(0, 4)) else draw(st.integers(0, width + 2))
        rows.append([draw(TEXTS) for _ in range(n)])
    buf = io.StringIO(newline="")
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    writer = csv.writer(buf, quoting=quoting, lineterminator=draw(st.sampled_from(["\r\n", "\n", "\r"])))
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def txt_payload(draw) -> bytes:
    return draw(st.one_of(TEXTS.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))


@st.composite
def parquet_payload(draw) -> bytes:
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = draw(st.integers(0, 5))

    def column(kind: str):
        if kind == "string":
            return pa.array([draw(st.one_of(st.none(), st.text(max_size=30), st.just(" "))) for _ in range(n)],
                            pa.string())
        if kind == "large_string":
            return pa.array([draw(st.text(max_size=30)) for _ in range(n)], pa.large_string())
        if kind == "bad_utf8":  # a string column whose bytes are not UTF-8, built without validation
            values = [draw(st.binary(max_size=8)) + b"\xff" for _ in range(n)]
            offsets = [0]
            for v in values:
                offsets.append(offsets[-1] + len(v))
            return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(bytes(
                b"".join(int(o).to_bytes(4, "little") for o in offsets))), pa.py_buffer(b"".join(values))])
        if kind == "dictionary":
            return pa.array([draw(st.sampled_from(["a", "b", "same text"])) for _ in range(n)]).dictionary_encode()
        if kind == "binary":
            return pa.array([draw(st.binary(max_size=10)) for _ in range(n)], pa.binary())
        if kind == "int":
            return pa.array([draw(st.integers(-2 ** 63, 2 ** 63 - 1)) for _ in range(n)], pa.int64())
        if kind == "float":
            return pa.array([draw(st.floats()) for _ in range(n)], pa.float64())
        if kind == "null":
            return pa.nulls(n)
        if kind == "timestamp":  # up to 146,000 years either way: no Python datetime holds most
            return pa.array([draw(st.integers(-2 ** 62, 2 ** 62)) for _ in range(n)], pa.int64()).cast(
                pa.timestamp("us"))
        if kind == "date":
            return pa.array([datetime.date(2000, 1, 1)] * n, pa.date32())
        if kind == "decimal":
            return pa.array([decimal.Decimal("1.25")] * n, pa.decimal128(10, 2))
        if kind == "list":
            return pa.array([draw(st.lists(st.text(max_size=5), max_size=3)) for _ in range(n)],
                            pa.list_(pa.string()))
        if kind == "struct":
            return pa.array([{"a": draw(st.integers(0, 9)), "b": draw(st.text(max_size=5))} for _ in range(n)])
        if kind == "map":
            return pa.array([[("k", draw(st.integers(0, 9)))] for _ in range(n)], pa.map_(pa.string(), pa.int64()))
        raise AssertionError(kind)

    kinds = ["large_string", "bad_utf8", "dictionary", "binary", "int", "float", "null", "timestamp", "date",
             "decimal", "list", "struct", "map"]
    names = draw(st.lists(st.sampled_from(["text", "id", "meta", "body", "other", "\ufefftext"]), max_size=4))
    names = ["text", *names] if draw(st.integers(0, 3)) else names
    table = pa.table({name: column(draw(st.sampled_from(["string"] * 6 + kinds))) for name in names}
                     or {"x": pa.nulls(n)})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=draw(st.sampled_from(["none", "snappy", "zstd", "gzip"])),
                   row_group_size=draw(st.integers(1, 4)), use_dictionary=draw(st.booleans()),
                   data_page_size=draw(st.sampled_from([64, 1 << 20])))
    return buf.getvalue()


@st.composite
def html_payload(draw) -> bytes:
    text = draw(TEXTS).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([
        b"<html><head><title>t</title></head><body><nav><a href='/'>Home</a></nav><p>" + text + b"</p></body></html>",
        b"<?xml version='1.0' encoding='iso-8859-1'?><html><body><p>" + text + b"</p></body></html>",
        text, b"<html><body></body></html>", draw(st.binary(max_size=120))]))


@st.composite
def warc_payload(draw) -> bytes:
    """WARC records of every type, HTTP statuses, content types, charsets, and Content-Length
    headers that are right, short or long (the reader must not trust them)."""
    out = []
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["response"] * 4 + ["resource", "conversion", "request", "revisit", "warcinfo",
                                                         "continuation", "metadata"]))
        body = draw(html_payload())
        ctype = draw(st.sampled_from(["text/html; charset=utf-8", "text/html", "image/png", "text/plain",
                                      "text/html; charset=latin-1", "text/html; charset=bogus", ""]))
        if kind in ("response", "revisit"):
            status = draw(st.sampled_from(["200 OK"] * 3 + ["404 Not Found", "301 Moved", "abc", ""]))
            block = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n\r\n".encode() + body
            warc_ctype = "application/http; msgtype=response"
        else:
            block, warc_ctype = body, ctype or "text/html"
        length = max(0, len(block) + draw(st.sampled_from([0, 0, 0, 7, -3, 1 << 30])))
        out.append(f"WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{i}>\r\n"
                   f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: http://e.example/{i}\r\n"
                   f"Content-Type: {warc_ctype}\r\nContent-Length: {length}\r\n\r\n".encode()
                   + block + b"\r\n\r\n")
    return b"".join(out)


PAYLOADS = {"jsonl": jsonl_payload(), "csv": csv_payload(), "txt": txt_payload(), "parquet": parquet_payload(),
            "warc": warc_payload(), "html": html_payload()}

MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20)),
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), SNIPPETS),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.integers(0, 1 << 20), st.integers(1, 64), st.integers(2, 40)),
    st.tuples(st.just("prefix"), st.sampled_from(BOMS)),
)


def _mutate(data: bytes, mutation: tuple) -> bytes:
    op = mutation[0]
    if op == "prefix":
        return mutation[1] + data
    pos = mutation[1] % (len(data) + 1)
    if op == "truncate":
        return data[:pos]
    if op == "flip":
        return data if pos == len(data) else data[:pos] + bytes([data[pos] ^ mutation[2]]) + data[pos + 1:]
    if op == "insert":
        return data[:pos] + mutation[2] + data[pos:]
    if op == "delete":
        return data[:pos] + data[pos + mutation[2]:]
    if op == "repeat":
        return data[:pos] + data[pos:pos + mutation[2]] * mutation[3] + data[pos:]
    raise AssertionError(op)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


@st.composite
def container(draw, suffix: str, payload: bytes) -> bytes:
    """The payload as the file holds it: gzip members or zstd frames, for compressed suffixes."""
    cuts = draw(st.lists(st.integers(0, 1 << 20), max_size=2))
    if suffix.endswith(".gz"):
        level = draw(st.sampled_from([1, 9]))
        return b"".join(gzip.compress(p, compresslevel=level, mtime=0) for p in _pieces(payload, cuts))
    if suffix.endswith(".zst"):
        out = []
        for piece in _pieces(payload, cuts):
            c = zstandard.ZstdCompressor(level=draw(st.sampled_from([1, 19])),
                                         write_content_size=draw(st.booleans()), write_checksum=draw(st.booleans()))
            if draw(st.booleans()):
                out.append(c.compress(piece))
            else:  # streamed: a frame header without the content size
                buf = io.BytesIO()
                with c.stream_writer(buf, closefd=False) as w:
                    w.write(piece)
                out.append(buf.getvalue())
            if draw(st.integers(0, 5)) == 0:
                data = draw(st.binary(max_size=8))
                out.append((0x184D2A50 + draw(st.integers(0, 15))).to_bytes(4, "little")
                           + len(data).to_bytes(4, "little") + data)
        return b"".join(out)
    return payload


@st.composite
def hostile_files(draw) -> tuple[str, bytes]:
    # a format first, then one of its suffixes: each format gets its share however many suffixes it has
    fmt = draw(st.sampled_from(sorted(set(FORMATS.values()))))
    suffix = draw(st.sampled_from(sorted(s for s, f in FORMATS.items() if f == fmt)))
    if draw(st.integers(0, 9)) == 0:
        payload = draw(st.binary(max_size=300))
    else:
        payload = draw(PAYLOADS[draw(st.sampled_from([fmt] * 6 + sorted(PAYLOADS)))])
    # Parquet: fewer mutations, mostly flipped bytes (a footer that still parses, data that does not)
    mutations = MUTATIONS if fmt != "parquet" else st.one_of(MUTATIONS, *[st.tuples(
        st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255))] * 3)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3] if fmt != "parquet" else [0, 0, 1, 1, 2]))):
        payload = _mutate(payload, draw(mutations))
    data = draw(container(suffix, payload))
    if suffix.endswith((".gz", ".zst")):  # and now break the compressed stream itself
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
            data = _mutate(data, draw(MUTATIONS))
    return suffix, data


OPTIONS = st.builds(
    IngestOptions,
    text_field=st.sampled_from(["text"] * 6 + ["body", ""]),
    id_field=st.sampled_from([None, None, "id", "text", "meta"]),
    max_doc_bytes=st.sampled_from([1, 7, 64, 1000, 65536] + [ingest.MAX_DOC_BYTES] * 5),
    batch_docs=st.sampled_from([1, 3, 4096]),
)


# for ingest: the good files' documents (15 bytes) fit in every max_doc_bytes drawn here
INGEST_OPTIONS = st.builds(
    IngestOptions,
    text_field=st.sampled_from(["text"] * 4 + ["body", ""]),
    id_field=st.sampled_from([None, "id", "text", "meta"]),
    max_doc_bytes=st.sampled_from([64, 1000, ingest.MAX_DOC_BYTES]),
    batch_docs=st.sampled_from([2, 100, 4096]),
)


@st.composite
def ingest_cases(draw) -> tuple[list[tuple[str, bytes]], IngestOptions]:
    opts = draw(INGEST_OPTIONS)
    # a Parquet file that fails late has 1100 rows: not with a flush (an INSERT) every few rows
    late = late_failures(parquet=opts.batch_docs >= 100)
    return draw(st.lists(st.one_of(hostile_files(), late), min_size=1, max_size=3)), opts


def _show(suffix: str, data: bytes) -> str:
    return f"{suffix} file of {len(data)} bytes: {data[:300]!r}{'...' if len(data) > 300 else ''}"


def _read_checked(path: Path, opts: IngestOptions, what: str) -> dict:
    """Read a file and check every record; the outcome ingest_file must reproduce."""
    n, kinds, last_text = 0, {}, None
    try:
        for rec in read_records(path, opts):
            n += 1
            assert isinstance(rec, Record), f"{what}: record {n} is a {type(rec).__name__}"
            assert rec.record_no == n, f"{what}: record {n} numbered {rec.record_no}"
            if rec.error_kind is None:
                assert isinstance(rec.text, str) and rec.text.strip(), f"{what}: record {n}: no text: {rec!r:.300}"
                assert len(rec.text.encode("utf-8")) <= opts.max_doc_bytes, f"{what}: record {n} over max_doc_bytes"
                assert rec.error is None
                for value in (rec.metadata_json, rec.external_id):  # both are stored as they are
                    assert value is None or isinstance(value, str) and _is_utf8(value), f"{what}: {rec!r:.300}"
                if rec.metadata_json is not None:
                    json.loads(rec.metadata_json)
                last_text = rec.text
            else:
                assert rec.error_kind in QUARANTINE_KINDS, f"{what}: record {n}: unknown kind {rec.error_kind!r}"
                assert isinstance(rec.error, str) and rec.error, f"{what}: record {n}: {rec.error_kind} without error"
                assert rec.text is None, f"{what}: quarantined record {n} has text"
                assert rec.raw is None or isinstance(rec.raw, str) and len(rec.raw) <= ingest.RAW_KEEP_CHARS + 1
                kinds[rec.error_kind] = kinds.get(rec.error_kind, 0) + 1
                last_text = None
    except FILE_ERRORS as exc:
        if isinstance(exc, FileFailedError):
            assert display_path(path) in str(exc), f"{what}: the error does not name the file: {exc}"
        return {"failed": f"{type(exc).__name__}: {exc}", "records": n}
    return {"failed": None, "records": n, "quarantined": sum(kinds.values()), "kinds": kinds, "last": last_text}


def _is_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tally(stats: dict, key: str) -> None:
    stats[key] = stats.get(key, 0) + 1


def fuzz_readers(workdir: Path, stats: dict) -> None:
    path_no = iter(range(10 ** 9))

    @settings(max_examples=2000, **FUZZ)
    @given(hostile_files(), OPTIONS)
    def run(file, opts):
        suffix, data = file
        path = workdir / f"f{next(path_no)}{suffix}"
        path.write_bytes(data)
        try:
            with _time_limit(20, lambda: _show(suffix, data)):
                out = _read_checked(path, opts, _show(suffix, data))
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__} escaped reading {_show(suffix, data)} with {opts}") from exc
        finally:
            path.unlink()
        _tally(stats, "examples")
        _tally(stats, f"{FORMATS[suffix]}:{'failed' if out['failed'] else 'read'}")
        if not out["failed"]:
            stats["records"] = stats.get("records", 0) + out["records"]
            stats["quarantined"] = stats.get("quarantined", 0) + out["quarantined"]
            stats["documents"] = stats.get("documents", 0) + out["records"] - out["quarantined"]
            stats["kinds"] = sorted(set(stats.get("kinds", [])) | set(out["kinds"]))

    run()

    @settings(max_examples=600, **FUZZ)
    @given(st.text(st.sampled_from('"",,\r\na '), max_size=40), st.lists(st.integers(0, 40), max_size=4),
           st.sampled_from([ingest._FIELD_START, ingest._UNQUOTED, ingest._QUOTED, ingest._QUOTE_IN_QUOTED]))
    def scan(text, cuts, state):
        # where an oversized CSV record ends: read in pieces, as one character at a time
        want, got = _csv_scan_reference(text, state), state
        for piece in _pieces(text, cuts):
            got = ingest._csv_scan(piece, got)
            if got == ingest._RECORD_END:
                break
        assert got == want, f"_csv_scan of {text!r} in pieces at {cuts} from state {state}: {got}, not {want}"
        _tally(stats, "scans")

    scan()


def _csv_scan_reference(s: str, state: int) -> int:
    """The default dialect's parser state after `s`, one character at a time."""
    for c in s:
        if state in (ingest._FIELD_START, ingest._QUOTE_IN_QUOTED):
            if c in "\r\n":
                return ingest._RECORD_END
            state = ingest._QUOTED if c == '"' else ingest._FIELD_START if c == "," else ingest._UNQUOTED
        elif state == ingest._UNQUOTED:
            if c in "\r\n":
                return ingest._RECORD_END
            if c == ",":
                state = ingest._FIELD_START
        elif c == '"':  # quoted
            state = ingest._QUOTE_IN_QUOTED
    return state


# --- bombs: small on disk, hundreds of MiB expanded -----------------------------------------

AFTER = b'{"text": "after the bomb"}\n'
LINES_1K = (b"z" * 1023 + b"\n") * 1024
# name: (suffixes, head, one MiB of bomb, tail, the text of the last record)
BOMBS = {
    "jsonl text": ((".jsonl", ".jsonl.gz", ".jsonl.zst"), b'{"text": "', b"x" * MIB, b'"}\n' + AFTER, "after the bomb"),
    "jsonl nesting": ((".ndjson", ".json.gz", ".jsonl.zst"), b'{"text": "t", "x": ', b"[" * MIB, b"\n" + AFTER,
                      "after the bomb"),
    "jsonl bad utf-8": ((".jsonl", ".jsonl.gz", ".jsonl.zst"), b'{"text": "', b"\xff" * MIB, b'"}\n' + AFTER,
                        "after the bomb"),
    "jsonl 1 KiB lines": ((".jsonl.gz", ".jsonl.zst"), b"", LINES_1K, AFTER, "after the bomb"),
    "csv field": ((".csv", ".csv.gz", ".csv.zst"), b"id,text\n1,", b"y" * MIB, b"\n2,after the bomb\n",
                  "after the bomb"),
    "csv quoted lines": ((".csv", ".csv.gz", ".csv.zst"), b'id,text\n1,"', LINES_1K, b'"\n2,after the bomb\n',
                         "after the bomb"),
    "csv escaped quotes": ((".csv.gz", ".csv.zst"), b'id,text\n1,"', b'""' * (MIB // 2), b'"\n2,after the bomb\n',
                           "after the bomb"),
    "csv empty fields": ((".csv.gz", ".csv.zst"), b"id,text\n1,", b"," * MIB, b"\n2,after the bomb\n",
                         "after the bomb"),
    "csv bad utf-8": ((".csv.zst",), b"id,text\n1,", b"\xff" * MIB, b"\n2,after the bomb\n",
                      "after the bomb"),
    "txt": ((".txt",), b"start ", b"t" * MIB, b" end", None),
}


def _write_bomb(path: Path, head: bytes, chunk: bytes, mib: int, tail: bytes) -> None:
    name = path.name
    with open(path, "wb") as fh:
        if name.endswith(".gz"):  # gzip members concatenate: one compressed MiB, written `mib` times
            member = gzip.compress(chunk, compresslevel=9, mtime=0)
            fh.write(gzip.compress(head, mtime=0))
            for _ in range(mib):
                fh.write(member)
            fh.write(gzip.compress(tail, mtime=0))
        elif name.endswith(".zst"):  # so do zstd frames
            c = zstandard.ZstdCompressor(level=3)
            frame = c.compress(chunk)
            fh.write(c.compress(head))
            for _ in range(mib):
                fh.write(frame)
            fh.write(c.compress(tail))
        else:  # a hole reads as NUL bytes: a huge record that takes no disk space
            fh.write(head)
            fh.seek(mib * MIB, os.SEEK_CUR)
            fh.write(tail)


def fuzz_bombs(workdir: Path, stats: dict) -> None:
    can_reset = _reset_peak_rss()

    @settings(max_examples=9, **FUZZ, **NO_SHRINK)
    @given(st.sampled_from(sorted(BOMBS)), st.data())
    def run(name, data):
        suffixes, head, chunk, tail, last = BOMBS[name]
        suffix = data.draw(st.sampled_from(suffixes))
        mib = data.draw(st.sampled_from([200, 256]))
        opts = IngestOptions(max_doc_bytes=data.draw(st.sampled_from([4096, 65536, MIB])))
        path = workdir / f"bomb{suffix}"
        _write_bomb(path, head, chunk, mib, tail)
        what = f"{name} bomb, {suffix}, {mib} MiB, max_doc_bytes {opts.max_doc_bytes}"
        try:
            assert path.stat().st_blocks * 512 < 16 * MIB, f"{what}: {path.stat().st_blocks * 512} bytes on disk"
            rss_before = _status_kib("VmRSS") * 1024
            _reset_peak_rss()
            try:
                with _time_limit(60, what):
                    out = _read_checked(path, opts, what)
            except Exception as exc:
                raise AssertionError(f"{type(exc).__name__} escaped reading the {what}") from exc
            growth = _status_kib("VmHWM") * 1024 - rss_before
        finally:
            path.unlink()
        assert out["failed"] is None, f"{what}: the file failed: {out['failed']}"
        assert out["quarantined"] >= 1 and out["last"] == last, f"{what}: {out}"
        assert out["quarantined"] == out["records"] - (last is not None), f"{what}: {out}"
        if can_reset:
            assert growth < BOMB_RSS_GROWTH, f"{what}: RSS grew by {growth / MIB:.0f} MiB"
            stats["max_growth_mib"] = max(stats.get("max_growth_mib", 0), round(growth / MIB))
        _tally(stats, "examples")

    run()


# --- ingest: conservation, and a bad file does not stop the next ---------------------------


@st.composite
def late_failures(draw, parquet: bool = True) -> tuple[str, bytes]:
    """A file that fails after records were read (and, with small batches, written)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tag = draw(st.integers(0, 10 ** 6))
    kind = draw(st.sampled_from(["jsonl.gz", "csv.gz", "parquet"] if parquet else ["jsonl.gz", "csv.gz"]))
    if kind == "parquet":  # the first batch of 1024 rows reads, the second holds a date no datetime holds
        n = 1100
        table = pa.table({"text": [f"row {tag}.{i}" for i in range(n)],
                          "ts": pa.array([0] * (n - 1) + [2 ** 62], pa.int64()).cast(pa.timestamp("us"))})
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=draw(st.sampled_from([100, 1100])))
        return ".parquet", buf.getvalue()
    rows = [f"line {tag}.{i}" for i in range(draw(st.integers(1, 6)))]
    if kind == "jsonl.gz":
        payload = "".join(json.dumps({"text": r}) + "\n" for r in rows).encode()
    else:
        payload = ("text\n" + "".join(r + "\n" for r in rows)).encode()
    # cut into the trailer (CRC and size): every record reads, then the stream ends too soon
    return f".{kind}", gzip.compress(payload, mtime=0)[:-draw(st.integers(1, 8))]


def fuzz_ingest(workdir: Path, stats: dict) -> None:
    import tempfile

    from curate import store

    example_no = iter(range(10 ** 9))

    @settings(max_examples=60, **FUZZ, **NO_SHRINK)
    @given(ingest_cases())
    def run(case):
        files, opts = case
        k = next(example_no)
        folder = Path(tempfile.mkdtemp(dir=workdir))
        paths, expect, shown = [], [], []
        for i, (suffix, data) in enumerate(files):
            bad = folder / f"{i}a_hostile{suffix}"
            bad.write_bytes(data)
            good = folder / f"{i}b_good.jsonl"
            good.write_bytes(b"".join(json.dumps({opts.text_field: f"good {k}.{i}.{j}", "id": j}).encode() + b"\n"
                                      for j in range(3)))
            paths += [bad, good]
            shown += [_show(suffix, data), f"good file {i}"]
            expect += [_read_checked(bad, opts, shown[-2]), None]
        what = f"ingesting {shown} with {opts}"
        try:
            with store.open_store(folder / "store.duckdb") as con:
                run_id = store.start_run(con, "ingest", "{}")
                try:
                    with _time_limit(60, what):
                        report = ingest.ingest_paths(con, paths, opts, run_id)
                except Exception as exc:
                    raise AssertionError(f"{type(exc).__name__} escaped {what}") from exc
                rows = {sid: (n_rec, n_doc, n_quar) for sid, n_rec, n_doc, n_quar in con.execute(
                    "SELECT source_id, n_records, n_documents, n_quarantined FROM sources").fetchall()}
                docs = dict(con.execute("SELECT source_id, count(*) FROM documents GROUP BY 1").fetchall())
                quar = dict(con.execute("SELECT source_id, count(*) FROM quarantine GROUP BY 1").fetchall())
        finally:
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
        assert [f.path for f in report.files] == [display_path(p) for p in paths], what
        seen: set[str] = set()
        for path, res, exp in zip(paths, report.files, expect):
            where = f"{what}: {res.path}"
            if exp is None:  # a good file, after a hostile one
                assert (res.status, res.records, res.documents, res.quarantined) == ("ingested", 3, 3, 0), \
                    f"{where}: {res}"
            elif res.source_id in seen:  # the same bytes as a file ingested before
                assert res.status == "skipped", f"{where}: {res}"
            elif exp["failed"]:
                assert res.status == "failed" and res.error and res.path in res.error, f"{where}: {res} vs {exp}"
                assert res.source_id not in docs and res.source_id not in quar and res.source_id not in rows, \
                    f"{where}: the failed file left {docs.get(res.source_id, 0)} documents, " \
                    f"{quar.get(res.source_id, 0)} quarantined rows and {rows.get(res.source_id)} as its source"
                _tally(stats, "failed files")
                if exp["records"]:  # rows of it were read (and, with small batches, written) first
                    _tally(stats, "failed after records")
                    _tally(stats, f"failed after records: {ingest.detect_format(path)}, batch {opts.batch_docs}")
            else:
                assert res.status == "ingested", f"{where}: {res} vs {exp}"
                got, want = (res.records, res.quarantined), (exp["records"], exp["quarantined"])
                assert got == want, f"{where}: {res} vs {exp}"
                assert res.quarantine_kinds == exp["kinds"], f"{where}: {res} vs {exp}"
                _tally(stats, "ingested files")
            if res.status == "ingested":
                assert res.records == res.documents + res.quarantined, f"{where}: {res}"
                assert rows[res.source_id] == (res.records, res.documents, res.quarantined), f"{where}: {res}"
                assert (docs.get(res.source_id, 0), quar.get(res.source_id, 0)) == (res.documents, res.quarantined), \
                    f"{where}: stored rows differ from {res}"
                seen.add(res.source_id)
        assert sum(docs.values()) == report.documents and sum(quar.values()) == report.quarantined, what
        assert report.records == report.documents + report.quarantined, what
        _tally(stats, "examples")

    run()


# --- recipes -------------------------------------------------------------------------------


def _signals():
    from curate.signals import REGISTRY

    return list(REGISTRY)


def _shipped_texts() -> list[str]:
    folder = Path(recipes.__file__).parent / "recipes_shipped"
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.yaml"))]


class _SignalTable:
    """One row holding every registry signal in an in-memory DuckDB, to run a recipe's rules on
    (as evaluate_frame does, on one connection for all examples): every value binds as a parameter."""

    def __init__(self):
        import duckdb
        import pyarrow as pa

        typed = {"VARCHAR": ("en", pa.string()), "BIGINT": (1, pa.int64()), "DOUBLE": (0.5, pa.float64())}
        cols = {s.name: pa.array([typed[s.dtype][0]], typed[s.dtype][1]) for s in _signals()}
        self.con = duckdb.connect()
        self.table = pa.table(cols)
        self.con.register("s", self.table)

    def run(self, recipe) -> list:
        case_sql, params = recipes.reason_case(recipe.rules)
        recipes.compile_decisions(recipe)
        return self.con.execute(f"SELECT {case_sql} FROM s", params).fetchall()


def _check_accepted(recipe, what: str, frame) -> None:
    """A recipe the parser accepted is one the rest of curate can use."""
    names = {s.name for s in _signals()}
    assert recipes.RECIPE_NAME.fullmatch(recipe.name), f"{what}: name {recipe.name!r}"
    assert isinstance(recipe.description, str) and _is_utf8(recipe.description), f"{what}: {recipe.description!r}"
    for rule in recipe.rules:
        assert rule.signal in names, f"{what}: {rule}"
        if rule.allow is not None:
            assert rule.allow and all(isinstance(a, str) and _is_utf8(a) for a in rule.allow), \
                f"{what}: {rule}"
        else:
            assert rule.min is not None or rule.max is not None, f"{what}: a rule without a bound: {rule}"
            for v in (rule.min, rule.max):
                assert v is None or type(v) in (int, float) and math.isfinite(v), f"{what}: {rule}"
            assert rule.min is None or rule.max is None or rule.min <= rule.max, f"{what}: {rule}"
    near = recipe.dedup.near_threshold
    assert isinstance(recipe.dedup.exact, bool) and (near is None or 0 < near <= 1), f"{what}: {recipe.dedup}"
    assert isinstance(recipe.redact_pii, bool)
    text = recipe.to_yaml()
    text.encode("utf-8")
    json.dumps(recipe.to_dict()).encode("utf-8")
    again = recipes.parse_recipe(text, origin="<stored>")  # explain re-reads the stored YAML
    # to_dict, not recipe_id: a published default stays an int (5) where a bound written out
    # becomes a float (5.0), so the two hash differently although they are the same rule
    assert again.to_dict() == recipe.to_dict() and _same_rules(again, recipe), f"{what}: {text}"
    frame.run(recipe)


def _same_rules(a, b) -> bool:
    return [(r.signal, r.min, r.max, r.allow) for r in a.rules] == [(r.signal, r.min, r.max, r.allow) for r in b.rules]


def _parse_only_recipe_error(text: str, what: str, frame, origin: str = "fuzz.yaml"):
    try:
        with _time_limit(10, lambda: f"parse_recipe of {what}: {text[:2000]!r}"):
            recipe = recipes.parse_recipe(text, origin=origin)
    except recipes.RecipeError as exc:
        assert str(exc).startswith(origin), f"{what}: the error does not name the recipe: {exc}"
        return exc
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} escaped parse_recipe of {what}: {text[:2000]!r}") from exc
    _check_accepted(recipe, f"{what}: {text[:2000]!r}", frame)
    return recipe


YAML_KEYS = st.one_of(
    st.sampled_from(sorted(recipes.TOP_KEYS) * 3 + ["min", "max", "allow", "exact", "near_threshold", "redact_pii",
                                                    "<<", "? x", "[a]", "{a: 1}", "!!str name", "&k name", "*k",
                                                    "'name'", '"filters"', "lang", "quality", "gopher_quality",
                                                    "word_count", "unknown_signal", "1", "null", "true", ""]),
    st.deferred(lambda: st.sampled_from([s.name for s in _signals()])),
    st.text(max_size=6),
)
YAML_SCALARS = st.one_of(
    st.sampled_from([
        "default", "defaults", "null", "~", "true", "false", "yes", "no", "on", "0", "-0", "1", "0.5", "20",
        "1.0e+999", "-1.0e+999", "1e400", ".nan", ".NaN", ".inf", "-.inf", "+.inf", "0x1F", "0o17", "0b101",
        "1_000", "1:30", "2001-12-14", "2001-13-45", "9" * 5000, "'q'", '"\\ud800"', '"\\x00"', '"\\U0010FFFF"',
        '"\\udc80"', "&a x", "*a", "!!binary aGk=", "!!binary !!", "!!float x", "!!int 1.5", "!!int 0x",
        "!!timestamp x",
        "!!timestamp 2001-02-30", "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a]", "!!python/object:os.system x",
        "!!python/name:os.system", "!!str 1", "!local x", "[en]", "{min: 1}", "{min: 0.5, max: 0.2}",
        "{min: null}", "{max: null}", "{min: null, max: null}", "{allow: []}", "{allow: [en, 1]}", "[", "{", "|",
        ">", "'", '"', "@", "`", "%", "\t", "- x", "? x", ": x", "#c", "", "\x00", "\ufeff", "\x85", "\u2028",
    ]),
    st.floats().map(repr), st.integers().map(str), st.text(max_size=10),
)


@st.composite
def yaml_flow(draw, depth: int = 0) -> str:
    if depth >= 3 or draw(st.booleans()):
        return draw(YAML_SCALARS)
    if draw(st.booleans()):
        return "[" + ", ".join(draw(yaml_flow(depth + 1)) for _ in range(draw(st.integers(0, 3)))) + "]"
    return "{" + ", ".join(f"{draw(YAML_KEYS)}: {draw(yaml_flow(depth + 1))}"
                           for _ in range(draw(st.integers(0, 3)))) + "}"


@st.composite
def yaml_block(draw, depth: int = 0) -> str:
    indent = draw(st.sampled_from(["  " * depth] * 6 + [" " * (2 * depth + 1), "\t" + "  " * depth]))
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        key = draw(YAML_KEYS)
        kind = draw(st.sampled_from(["scalar", "flow", "block", "seq"]))
        if kind == "block" and depth < 4:
            lines += [f"{indent}{key}:", draw(yaml_block(depth + 1))]
        elif kind == "seq":
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  - {draw(yaml_flow(1))}" for _ in range(draw(st.integers(0, 3)))]
        else:
            lines.append(f"{indent}{key}: {draw(yaml_flow() if kind == 'flow' else YAML_SCALARS)}")
    return "\n".join(lines)


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines)


@st.composite
def yamlish(draw) -> str:
    head = draw(st.sampled_from(["", "", "%YAML 1.1\n---\n", "---\n", "--- !!map\n", "\ufeff",
                                 "%TAG ! tag:x,2000:\n---\n",
                                 "name: fuzz\n", "name: fuzz\nfilters:\n"]))
    body = draw(yaml_block()) if draw(st.integers(0, 3)) else draw(yaml_flow())
    tail = draw(st.sampled_from(["", "", "\n", "\n---\nname: other\n", "\n...\n", "\n" + _laughs(9) + "\nall: *a9\n"]))
    return head + body + tail


@st.composite
def shipped_mutants(draw) -> str:
    text = draw(st.sampled_from(_shipped_texts()))
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "swap_lines", "indent", "truncate"]))
        pos = draw(st.integers(0, len(text)))
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        if op == "insert":
            text = text[:pos] + draw(st.one_of(YAML_SCALARS, st.sampled_from([
                ": ", "\n", "\n  ", "&a ", "*a", "<<: ", "- ", "#", "\t", "  ", "{", "}", "[", "]", ",", "? ",
            ]))) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
        elif op == "replace" and pos < len(text):
            text = text[:pos] + draw(st.characters()) + text[pos + 1:]
        elif op == "dup_line":
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif op == "swap_lines":
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t", ""])) + lines[i].lstrip(draw(st.sampled_from(["", " "])))
            text = "\n".join(lines)
        elif op == "truncate":
            text = text[:pos]
    return text


PLAIN_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12)


@st.composite
def valid_recipes(draw) -> dict:
    """A recipe as data: explicit rules (and families' defaults on other signals), dedup, export."""
    sigs = _signals()
    chosen = draw(st.lists(st.sampled_from(sigs), unique_by=lambda s: s.name, max_size=6))
    filters: dict = {}
    for s in chosen:
        if s.dtype == "VARCHAR":
            filters[s.name] = {"allow": draw(st.lists(PLAIN_TEXT, min_size=1, max_size=3))}
        elif (s.default_min is not None or s.default_max is not None) and draw(st.integers(0, 3)) == 0:
            filters[s.name] = "default"
        else:
            bound = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10 ** 6, 10 ** 6))
            lo, hi = draw(st.one_of(st.none(), bound)), draw(st.one_of(st.none(), bound))
            if lo is None and hi is None:
                lo = 0
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            filters[s.name] = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    used_families = {s.family for s in chosen}
    free = sorted({s.family for s in sigs if s.default_min is not None or s.default_max is not None} - used_families)
    for family in draw(st.lists(st.sampled_from(free), unique=True, max_size=2)) if free else []:
        filters[family] = "defaults"
    data = {"name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)), "filters": filters}
    if draw(st.booleans()):
        data["description"] = draw(PLAIN_TEXT)
    if draw(st.booleans()):
        data["dedup"] = {"exact": draw(st.booleans()),
                         "near_threshold": draw(st.one_of(st.none(), st.floats(0.01, 1.0)))}
    if draw(st.booleans()):
        data["export"] = {"redact_pii": draw(st.booleans())}
    return data


def _dump(data, flow) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True, width=10 ** 9)


KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_.-]*): (.+)$")


def fuzz_recipes(workdir: Path, stats: dict) -> None:
    frame = _SignalTable()

    @settings(max_examples=500, **FUZZ)
    @given(st.one_of(yamlish(), shipped_mutants(), st.text(max_size=200)))
    def hostile(text):
        out = _parse_only_recipe_error(text, "hostile YAML", frame)
        _tally(stats, "hostile:" + ("refused" if isinstance(out, Exception) else "accepted"))

    @settings(max_examples=200, **FUZZ)
    @given(valid_recipes(), st.sampled_from([None, False, True]), st.data())
    def valid(data, flow, draw):
        text = _dump(data, flow)
        recipe = _parse_only_recipe_error(text, "a valid recipe", frame)
        assert isinstance(recipe, recipes.Recipe), f"valid recipe refused: {recipe}\n{text}"
        by_signal = {r.signal: r for r in recipe.rules}
        for key, spec in data["filters"].items():
            if isinstance(spec, dict) and "allow" in spec:
                assert by_signal[key].allow == tuple(spec["allow"]), text
            elif isinstance(spec, dict):
                assert (by_signal[key].min, by_signal[key].max) == (spec.get("min"), spec.get("max")), text
        _tally(stats, "valid")

        # a bound made non-finite is refused, naming the signal
        numeric = [k for k, v in data["filters"].items() if isinstance(v, dict) and "allow" not in v]
        if numeric:
            key = draw.draw(st.sampled_from(numeric))
            bad = json.loads(json.dumps(data))
            bound = draw.draw(st.sampled_from(sorted(bad["filters"][key])))
            bad["filters"][key][bound] = draw.draw(st.sampled_from([math.nan, math.inf, -math.inf, 10 ** 400]))
            if "min" in bad["filters"][key] and "max" in bad["filters"][key]:
                bad["filters"][key]["min" if bound == "max" else "max"] = None
            err = _parse_only_recipe_error(_dump(bad, flow), "a non-finite bound", frame)
            assert isinstance(err, recipes.RecipeError) and f"{key}.{bound}" in str(err), f"{err}\n{_dump(bad, flow)}"
            _tally(stats, "non-finite refused")

        # a numeric rule with no bound (every bound null) is refused: it would be stored as `{}`,
        # which does not parse back (explain re-reads the stored recipe)
        if numeric:
            key = draw.draw(st.sampled_from(numeric))
            bad = json.loads(json.dumps(data))
            bad["filters"][key] = draw.draw(st.sampled_from([{"min": None}, {"max": None}, {"min": None, "max": None}]))
            err = _parse_only_recipe_error(_dump(bad, flow), "a rule without a bound", frame)
            assert isinstance(err, recipes.RecipeError) and key in str(err), f"{err}\n{_dump(bad, flow)}"
            _tally(stats, "no bound refused")

        # a lone surrogate (a "\udc80" escape) is no text: refused, not left to fail as an SQL parameter
        texts = ["description"] + [k for k, v in data["filters"].items() if isinstance(v, dict) and "allow" in v]
        where = draw.draw(st.sampled_from(texts))
        bad = json.loads(json.dumps(data))
        lone = draw.draw(st.sampled_from(["\ud800", "\udc80", "a\udfffb"]))
        if where == "description":
            bad["description"] = lone
        else:
            bad["filters"][where]["allow"].append(lone)
        err = _parse_only_recipe_error(_dump(bad, flow), "a lone surrogate", frame)
        assert isinstance(err, recipes.RecipeError), f"{err}\n{_dump(bad, flow)}"
        _tally(stats, "surrogate refused")

        # a key given twice is refused, with both lines
        lines = _dump(data, False).split("\n")
        keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
        if keyed:
            i = draw.draw(st.sampled_from(keyed))
            twice = "\n".join(lines[:i + 1] + lines[i:])
            err = _parse_only_recipe_error(twice, "a key given twice", frame)
            assert isinstance(err, recipes.RecipeError) and "given twice" in str(err) \
                and f"line {i + 2}:" in str(err) and f"first on line {i + 1}" in str(err), f"{err}\n{twice}"
            _tally(stats, "twice refused")

            # an anchor (and the alias using it) is refused
            indent, key, value = KEY_LINE.match(lines[i]).groups()
            anchored = lines[:i] + [f"{indent}{key}: &v {value}"] + lines[i + 1:]
            for text2 in ("\n".join(anchored), "\n".join(anchored) + "\nalso: *v\n",
                          "\n".join(lines) + "\n" + _laughs(draw.draw(st.integers(3, 12))) + "\n"):
                err = _parse_only_recipe_error(text2, "an anchor", frame)
                assert isinstance(err, recipes.RecipeError) and "are not allowed" in str(err), f"{err}\n{text2}"
            _tally(stats, "anchors refused")

    @settings(max_examples=250, **FUZZ)
    @given(st.one_of(st.sampled_from(_shipped_texts()), valid_recipes().map(lambda d: _dump(d, None)), yamlish()),
           st.sampled_from(["utf-8", "utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"]),
           st.sampled_from([b"", b"", UTF8_BOM, UTF8_BOM * 2, b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]),
           st.lists(MUTATIONS, max_size=2))
    def files(text, encoding, bom, mutations):
        raw = bom + text.encode(encoding, "replace")
        for m in mutations:
            raw = _mutate(raw, m)
        path = workdir / "fuzz.yaml"
        path.write_bytes(raw)
        what = f"a recipe file of {len(raw)} bytes: {raw[:500]!r}"
        try:
            got = recipes.read_recipe_file(path)
        except recipes.RecipeError as exc:
            assert str(exc).startswith(str(path)), f"{what}: {exc}"
            body = raw[3:] if raw.startswith(UTF8_BOM) else raw
            try:
                body.decode("utf-8")
                utf8 = not raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))
            except UnicodeDecodeError:
                utf8 = False
            assert not utf8, f"{what}: refused UTF-8: {exc}"
            _tally(stats, "file:refused")
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__} escaped read_recipe_file of {what}") from exc
        else:
            assert got == (raw[3:] if raw.startswith(UTF8_BOM) else raw).decode("utf-8"), what
            _parse_only_recipe_error(got, what, frame, origin=str(path))
            try:
                recipes.load_recipe(path)
            except recipes.RecipeError:
                pass
            except Exception as exc:
                raise AssertionError(f"{type(exc).__name__} escaped load_recipe of {what}") from exc
            _tally(stats, "file:read")

    hostile()
    valid()
    files()


GROUPS = {"readers": fuzz_readers, "bombs": fuzz_bombs, "ingest": fuzz_ingest, "recipes": fuzz_recipes}


# --- the tests -----------------------------------------------------------------------------


def test_fuzz_readers(tmp_path):
    stats = _run_group("readers", tmp_path)
    assert stats["examples"] >= 2000
    # the generator reaches every format, both outcomes, and most quarantine kinds
    for fmt in sorted(set(FORMATS.values())):
        assert stats.get(f"{fmt}:read", 0) > 10, stats
    assert sum(v for k, v in stats.items() if k.endswith(":failed")) > 20, stats
    assert len(stats["kinds"]) >= 9, stats


def test_fuzz_bombs(tmp_path):
    stats = _run_group("bombs", tmp_path)
    assert stats["examples"] >= 9 and stats["max_growth_mib"] > 0, stats


def test_fuzz_ingest_conserves_records(tmp_path):
    stats = _run_group("ingest", tmp_path)
    assert stats["examples"] >= 60 and stats["ingested files"] >= 20, stats
    assert stats["failed files"] >= 10 and stats["failed after records"] >= 5, stats


def test_fuzz_recipes(tmp_path):
    stats = _run_group("recipes", tmp_path)
    assert stats["hostile:refused"] > 100 and stats["valid"] >= 200, stats
    assert stats["no bound refused"] > 50 and stats["surrogate refused"] > 100
    assert stats["non-finite refused"] > 50 and stats["twice refused"] > 100 and stats["anchors refused"] > 100, stats
    assert stats["file:refused"] > 20 and stats["file:read"] > 20, stats
