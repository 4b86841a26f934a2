"""The store as one dashboard rerun sees it: which file to read, and every read cached on it.

The store is opened read-only per query and never held; while a job holds it, the pages read
the snapshot the last successful run published. Which of the two to read is decided again
when a file changes, and by a full rerun at least every PROBE_TTL_S. A page reads by passing
a read function of an open connection (from `queries` or `explorer`) to `Store.read`: the
result is cached on the fingerprint of the file it came from.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from curate.dashboard.explorer import ExplorerFrame
from curate.dashboard.source import StoreUnavailable, StoreView, ViewChanged, file_stats, probe, read_store

# A job's DuckDB lock shows in no file stat until the job writes, so a probe is trusted this long
# at most; a read that finds the store taken in between reruns the page at once (Store._read).
PROBE_TTL_S = 5.0


def store_path() -> Path:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--db", default=None)
    args, _ = ap.parse_known_args(sys.argv[1:])
    return Path(args.db or os.environ.get("CURATE_DB") or "curate.duckdb")


@st.cache_data(ttl=PROBE_TTL_S, show_spinner=False, max_entries=16)
def _probe(db: str, stats: tuple) -> StoreView:
    """`probe` again only when a file changed or PROBE_TTL_S passed: it opens the store, the
    costliest step of a rerun that hits every other cache (40-90 ms at 100k documents)."""
    return probe(db)


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(db: str, path: str, fingerprint: tuple, read: str, _fn: Callable, *args):
    """`_fn(con, *args)`, cached under `read`, its dotted name (`_fn` itself is not hashed)."""
    with read_store(db, expect=path) as (con, _):
        return _fn(con, *args)


@st.cache_resource(show_spinner="loading the signals for the explorer…", max_entries=2)
def _frame(db: str, path: str, fingerprint: tuple) -> ExplorerFrame:
    with read_store(db, expect=path) as (con, _):
        return ExplorerFrame(con)


def read_name(fn: Callable) -> str:
    """The cache key of a read: its module and name, so two reads never share a key."""
    name = getattr(fn, "__qualname__", "")
    if not name or "<" in name:  # a lambda or a nested function: no name that tells reads apart
        raise TypeError(f"a cached read must be a module-level function, not {fn!r}")
    return f"{fn.__module__}.{name}"


class Store:
    """The store as this rerun sees it: every read cached until a file changes."""

    def __init__(self, db: Path):
        self.db = db
        self.stats = file_stats(db)
        self.view = _probe(str(db), self.stats)

    def read(self, fn: Callable, *args):
        """`fn(con, *args)` on a read-only connection to the file this rerun reads, cached."""
        return self._read(_cached, read_name(fn), fn, *args)

    def frame(self) -> ExplorerFrame:
        return self._read(_frame)

    def _read(self, fn, *args):
        try:
            return fn(str(self.db), str(self.view.path), self.view.fingerprint, *args)
        except ViewChanged:
            _probe.clear()
            st.rerun()  # a job took or freed the store since the probe: the whole page again, with its notice

    def current(self) -> Store:
        """This store if no file changed since its probe, else a fresh probe of it.

        A fragment rerun gets the Store of the page's last full run; when the fresh probe reads
        another file (a job began, or ended), the whole page runs again, so that its notice is right.
        """
        if file_stats(self.db) == self.stats:
            return self
        try:
            fresh = Store(self.db)
        except StoreUnavailable:
            st.rerun()  # the full page says why
        if fresh.view.path != self.view.path:
            st.rerun()
        return fresh
