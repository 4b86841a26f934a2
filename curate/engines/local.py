"""The local engine: scoring in a process pool on this machine, dedup in DuckDB and numpy.

Every batch of signals commits on its own, so a killed run keeps the finished batches and
the next run goes on from there; a document's signals are written whole or not at all.
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from curate.engines.base import Engine, ScoreReport, finish_scoring, plan_scoring

if TYPE_CHECKING:  # imported when a stage runs (the CLI imports this module for --help)
    import duckdb
    import pyarrow as pa

SCORE_BATCH = 2000

_worker_quality = None


def _init_worker(quality_path: str | None) -> None:
    global _worker_quality
    from curate.signals.quality import load_quality_model

    _worker_quality = load_quality_model(Path(quality_path)) if quality_path else None


def _score_batch(texts: list[str], urls: list[str | None] | None = None) -> pa.Table:
    from curate.signals import score_texts

    return score_texts(texts, quality_model=_worker_quality, urls=urls).to_arrow()


class LocalEngine(Engine):
    name = "local"
    help = "local (default): a process pool on this machine"

    def __init__(self, workers: int | None = None):
        self.workers = workers

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LocalEngine:
        return cls(workers=getattr(args, "workers", None))

    def score(self, con: duckdb.DuckDBPyConnection, db: Path, *, batch_size: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> ScoreReport:
        import pyarrow as pa

        from curate import store
        from curate.pool import ordered_map

        t0 = time.perf_counter()
        batch_size = batch_size or SCORE_BATCH
        plan = plan_scoring(con, db)
        if plan.stale:
            store.drop_stale_signals(con, plan.signals_version)
        total = store.unscored_count(con)
        workers = max(1, min(self.workers or os.cpu_count() or 1, (total + batch_size - 1) // batch_size))
        reader = con.cursor()
        # No ORDER BY: a document's signals do not depend on its batch, and a sort would make
        # DuckDB hold every unscored text before the first batch (as the Ray engine's shards,
        # which are unsorted too, and give the same signals).
        reader.execute(f"SELECT d.doc_id, d.text, {store.document_url_sql('d')} FROM documents d "
                       "ANTI JOIN signals s USING (doc_id)")

        def batches():  # (ids, the arguments of _score_batch)
            while rows := reader.fetchmany(batch_size):
                yield [r[0] for r in rows], ([r[1] for r in rows], [r[2] for r in rows])

        def write(ids: list[str], tbl: pa.Table) -> int:
            tbl = tbl.append_column("doc_id", pa.array(ids)).append_column(
                "signals_version", pa.array([plan.signals_version] * len(ids)))
            with store.transaction(con):
                store.register(con, "_signal_batch", tbl)
                con.execute("INSERT INTO signals BY NAME SELECT * FROM _signal_batch")
                con.unregister("_signal_batch")
            if on_batch:
                on_batch(len(ids))
            return len(ids)

        scored = 0
        for ids, tbl in ordered_map(_score_batch, batches(), workers=workers, initializer=_init_worker,
                                    initargs=(plan.quality_model,)):
            scored += write(ids, tbl)
        reader.close()
        finish_scoring(con)
        return ScoreReport(scored, plan.stale, plan.signals_version, plan.quality_model, time.perf_counter() - t0)

    def dedup(self, con, db, threshold, spec, run_id, *, device="cpu", on_batch=None):
        from curate.dedup import lsh

        return lsh.dedup(con, threshold, spec, run_id, device=device, on_batch=on_batch)
