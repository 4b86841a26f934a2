"""`curate demo`: the pipeline on the bundled sample data, into a fresh store."""
from __future__ import annotations

from pathlib import Path

from curate import jobs, store
from curate.console import format_table, log
from curate.errors import ExitCode, UsageError
from curate.ingest import IngestOptions

DEMO_MARK = "created_by"


def _fresh_store(db: Path) -> None:
    """Start from an empty store, but never delete a store the demo did not make."""
    if not db.exists():
        return
    with store.open_store(db) as con:
        is_demo = store.get_meta(con, DEMO_MARK) == "demo"
    if not is_demo:
        raise UsageError(f"{db} exists and was not made by `curate demo`; pass another --db")
    db.unlink()
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        wal.unlink()


def run_demo(db: Path, data: Path, *, quiet: bool = False) -> int:
    corpus = data / "corpus"
    if not corpus.is_dir():
        raise UsageError(f"no sample corpus at {corpus}")
    _fresh_store(db)
    with store.open_store(db) as con:
        store.set_meta(con, DEMO_MARK, "demo")
    log(f"ingesting {corpus} into {db}", quiet=quiet)
    run_id, report = jobs.ingest(db, [str(corpus)], IngestOptions(id_field="id"), command="demo")
    print(f"== ingest (run {run_id}) ==")
    print(format_table(
        ["file", "status", "records", "ingested", "quarantined"],
        [[Path(f.path).name, f.status, f.records, f.documents, f.quarantined] for f in report.files],
    ))
    with store.open_store(db, read_only=True) as con:
        kinds = con.execute(
            "SELECT error_kind, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        n_docs, n_bytes = con.execute("SELECT count(*), coalesce(sum(n_bytes), 0) FROM documents").fetchone()
    if kinds:
        print("\n== quarantine ==")
        print(format_table(["error", "records"], kinds))
    print(
        f"\nrecords read {report.records:,} = ingested {report.documents:,} + quarantined "
        f"{report.quarantined:,}; store holds {n_docs:,} documents ({n_bytes / 1e6:.1f} MB of text)"
    )
    if report.failed:
        for f in report.failed:
            print(f"curate: {f.error}")
        return int(ExitCode.FAILED)
    return int(ExitCode.OK)
