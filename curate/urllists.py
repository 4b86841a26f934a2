"""URL blocklists and allow-lists: list files, and which documents' URLs they name.

A list file is UTF-8 text, one entry a line; `#` starts a comment (a whole line, or after a
space); blank lines are skipped. An entry is

- a domain (`example.com`, also written `*.example.com` or `.example.com`): it names that
  host and every host under it (`www.example.com`, `a.b.example.com`), as the UT1 lists'
  `domains` files mean it;
- a URL (`example.com/some/page`, a scheme optional): it names every URL that starts with
  it, the scheme and a leading `www.` ignored on both sides, compared case-insensitively,
  as the UT1 lists' `urls` files mean it.

Hosts are normalised as the url signals normalise them (curate/signals/url.py: lower case,
IDN as punycode), so a list written in Unicode matches URLs written in punycode and back.
A line that is neither (spaces inside, a character no host holds, a label over 63
characters) is refused with the file and line: a list that silently skipped a line would
keep what its author meant to drop. Nothing is downloaded: the README says where the usual
lists come from.

Matching runs in DuckDB on temp tables (the list and the documents' hosts), so a list of
millions of domains costs the store's bounded memory, not Python's.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import UsageError
from curate.signals.url import MAX_URL_CHARS, normalize_host, url_host_path

if TYPE_CHECKING:
    import duckdb
    import polars as pl

LIST_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
LIST_NAME_RULE = "1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit"
URL_DOCS = "_url_docs"  # temp tables, for one slice build
URL_HOSTS = "_url_hosts"
URL_HITS = "_url_hits"
_LIST = "_url_list"
_BATCH = 50_000
_WWW = "www."
_COMMENT = re.compile(r"\s#")
_SPACE = re.compile(r"\s")
_MAX_LINE = 4 * MAX_URL_CHARS + 1024  # an entry of MAX_URL_CHARS characters, a comment beside it


class ListFileError(UsageError):
    """A list file that cannot be used; the message names the file (and line)."""


@dataclass(frozen=True)
class UrlList:
    name: str
    path: str  # absolute
    kind: str  # block | allow


@dataclass(frozen=True)
class Entry:
    host: str
    path: str  # "" for a domain entry; a lower-case path prefix (starting with "/") for a URL entry


def _strip_www(host: str) -> str:
    return host[len(_WWW):] if host.startswith(_WWW) and host.count(".") >= 2 else host


def parse_line(raw: str) -> Entry | None:
    """One list line's entry, None for a blank or comment line; ValueError saying why it is none."""
    line = raw.strip()
    if not line or line.startswith("#"):
        return None
    cut = _COMMENT.search(line)
    if cut:
        line = line[: cut.start()].rstrip()
    if len(line) > MAX_URL_CHARS:
        raise ValueError(f"an entry of {len(line)} characters (at most {MAX_URL_CHARS})")
    if _SPACE.search(line):
        raise ValueError(f"{line[:80]!r} holds a space: one domain or URL a line")
    if "/" in line or "?" in line:
        hp = url_host_path(line)
        if hp is None:
            raise ValueError(f"{line[:80]!r} is not a URL with a host")
        host, path = hp
        return Entry(_strip_www(host), path.lower())
    bare = line[2:] if line.startswith("*.") else line[1:] if line.startswith(".") else line
    host = normalize_host(bare)
    if host is None:
        raise ValueError(f"{line[:80]!r} is not a domain name")
    return Entry(host, "")


def read_list(path: Path | str) -> tuple[Iterator[Entry], hashlib._Hash]:
    """The entries of a list file, streamed, and the sha256 of its bytes (complete once the
    entries are consumed); ListFileError names the file and line of what is wrong."""
    chunks, h = read_list_chunks(path)

    def entries() -> Iterator[Entry]:
        for plain, hosts, paths in chunks:
            yield from (Entry(host, "") for host in plain.to_list())
            yield from (Entry(host, pth) for host, pth in zip(hosts, paths))

    return entries(), h


# A plain domain line, the bulk of every list: checked and normalised in polars for a whole chunk.
_PLAIN = r"^(?:\*\.|\.)?[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$"


Chunk = tuple["pl.Series", list[str], list[str]]


def _chunk_entries(p: Path, first_no: int, lines: list[str]) -> Chunk:
    """The entries of a chunk of decoded lines, the first being line `first_no`: the plain
    domains' hosts (a polars Series), then the other entries' hosts and paths."""
    import polars as pl

    s = pl.Series(lines, dtype=pl.String)
    too_long = (s.str.len_bytes() > _MAX_LINE).arg_true()
    if len(too_long):
        raise ListFileError(f"{p} line {first_no + too_long[0]}: over {_MAX_LINE:,} bytes; one domain or URL a line")
    s = s.str.strip_chars()
    lower = s.str.to_lowercase()
    skip = (s.str.len_bytes() == 0) | s.str.starts_with("#")
    plain = lower.str.contains(_PLAIN) & (lower.str.len_bytes() <= 255)
    hosts = lower.filter(plain & ~skip).str.replace(r"^(?:\*\.|\.)", "")
    ok = hosts.str.len_bytes() <= 253
    plain_hosts = hosts.filter(ok)
    out_hosts: list[str] = []
    out_paths: list[str] = []
    for i in (~(plain | skip) | (plain & ~skip & (lower.str.len_bytes() > 253))).arg_true().to_list():
        try:
            entry = parse_line(lines[i])
        except ValueError as exc:
            raise ListFileError(f"{p} line {first_no + i}: {exc}") from None
        if entry is not None:
            out_hosts.append(entry.host)
            out_paths.append(entry.path)
    return plain_hosts, out_hosts, out_paths


_BLOCK = 1 << 23  # bytes read at once: lines are split and decoded a block at a time


def _blocks(p: Path, fh, h) -> Iterator[Chunk]:
    """The entries of an open list file, a block of whole lines at a time."""
    no = 0  # lines before the current block
    rest = b""
    first = True
    while True:
        block = fh.read(_BLOCK)
        h.update(block)
        data = rest + block
        if block:
            cut = data.rfind(b"\n") + 1
            data, rest = data[:cut], data[cut:]
            if len(rest) > _MAX_LINE:  # no line end in sight: one huge "line" is never held whole
                huge_at = no + data.count(b"\n") + 1
                yield from _blocks_done(p, data, no, first)
                raise ListFileError(f"{p} line {huge_at}: over {_MAX_LINE:,} bytes; one domain or URL a line")
            if not data:
                continue
        elif not data:
            return
        yield from _blocks_done(p, data, no, first)
        first = False
        no += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if not block:
            return


def _blocks_done(p: Path, data: bytes, no: int, first: bool) -> Iterator[Chunk]:
    """The entries of `data`, whole lines following line `no` of the file."""
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = no + data.count(b"\n", 0, exc.start) + 1
        raise ListFileError(f"{p} line {line}: not UTF-8 (byte 0x{data[exc.start]:02x})") from None
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    for i in range(0, len(lines), _BATCH):
        yield _chunk_entries(p, no + i + 1, lines[i:i + _BATCH])


def read_list_chunks(path: Path | str) -> tuple[Iterator[Chunk], hashlib._Hash]:
    """read_list in chunks (see _chunk_entries) of at most _BATCH lines each."""
    p = Path(path)
    h = hashlib.sha256()

    def chunks() -> Iterator[Chunk]:
        try:
            fh = open(p, "rb")
        except FileNotFoundError:
            raise ListFileError(f"{p}: no such list file") from None
        except IsADirectoryError:
            raise ListFileError(f"{p}: a folder, not a list file") from None
        except OSError as exc:
            raise ListFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None
        with fh:
            try:
                yield from _blocks(p, fh, h)
            except OSError as exc:
                raise ListFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None

    return chunks(), h


def check_readable(path: Path) -> None:
    """Refuse (ListFileError) a list path that is not a readable file, before a run starts."""
    if not path.exists():
        raise ListFileError(f"{path}: no such list file")
    if not path.is_file():
        raise ListFileError(f"{path}: not a file")


def _suffixes(host: str) -> list[str]:
    """`a.b.c` -> [a.b.c, b.c, c]; an IP address only itself."""
    if ":" in host or host.replace(".", "").isdigit():
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def _load_documents(con: duckdb.DuckDBPyConnection) -> None:
    """URL_DOCS (doc_id, host, path) for every document whose URL has a host; URL_HOSTS
    (doc_id, suffix) for every dot-suffix of those hosts. Streamed in batches."""
    import pyarrow as pa

    from curate import store

    con.execute(f"CREATE OR REPLACE TEMP TABLE {URL_DOCS} (doc_id VARCHAR, host VARCHAR, path VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {URL_HOSTS} (doc_id VARCHAR, suffix VARCHAR)")
    reader = con.cursor()
    try:
        reader.execute(f"SELECT d.doc_id, {store.document_url_sql('d')} FROM documents d")
        while rows := reader.fetchmany(_BATCH):
            ids, hosts, paths, s_ids, sfx = [], [], [], [], []
            for doc_id, url in rows:
                hp = url_host_path(url)
                if hp is None:
                    continue
                ids.append(doc_id)
                hosts.append(_strip_www(hp[0]))
                paths.append(hp[1].lower())
                for s in _suffixes(hp[0]):
                    s_ids.append(doc_id)
                    sfx.append(s)
            store.register(con, "_url_batch", pa.table({"doc_id": ids, "host": hosts, "path": paths}))
            con.execute(f"INSERT INTO {URL_DOCS} BY NAME SELECT * FROM _url_batch")
            store.register(con, "_url_batch", pa.table({"doc_id": s_ids, "suffix": sfx}))
            con.execute(f"INSERT INTO {URL_HOSTS} BY NAME SELECT * FROM _url_batch")
            con.unregister("_url_batch")
    finally:
        reader.close()


def _load_list(con: duckdb.DuckDBPyConnection, ul: UrlList) -> str:
    """The list's entries into _LIST (name, kind, host, path); returns the file's sha256."""
    import pyarrow as pa

    from curate import store

    chunks, h = read_list_chunks(ul.path)
    for plain, hosts, paths in chunks:
        for tbl in (pa.table({"host": plain.to_arrow(), "path": pa.nulls(len(plain), pa.string())}),
                    pa.table({"host": pa.array(hosts, pa.string()), "path": pa.array(paths, pa.string())})):
            if not len(tbl):
                continue
            store.register(con, "_url_batch", tbl)
            con.execute(f"INSERT INTO {_LIST} SELECT ? AS name, ? AS kind, host, coalesce(path, '') FROM _url_batch",
                        [ul.name, ul.kind])
            con.unregister("_url_batch")
    return h.hexdigest()


def materialize_hits(con: duckdb.DuckDBPyConnection, lists: tuple[UrlList, ...]) -> dict[str, str]:
    """URL_HITS (doc_id, name, kind): every document whose URL a list names, one row per
    (document, list); URL_DOCS: the documents that have a URL. Returns each list's sha256."""
    _load_documents(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_LIST} (name VARCHAR, kind VARCHAR, host VARCHAR, path VARCHAR)")
    digests = {f"{ul.kind}:{ul.name}": _load_list(con, ul) for ul in lists}
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {URL_HITS} AS
        SELECT DISTINCT h.doc_id, l.name, l.kind FROM {URL_HOSTS} h JOIN {_LIST} l
            ON l.path = '' AND l.host = h.suffix
        UNION
        SELECT DISTINCT u.doc_id, l.name, l.kind FROM {URL_DOCS} u JOIN {_LIST} l
            ON l.path <> '' AND l.host = u.host AND starts_with(u.path, l.path)""")
    con.execute(f"DROP TABLE IF EXISTS {_LIST}")
    con.execute(f"DROP TABLE IF EXISTS {URL_HOSTS}")
    return digests


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for t in (URL_HITS, URL_DOCS, URL_HOSTS, _LIST):
        con.execute(f"DROP TABLE IF EXISTS {t}")
