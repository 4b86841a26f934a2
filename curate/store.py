"""The DuckDB store: schema, connections, the writer lock. The only module with DDL.

DuckDB lets one process hold a database file read-write, and while it does no other
process can open it at all ("Could not set lock on file"). So the CLI is the only
writer and keeps its connection only while a stage runs; readers open read-only per
query (see DESIGN.md, "Concurrency").
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from curate.errors import SchemaError, StoreLockedError, UsageError

# 2: sweeps and sweep_runs (threshold sweeps). A version-1 store gains them on its next
# read-write open (every CREATE below is IF NOT EXISTS); read-only, it is read as it is and
# the sweep reads find no sweeps (curate/sweeps.py asks table_exists first).
# 3: decontam_benchmarks, decontam_items, decontam_scanned and decontam_hits (benchmark
# decontamination, curate/decontam.py). An older store gains them the same way; read-only it
# is read as it is, and the decontamination reads find none (they ask table_exists first).
# 4: remote_objects (what each object's listing said when its URL was last read, so that a
# rerun skips an unchanged object without downloading it: curate/ingest.py). An older store
# gains it the same way; read-only it is read as it is, and every object is downloaded and
# hashed as before (ingest asks table_exists first).
SCHEMA_VERSION = 4
DEFAULT_DB = Path("curate.duckdb")
# The store keeps bytes, not tokens (no tokenizer runs before training): tokens are estimated as
# bytes / 4, the usual rule of thumb for BPE tokenizers on English text, everywhere they are shown.
BYTES_PER_TOKEN = 4
# DuckDB's own default is 80% of RAM, and it keeps what it may; a bounded buffer pool makes
# it spill to disk instead, so memory stays bounded on corpora larger than memory.
MEMORY_LIMIT = os.environ.get("CURATE_MEMORY_LIMIT", "1GB")
# DuckDB checkpoints once its WAL passes this (16 MB by default). Ingest commits a batch at a
# time, and each checkpoint compresses the table's last row group again with the new rows: at
# 16 MB a 200 MB ingest spent 1.6 CPU s of its 4.7 s of store writes on compressing the same
# rows over (bench/RESULTS.md, ingest). Committed rows not yet checkpointed stay in the buffer
# pool, which spills, so memory stays bounded by MEMORY_LIMIT.
CHECKPOINT_THRESHOLD = "128MB"

# Names the store owns; later stages fill the reserved ones.
TABLES = (
    "meta",
    "sources",
    "documents",
    "quarantine",
    "runs",
    "signals",
    "minhash",
    "lsh_bands",
    "dup_pairs",
    "dup_clusters",
    "recipes",
    "slices",
    "decisions",
    "validations",
    "train_runs",
    "generations",
    "sweeps",
    "sweep_runs",
    "decontam_benchmarks",
    "decontam_items",
    "decontam_scanned",
    "decontam_hits",
    "remote_objects",
)

_DDL = (
    """CREATE TABLE IF NOT EXISTS meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sources (
        source_id VARCHAR NOT NULL,      -- first 16 hex digits of the file's sha256
        uri VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        n_bytes BIGINT NOT NULL,
        n_records BIGINT NOT NULL,       -- records read = n_documents + n_quarantined
        n_documents BIGINT NOT NULL,
        n_quarantined BIGINT NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        run_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS documents (
        doc_id VARCHAR NOT NULL,         -- '<source_id>-<record_no, 9 digits>'
        source_id VARCHAR NOT NULL,
        record_no BIGINT NOT NULL,
        external_id VARCHAR,
        text VARCHAR NOT NULL,
        text_hash VARCHAR NOT NULL,      -- xxh3_128 of the normalized text
        n_bytes BIGINT NOT NULL,
        metadata JSON,
        run_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        source_id VARCHAR NOT NULL,
        uri VARCHAR NOT NULL,
        record_no BIGINT NOT NULL,
        error_kind VARCHAR NOT NULL,
        error VARCHAR NOT NULL,
        raw VARCHAR,                     -- the record, truncated
        run_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id BIGINT PRIMARY KEY,
        command VARCHAR NOT NULL,
        args JSON,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        status VARCHAR NOT NULL,         -- running | ok | failed | nothing_to_do
        exit_code INTEGER,
        records_read BIGINT DEFAULT 0,
        documents_ingested BIGINT DEFAULT 0,
        quarantined BIGINT DEFAULT 0,
        files_failed BIGINT DEFAULT 0,
        counts JSON,
        message VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS minhash (
        doc_id VARCHAR NOT NULL,
        has_sig BOOLEAN NOT NULL,
        signature BLOB,                  -- num_perm little-endian uint32, spec in meta
        run_id BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS lsh_bands (
        setting VARCHAR NOT NULL,        -- e.g. 'b20r6'
        band INTEGER NOT NULL,
        bucket UBIGINT NOT NULL,
        doc_id VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS dup_pairs (
        a VARCHAR NOT NULL,              -- a < b
        b VARCHAR NOT NULL,
        est_jaccard DOUBLE NOT NULL,     -- share of equal MinHash values
        jaccard DOUBLE                   -- exact shingle Jaccard, when verified exactly
    )""",
    """CREATE TABLE IF NOT EXISTS dup_clusters (
        threshold DOUBLE NOT NULL,
        doc_id VARCHAR NOT NULL,
        cluster_id VARCHAR NOT NULL,     -- doc_id of the representative
        is_representative BOOLEAN NOT NULL,
        cluster_size INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS recipes (
        recipe_id VARCHAR PRIMARY KEY,   -- content hash of the normalized recipe
        name VARCHAR NOT NULL,
        yaml VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS slices (
        slice_id VARCHAR PRIMARY KEY,
        recipe_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        built_at TIMESTAMP NOT NULL,
        n_documents BIGINT NOT NULL,
        n_kept BIGINT NOT NULL,
        n_dropped BIGINT NOT NULL,
        kept_bytes BIGINT NOT NULL,
        signals_version VARCHAR,
        run_id BIGINT,
        config JSON
    )""",
    """CREATE TABLE IF NOT EXISTS decisions (
        slice_id VARCHAR NOT NULL,
        doc_id VARCHAR NOT NULL,
        kept BOOLEAN NOT NULL,
        reason VARCHAR                   -- first failing rule; NULL when kept
    )""",
    """CREATE TABLE IF NOT EXISTS validations (
        slice_id VARCHAR NOT NULL,
        suite VARCHAR NOT NULL,
        success BOOLEAN NOT NULL,
        statistics JSON,
        result_json JSON,
        docs_path VARCHAR,
        validated_at TIMESTAMP NOT NULL,
        run_id BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS train_runs (
        train_run_id VARCHAR PRIMARY KEY,
        slice_id VARCHAR NOT NULL,
        slice_name VARCHAR NOT NULL,
        seed INTEGER NOT NULL,
        config JSON NOT NULL,
        tokens BIGINT NOT NULL,
        epochs DOUBLE,
        bpb DOUBLE,
        val_text VARCHAR,
        loss_curve JSON,
        tokens_per_s DOUBLE,
        device VARCHAR,
        wall_s DOUBLE,
        n_params BIGINT,
        mfu DOUBLE,
        metrics JSON,
        checkpoint VARCHAR,
        created_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS generations (
        train_run_id VARCHAR NOT NULL,
        prompt_no INTEGER NOT NULL,
        kind VARCHAR,
        prompt VARCHAR NOT NULL,
        sample VARCHAR NOT NULL,
        quality DOUBLE,
        junk BOOLEAN
    )""",
    """CREATE TABLE IF NOT EXISTS sweeps (
        sweep_id VARCHAR PRIMARY KEY,    -- content hash of the base recipe, signal, bound and training setup
        recipe_name VARCHAR NOT NULL,
        recipe_id VARCHAR NOT NULL,      -- the base recipe's
        signal VARCHAR NOT NULL,
        bound VARCHAR NOT NULL,          -- min | max: the side of the rule the values set
        token_budget BIGINT NOT NULL,
        preset VARCHAR NOT NULL,
        config JSON NOT NULL,            -- the whole spec, the last values and seeds asked for included
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sweep_runs (
        sweep_id VARCHAR NOT NULL,
        value DOUBLE NOT NULL,           -- the bound the slice was built with
        slice_id VARCHAR NOT NULL,
        seed INTEGER NOT NULL,
        train_run_id VARCHAR NOT NULL,   -- the model, a row of train_runs like any other
        recorded_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS decontam_benchmarks (
        benchmark VARCHAR PRIMARY KEY,   -- the NAME of `curate decontaminate --benchmark NAME=FILE`
        uri VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,         -- of the file's bytes
        ngram INTEGER NOT NULL,
        min_words INTEGER NOT NULL,
        text_field VARCHAR NOT NULL,     -- of a JSONL file: where the items' text and ids are
        id_field VARCHAR NOT NULL,
        index_key VARCHAR NOT NULL,      -- sha256, ngram, min_words, normalisation: a change re-marks all
        n_items BIGINT NOT NULL,
        n_short BIGINT NOT NULL,         -- items of min_words..ngram-1 words, matched whole
        n_unchecked BIGINT NOT NULL,     -- items under min_words: too common to mean a leak
        updated_at TIMESTAMP NOT NULL,
        run_id BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS decontam_items (
        benchmark VARCHAR NOT NULL,
        item_no BIGINT NOT NULL,         -- the item's line in the benchmark file
        item_id VARCHAR,                 -- its `id` field, when the file has one
        n_words INTEGER NOT NULL,        -- normalised words
        preview VARCHAR NOT NULL         -- the item's text, truncated
    )""",
    """CREATE TABLE IF NOT EXISTS decontam_scanned (
        benchmark VARCHAR NOT NULL,
        doc_id VARCHAR NOT NULL          -- checked against the benchmark's index of index_key
    )""",
    """CREATE TABLE IF NOT EXISTS decontam_hits (
        benchmark VARCHAR NOT NULL,
        doc_id VARCHAR NOT NULL,
        item_no BIGINT NOT NULL,
        n_ngrams INTEGER NOT NULL,       -- the item's n-grams found in the document
        run_id BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS remote_objects (
        uri VARCHAR NOT NULL,            -- an object's URL; one row per URL, the last read
        listing VARCHAR NOT NULL,        -- what its listing said then: size and ETag, version, modified time
        sha256 VARCHAR NOT NULL,         -- the content it held then (a source in `sources`)
        seen_at TIMESTAMP NOT NULL,
        run_id BIGINT
    )""",
)

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SQL_TYPES = {"DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN", "INTEGER"}


def best_copy_order(quality: str, n_bytes: str, doc_id: str) -> str:
    """SQL ORDER BY terms putting first the copy a dedup keeps among duplicates: the highest
    quality, then the longest, then the smallest doc_id (DESIGN, Dedup). The arguments are
    column expressions ("NULL" where the store has no quality signal)."""
    return f"{quality} DESC NULLS LAST, {n_bytes} DESC, {doc_id}"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ident(name: str) -> str:
    """Quote an identifier that came from an allow-list (the signal registry)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid column name: {name!r}")
    return f'"{name}"'


def is_lock_error(exc: Exception) -> bool:
    """DuckDB's error when another process holds the file read-write."""
    msg = str(exc)
    return "Could not set lock" in msg or "Conflicting lock" in msg


def connect(path: Path | str = DEFAULT_DB, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store. Read-write opens create the schema; both check its version, and that
    the file is a curate store that is whole (nothing is written to one that is not)."""
    path = Path(path)
    if read_only and not path.exists():
        raise SchemaError(f"no store at {path}: run `curate ingest` or `curate demo` first")
    refuse_foreign_file(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only,
                             config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False,
                                     "checkpoint_threshold": CHECKPOINT_THRESHOLD})
    except duckdb.IOException as exc:
        if is_lock_error(exc):
            raise StoreLockedError(_locked_message(path, lock_holder(path))) from exc
        raise SchemaError(f"cannot open the store {path}: {exc}") from exc
    try:
        if read_only:
            verify(con, path)
        else:
            _create_schema(con, path)
    except Exception:
        con.close()
        raise
    return con


@contextlib.contextmanager
def open_store(path: Path | str = DEFAULT_DB, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class ReadView:
    """Which file a read-only command read: the store itself, or, while a job holds the
    store, its published snapshot as of run `snapshot_run` (and who the job is, if known)."""

    store: Path
    path: Path
    snapshot_run: int | None = None
    holder: LockHolder | None = None

    @property
    def is_snapshot(self) -> bool:
        return self.path != self.store

    @property
    def notice(self) -> str | None:
        """What the command says on stderr when it read the snapshot."""
        if not self.is_snapshot:
            return None
        job = "a job is running" + (f" ({self.holder.brief()})" if self.holder else "")
        if self.snapshot_run is None:
            return f"{job}; showing the last published snapshot"
        return f"{job}; showing data as of run {self.snapshot_run} (the last published snapshot)"

    def as_json(self) -> dict | None:
        """null when the store itself was read; else the snapshot's run and the job holding the store."""
        if not self.is_snapshot:
            return None
        return {"as_of_run": self.snapshot_run, "path": str(self.path),
                "job": None if self.holder is None else self.holder.as_json()}


@contextlib.contextmanager
def read_view(path: Path | str = DEFAULT_DB) -> Iterator[tuple[duckdb.DuckDBPyConnection, ReadView]]:
    """A read-only connection for a command that only reads, and which file it reads.

    While another process holds the store read-write (DuckDB then lets nobody else open it),
    this reads the snapshot the last successful `curate run` published, as the dashboard does;
    with no snapshot the lock error stands (StoreLockedError, exit 3).
    """
    path = Path(path)
    try:
        con, view = connect(path, read_only=True), ReadView(path, path)
    except StoreLockedError as exc:
        snap = snapshot_path(path)
        if not snap.is_file():
            raise StoreLockedError(f"{exc}; no snapshot has been published yet to read meanwhile") from exc
        try:
            con = connect(snap, read_only=True)
        except (SchemaError, StoreLockedError) as snap_exc:
            raise StoreLockedError(f"{exc}; and its snapshot cannot be read: {snap_exc}") from snap_exc
        try:
            view = ReadView(path, snap, last_run_id(con), lock_holder(path))
        except BaseException:
            con.close()
            raise
    try:
        yield con, view
    finally:
        con.close()


_SQLITE_MAGIC = b"SQLite format 3\x00"


def refuse_foreign_file(path: Path) -> None:
    """Refuse, before anything is opened or written beside it, a --db that exists and is
    not a DuckDB file (a text file, an empty file, a SQLite database, a folder).

    DuckDB would refuse most of these itself, but it formats an empty file as a new
    database, and it opens a SQLite file by loading an extension (from the network)."""
    if not path.exists():
        return
    if path.is_dir():
        raise SchemaError(f"the store {path} is a folder, not a DuckDB file; give --db a file name")
    try:
        what = _not_duckdb(path)
    except OSError as exc:
        raise SchemaError(f"cannot read the store {path}: {exc.strerror or exc}") from exc
    if what is None:
        return
    raise SchemaError(f"the store {path} is {what}, not a curate store; it was left as it is: "
                      "give --db a new file name or a store curate made")


def _not_duckdb(path: Path) -> str | None:
    """What the file is when it is not a DuckDB database (None when it is one)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return "an empty file"
    if head == _SQLITE_MAGIC:
        return "a SQLite database"
    if head[8:12] != b"DUCK":  # DuckDB's magic bytes, after the checksum
        return "not a DuckDB file"
    return None


def _expected_columns() -> dict[str, set[str]]:
    """The columns of every table the DDL makes, read back from DuckDB itself."""
    global _EXPECTED
    if _EXPECTED is None:
        con = duckdb.connect(":memory:")
        try:
            for stmt in _DDL:
                con.execute(stmt)
            _EXPECTED = _columns(con)
        finally:
            con.close()
    return _EXPECTED


_EXPECTED: dict[str, set[str]] | None = None


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    cols: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall():
        cols.setdefault(table, set()).add(column)
    return cols


def _check_ours(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A DuckDB file with tables but no curate schema version is someone else's database;
    one of ours at this version must have every table and column the DDL makes. Either way
    it is refused unchanged (the schema is made only in an empty database)."""
    have = _columns(con)
    if "meta" not in have:
        if have:
            names = ", ".join(sorted(have)[:5]) + (", ..." if len(have) > 5 else "")
            raise SchemaError(f"the store {path} is a DuckDB database that curate did not make "
                              f"(tables: {names}); it was left as it is: give --db a new file name")
        return
    version = _stored_version(con, path)
    if version != SCHEMA_VERSION:
        return  # no version: an interrupted creation, finished by _create_schema; newer: refused there
    missing: list[str] = []
    for table, cols in _expected_columns().items():
        if table not in have:
            missing.append(table)
        else:
            missing += [f"{table}.{c}" for c in sorted(cols - have[table])]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SchemaError(f"the store {path} is damaged: {shown} missing from its schema; it was "
                          "left as it is: restore it from a backup or build a new store")


def _stored_version(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> int | None:
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()[0]
    if not has_meta:
        return None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None
    except (duckdb.Error, TypeError, ValueError) as exc:
        raise SchemaError(f"the store {path} is damaged: its schema version cannot be read ({exc}); "
                          "it was left as it is") from exc


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    version = _stored_version(con, path)
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaError(
            f"the store {path} has schema version {version}, newer than this curate "
            f"understands ({SCHEMA_VERSION}); upgrade curate or use another --db"
        )
    return version


def verify(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """Refuse (SchemaError) a database that is not a whole curate store this version can read;
    its schema version otherwise (None in an empty database). Changes nothing."""
    _check_ours(con, path)
    return _check_version(con, path)


def _create_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    version = verify(con, path)
    if version == SCHEMA_VERSION:
        return
    with transaction(con):
        for stmt in _DDL:
            con.execute(stmt)
        set_meta(con, "schema_version", str(SCHEMA_VERSION))


def insert(con: duckdb.DuckDBPyConnection, table: str, row: dict, *, replace: bool = False) -> None:
    """INSERT one row by column name (never by position, so a column added to the schema
    cannot shift the values); every name must be a column the schema gives the table."""
    known = _expected_columns().get(table)
    if known is None or not set(row) <= known:
        raise ValueError(f"not columns of the store's table {table!r}: {sorted(set(row) - (known or set()))}")
    cols = ", ".join(ident(c) for c in row)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    con.execute(f"{verb} INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    insert(con, "meta", {"key": key, "value": value}, replace=True)


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


# --- questions the other modules ask about the store -----------------------------------------


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows of one of the store's tables; 0 when the stage that makes it has not run yet."""
    if table not in TABLES:
        raise ValueError(f"not a table of the store: {table!r}")
    if not table_exists(con, table):
        return 0
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def signal_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The signal columns the store holds (the registry's, as of the last score run)."""
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'signals'").fetchall()}


def document_url_sql(alias: str = "d") -> str:
    """The SQL expression of a document's URL (metadata field `url`, as the readers store it;
    NULL without one, or when it is not a string), over `documents` under `alias`."""
    if not _IDENT.match(alias):
        raise ValueError(f"not an alias: {alias!r}")
    return (f"CASE WHEN json_type({alias}.metadata, '$.url') = 'VARCHAR' "
            f"THEN json_extract_string({alias}.metadata, '$.url') END")


def unscored_count(con: duckdb.DuckDBPyConnection) -> int:
    """Documents with no signals row (new since the last score run)."""
    return con.execute("SELECT count(*) FROM documents ANTI JOIN signals USING (doc_id)").fetchone()[0]


def stale_signal_count(con: duckdb.DuckDBPyConnection, version: str) -> int:
    """Signals rows computed by another signal version than `version` (to be scored again)."""
    return con.execute("SELECT count(*) FROM signals WHERE signals_version <> ?", [version]).fetchone()[0]


def drop_stale_signals(con: duckdb.DuckDBPyConnection, version: str) -> None:
    con.execute("DELETE FROM signals WHERE signals_version <> ?", [version])


def unsigned_count(con: duckdb.DuckDBPyConnection) -> int:
    """Documents with no MinHash row yet."""
    return con.execute("SELECT count(*) FROM documents ANTI JOIN minhash USING (doc_id)").fetchone()[0]


def last_run_id(con: duckdb.DuckDBPyConnection) -> int | None:
    if not table_exists(con, "runs"):
        return None
    value = con.execute("SELECT max(run_id) FROM runs").fetchone()[0]
    return None if value is None else int(value)


def _dicts(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def run_history(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict]:
    """The latest `limit` runs, newest first, with their counts (`curate runs`)."""
    return _dicts(con.execute(
        """SELECT run_id, command, status, exit_code, started_at, finished_at, records_read,
                  documents_ingested, quarantined, files_failed, message
           FROM runs ORDER BY run_id DESC LIMIT ?""", [limit]))


def quarantined_records(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict]:
    """The first `limit` quarantined records by file and record number (`curate quarantine`)."""
    return _dicts(con.execute(
        "SELECT uri, record_no, error_kind, error FROM quarantine ORDER BY uri, record_no LIMIT ?", [limit]))


def trained_runs(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every trained model, newest first (`curate runs --trained`). Here and not in train/,
    so that listing them imports no torch."""
    return _dicts(con.execute(
        """SELECT train_run_id, slice_name, slice_id, seed, tokens, bpb, device, created_at
           FROM train_runs ORDER BY created_at DESC, train_run_id"""))


def slice_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the built slices, sorted."""
    return [r[0] for r in con.execute("SELECT DISTINCT name FROM slices ORDER BY 1").fetchall()]


def signal_values(con: duckdb.DuckDBPyConnection, doc_id: str, names: Sequence[str]) -> dict | None:
    """The document's stored values of the signals `names` that the store has; None when unscored."""
    if not table_exists(con, "signals"):
        return None
    present = signal_columns(con)
    cols = [n for n in names if n in present]
    if not cols:
        return None
    row = con.execute(f"SELECT {', '.join(ident(c) for c in cols)} FROM signals WHERE doc_id = ?",
                      [doc_id]).fetchone()
    return None if row is None else dict(zip(cols, row))


def decision(con: duckdb.DuckDBPyConnection, slice_id: str, doc_id: str) -> tuple[bool, str | None] | None:
    """(kept, reason) the slice recorded for the document; None when it has no decision for it."""
    row = con.execute("SELECT kept, reason FROM decisions WHERE slice_id = ? AND doc_id = ?",
                      [slice_id, doc_id]).fetchone()
    return None if row is None else (bool(row[0]), row[1])


def slice_recipe_yaml(con: duckdb.DuckDBPyConnection, slice_id: str) -> str:
    """The resolved recipe a slice was built from, as stored."""
    return con.execute("SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?",
                       [slice_id]).fetchone()[0]


def ensure_signals_table(con: duckdb.DuckDBPyConnection, columns: Sequence[tuple[str, str]]) -> None:
    """Create `signals` or add the registry's new columns; names come from the registry."""
    if not table_exists(con, "signals"):
        cols = ", ".join(f"{ident(n)} {_sql_type(t)}" for n, t in columns)
        con.execute(
            f"CREATE TABLE signals (doc_id VARCHAR NOT NULL, signals_version VARCHAR NOT NULL, {cols})"
        )
        return
    existing = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'signals'"
        ).fetchall()
    }
    for name, sql_type in columns:
        if name not in existing:
            con.execute(f"ALTER TABLE signals ADD COLUMN {ident(name)} {_sql_type(sql_type)}")


def _sql_type(t: str) -> str:
    if t not in _SQL_TYPES:
        raise ValueError(f"unsupported column type {t!r}")
    return t


# --- runs ------------------------------------------------------------------------


def start_run(con: duckdb.DuckDBPyConnection, command: str, args_json: str) -> int:
    run_id = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchone()[0]
    con.execute(
        "INSERT INTO runs (run_id, command, args, started_at, status) VALUES (?, ?, ?, ?, 'running')",
        [run_id, command, args_json, now()],
    )
    return int(run_id)


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    status: str,
    exit_code: int,
    records_read: int = 0,
    documents_ingested: int = 0,
    quarantined: int = 0,
    files_failed: int = 0,
    counts_json: str | None = None,
    message: str | None = None,
) -> None:
    con.execute(
        """UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, records_read = ?,
               documents_ingested = ?, quarantined = ?, files_failed = ?, counts = ?, message = ?
           WHERE run_id = ?""",
        [
            now(),
            status,
            exit_code,
            records_read,
            documents_ingested,
            quarantined,
            files_failed,
            counts_json,
            message,
            run_id,
        ],
    )


# --- the writer lock and published snapshots ----------------------------------------------


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolled back on any error (after a failed statement DuckDB refuses
    every later one until the transaction ends, so a handler could not even record it)."""
    con.execute("BEGIN")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def artifacts_path(db: Path | str) -> Path:
    """Where the store's models, Data Docs, suites, checkpoints and snapshot live, without
    creating or moving anything: '<store file name>.artifacts/' beside it (curate.duckdb ->
    curate.duckdb.artifacts/), so 'c.duckdb' and 'c.db' in one folder never share one.

    A store made before this rule kept them in '<stem>.artifacts/'; while that folder is still
    the store's own (see _legacy_artifacts) and the new one does not exist, it is that one.
    """
    p = Path(db)
    new = p.parent / f"{p.name}.artifacts"
    if not new.exists():
        legacy = _legacy_artifacts(p)
        if legacy is not None:
            return legacy
    return new


def artifacts_dir(db: Path | str) -> Path:
    """artifacts_path(db), created; a legacy '<stem>.artifacts/' of this store is renamed to
    the new name once, here (the store's writers come through this function)."""
    p = Path(db)
    d = p.parent / f"{p.name}.artifacts"
    if not d.exists():
        legacy = _legacy_artifacts(p)
        if legacy is not None:
            try:
                os.rename(legacy, d)
            except OSError:  # another process moved it first, or the folder is read-only
                if not d.exists():
                    return legacy
        elif p.suffix and (p.parent / f"{p.stem}.artifacts").is_dir():
            import sys

            print(f"curate: {p.stem}.artifacts/ may belong to another store named {p.stem}.* in "
                  f"{p.parent}, so it is left as it is; {p.name} now keeps its artifacts in {d.name}/ "
                  "(move what is this store's there)", file=sys.stderr)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _is_duckdb_file(path: Path) -> bool:
    try:
        return _not_duckdb(path) is None
    except OSError:
        return False


def _legacy_artifacts(p: Path) -> Path | None:
    """'<stem>.artifacts/' when it can only belong to the store `p`: it is a folder, and no
    other DuckDB file with the same stem ('c.db' beside 'c.duckdb') is in the folder. When
    another one is, the old folder is left alone (it cannot be told whose it is) and each
    store uses its own new folder."""
    old = p.parent / f"{p.stem}.artifacts"
    if p.suffix == "" or not old.is_dir() or old.is_symlink():
        return None
    try:
        siblings = list(p.parent.iterdir())
    except OSError:
        return None
    for q in siblings:
        if q.name != p.name and q.stem == p.stem and q.suffix and q.is_file() and _is_duckdb_file(q):
            return None
    return old


def lock_path(path: Path | str) -> Path:
    """'<store>.lock', the writer lock's file beside the store."""
    return Path(str(path) + ".lock")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a store's writer lock, as the holder wrote it into the lock file."""

    pid: int
    command: str
    since: datetime  # UTC, naive like every timestamp of the store

    def describe(self) -> str:
        """'pid 1234 (`curate run strict`) since 2026-12-01 11:02:03 UTC'"""
        return f"pid {self.pid} (`{self.command}`) since {self.since:%Y-%m-%d %H:%M:%S} UTC"

    def brief(self) -> str:
        """'pid 1234, `curate run strict`, since 11:02:03 UTC' (the date when it is not today's)."""
        when = f"{self.since:%H:%M:%S}" if self.since.date() == now().date() else f"{self.since:%Y-%m-%d %H:%M:%S}"
        return f"pid {self.pid}, `{self.command}`, since {when} UTC"

    def as_json(self) -> dict:
        return {"pid": self.pid, "command": self.command, "since": f"{self.since:%Y-%m-%dT%H:%M:%S}Z"}


_MAX_COMMAND_CHARS = 200


def _this_command() -> str:
    """This process's command line as a person typed it: `curate run strict -i 'a b/*.jsonl'`."""
    import shlex
    import sys

    argv = list(sys.argv) or [""]
    argv[0] = Path(argv[0]).name if argv[0] not in ("", "-c") else "python"
    line = shlex.join(argv)
    return line if len(line) <= _MAX_COMMAND_CHARS else line[:_MAX_COMMAND_CHARS - 1] + "…"


def lock_holder(path: Path | str) -> LockHolder | None:
    """The holder named in '<store>.lock', when that process is alive; else None.

    The file only names the holder: the flock on it is the lock. A holder killed before it
    could empty the file leaves its line behind; a dead pid is such a stale line and names
    nobody (nothing here ever takes or tests the flock, so reading it can block no writer).
    """
    import json

    try:
        with open(lock_path(path), encoding="utf-8", errors="replace") as fh:
            text = fh.read(4096)
        data = json.loads(text)
        holder = LockHolder(int(data["pid"]), str(data["command"])[:_MAX_COMMAND_CHARS],
                            datetime.strptime(str(data["since"]), "%Y-%m-%dT%H:%M:%SZ"))
    except (OSError, ValueError, KeyError, TypeError):  # no file, empty (released, or being written), not ours
        return None
    if holder.pid <= 0 or not _alive(holder.pid):
        return None
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def _locked_message(path: Path, holder: LockHolder | None) -> str:
    if holder is not None and holder.pid == os.getpid():
        # this process holds the writer lock and still cannot open the file: a reader has it open
        return (f"the store {path} is open in another process (a reader such as `curate app` holds it "
                "for a query at a time); try again in a moment")
    who = holder.describe() if holder is not None else "another curate process"
    return f"the store {path} is locked by {who} (one writer at a time); try again when it has finished"


@contextlib.contextmanager
def writer_lock(path: Path | str) -> Iterator[None]:
    """One curate writer per store, for a whole command (not only while DuckDB holds the file).

    An advisory flock on '<store>.lock': a second writer fails at once instead of waiting,
    and the lock vanishes with the process, so a killed run never leaves it stale. Once it
    holds the flock, the holder writes its pid, command line and start time into the file
    (emptied again on release) so that the others' lock messages can name it.
    """
    import fcntl
    import json

    refuse_foreign_file(Path(path))  # before the lock file is made beside it
    lock_file = lock_path(path)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)  # as connect() does for the store
        fh = open(lock_file, "a+", encoding="utf-8")  # "a+": opening never empties another holder's line
    except OSError as exc:
        raise UsageError(f"cannot use the store {path}: {exc.strerror or exc} ({lock_file.parent})") from exc
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreLockedError(_locked_message(Path(path), lock_holder(path))) from exc
        line = json.dumps({"pid": os.getpid(), "command": _this_command(), "since": f"{now():%Y-%m-%dT%H:%M:%S}Z"})
        with contextlib.suppress(OSError):  # the name is a courtesy: the flock is the lock
            fh.seek(0)
            fh.truncate()
            fh.write(line + "\n")
            fh.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()
    finally:
        fh.close()


# --- files beside the store: every path the store's jobs write is made here ----------------


def quality_model_path(db: Path | str) -> Path:
    """The quality classifier trained on this store's corpus (its calibration beside it, .json)."""
    return artifacts_dir(db) / "quality.bin"


def data_docs_dir(db: Path | str) -> Path:
    return artifacts_dir(db) / "data_docs"


def checkpoints_dir(db: Path | str) -> Path:
    return artifacts_dir(db) / "checkpoints"


def ray_work_dir(db: Path | str) -> Path:
    """The Ray engine's Parquet shards when no --work-dir is given (a local Ray)."""
    return artifacts_dir(db) / "ray-work"


def path_inside(folder: Path, file_name: str) -> Path:
    """`folder / file_name`, refused unless it resolves to a file directly in `folder`.

    File names here come from recipe names and slice ids; a name such as '../../x' or
    '/abs/x' (or a symlink pointing out) must not write outside the folder.
    """
    root = Path(folder).resolve()
    target = (root / file_name).resolve()
    if Path(file_name).name != file_name or target.parent != root:
        raise UsageError(f"refusing a path outside {root}: {file_name!r} is not a plain file name")
    return target


# A recipe's name becomes its slice id, its suite's file name and its export's file name.
RECIPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RECIPE_NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def suite_path(db: Path, recipe_name: str) -> Path:
    """The recipe's suite (generated once, then editable), refused for a name that is not one."""
    if not RECIPE_NAME.fullmatch(recipe_name):
        raise UsageError(f"a recipe name is {RECIPE_NAME_RULE}, got {recipe_name[:80]!r}")
    d = artifacts_dir(db) / "suites"
    d.mkdir(exist_ok=True)
    return path_inside(d, f"{recipe_name}.json")


def snapshot_path(path: Path | str) -> Path:
    """The published snapshot, in the store's artifacts folder (found, never created: the
    dashboard reads it)."""
    return artifacts_path(path) / "snapshot.duckdb"


def publish_snapshot(path: Path | str) -> Path:
    """Copy the closed store to a read-only snapshot, replaced atomically by rename.

    The dashboard reads it while a job holds the store (DuckDB lets nobody else open a
    file that one process has open read-write).
    """
    import shutil

    src = Path(path)
    dst = artifacts_dir(src) / "snapshot.duckdb"
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def register(con: duckdb.DuckDBPyConnection, name: str, table) -> None:
    """con.register, after closing any half-fetched result.

    DuckDB 2.x refuses register() while a result is still open (a fetchone() that did not
    read to the end), although execute() closes such results by itself.
    """
    con.execute("SELECT 1").fetchall()
    con.register(name, table)


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    """A query's result as an Arrow table (the relation API: no extra copy of the rows)."""
    con.execute("SELECT 1").fetchall()  # see register(): close a half-fetched result first
    return con.sql(sql, params=params).to_arrow_table()
