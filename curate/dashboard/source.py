"""Read-only access to the store, falling back to the published snapshot while a job runs.

DuckDB lets nobody open a file that another process holds read-write ("Could not set
lock on file"), so the dashboard never keeps a connection: it opens read-only per query,
and while a writer holds the store it reads the snapshot each successful run publishes.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate.errors import SchemaError
from curate.store import ReadView, is_lock_error, last_run_id, refuse_foreign_file, snapshot_path, verify

# External access off: no query the dashboard runs may read or write files or URLs
# (read_csv('/etc/passwd'), COPY ... TO, ATTACH), whatever reaches the SQL.
READ_CONFIG = {
    "enable_external_access": False,
    "memory_limit": os.environ.get("CURATE_MEMORY_LIMIT", "1GB"),
}


class StoreUnavailable(Exception):
    """The store cannot be read now; the message is meant for the person at the dashboard."""


class ViewChanged(Exception):
    """A read found the store in another state than the probe it was keyed on (a job took or freed it)."""


@dataclass(frozen=True)
class StoreView(ReadView):
    """Which file a query read: the store itself, or its snapshot as of run `snapshot_run`."""

    @property
    def notice(self) -> str | None:
        """The page's notice. It names no holder: a command line is not Markdown-safe text."""
        if not self.is_snapshot:
            return None
        run = "no run yet" if self.snapshot_run is None else f"run {self.snapshot_run}"
        return f"a job is running; showing data as of {run}"

    @property
    def fingerprint(self) -> tuple:
        """Changes whenever the file read changes: the cache key of every query result."""
        return (str(self.path), _stat(self.path), _stat(Path(str(self.path) + ".wal")))


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def file_stats(store: Path | str) -> tuple:
    """(mtime, size) of the store, its WAL and its snapshot: what every write and publish changes.

    Cheap enough to read on every rerun, unlike `probe`. Taking DuckDB's lock changes none of
    them, so a probe keyed on these alone could miss a job that has not written yet.
    """
    store = Path(store)
    return _stat(store), _stat(Path(str(store) + ".wal")), _stat(snapshot_path(store))


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        refuse_foreign_file(path)
        con = duckdb.connect(str(path), read_only=True, config=READ_CONFIG)
    except SchemaError as exc:
        raise StoreUnavailable(str(exc)) from exc
    try:
        verify(con, path)
    except SchemaError as exc:
        con.close()
        raise StoreUnavailable(str(exc)) from exc
    except Exception:
        con.close()
        raise
    return con


def _open(store: Path) -> tuple[duckdb.DuckDBPyConnection, StoreView]:
    store = Path(store)
    if not store.exists():
        raise StoreUnavailable(
            f"no store at {store}: run `curate demo` (or `curate ingest`) first, "
            "or start the dashboard with `curate app --db PATH`"
        )
    try:
        return _connect(store), StoreView(store, store)
    except duckdb.IOException as exc:
        if not is_lock_error(exc):
            raise StoreUnavailable(f"cannot open the store {store}: {exc}") from exc
    snap = snapshot_path(store)
    if not snap.exists():
        raise StoreUnavailable(
            "a job is running and holds the store, and no snapshot has been published yet; "
            "reload when it has finished"
        )
    try:
        con = _connect(snap)
    except duckdb.Error as exc:
        raise StoreUnavailable(f"a job is running and its snapshot {snap} cannot be read: {exc}") from exc
    return con, StoreView(store, snap, last_run_id(con))


@contextlib.contextmanager
def read_store(store: Path | str, expect: Path | str | None = None
               ) -> Iterator[tuple[duckdb.DuckDBPyConnection, StoreView]]:
    """A read-only connection for one query (or one page's queries); closed on exit.

    `expect` is the file an earlier probe chose; ViewChanged if this open reads another one,
    so that a result is never cached under the key of a file it did not come from.
    """
    con, view = _open(Path(store))
    if expect is not None and view.path != Path(expect):
        con.close()
        raise ViewChanged(f"expected to read {expect}, the store now reads {view.path}")
    try:
        yield con, view
    finally:
        con.close()


def probe(store: Path | str) -> StoreView:
    """Which file the next queries will read (opens and closes at once)."""
    with read_store(store) as (_, view):
        return view
