"""Orchestration of the stages: each command is a recorded run, each stage a transaction."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate import store
from curate.errors import ExitCode
from curate.ingest import FileResult, IngestOptions, IngestReport, expand_inputs, ingest_paths


@dataclass
class RunContext:
    con: duckdb.DuckDBPyConnection
    run_id: int


@contextlib.contextmanager
def recorded_run(db: Path, command: str, args: dict) -> Iterator[RunContext]:
    """Open the store read-write and record the command in `runs`.

    A crash marks the run failed; the caller fills in counts with store.finish_run.
    """
    con = store.connect(db)
    try:
        run_id = store.start_run(con, command, json.dumps(args, default=str))
        ctx = RunContext(con, run_id)
        try:
            yield ctx
        except BaseException as exc:
            status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
            if status == "running":
                store.finish_run(con, run_id, status="failed", exit_code=int(ExitCode.FAILED),
                                 message=f"{type(exc).__name__}: {exc}"[:2000])
            raise
    finally:
        con.close()


def ingest(
    db: Path,
    patterns: Sequence[str],
    opts: IngestOptions = IngestOptions(),
    on_file: Callable[[FileResult], None] | None = None,
    command: str = "ingest",
) -> tuple[int, IngestReport]:
    """Ingest files; returns (run_id, report). Records read = ingested + quarantined, checked."""
    paths = expand_inputs(patterns)
    with recorded_run(db, command, {"inputs": list(patterns), **opts.__dict__}) as ctx:
        report = ingest_paths(ctx.con, paths, opts, ctx.run_id, on_file=on_file)
        if report.records != report.documents + report.quarantined:  # pragma: no cover - guarded per file too
            raise AssertionError("conservation broken: records read != ingested + quarantined")
        failed = report.failed
        exit_code = ExitCode.FAILED if failed else ExitCode.OK
        store.finish_run(
            ctx.con, ctx.run_id,
            status="failed" if failed else "ok",
            exit_code=int(exit_code),
            records_read=report.records,
            documents_ingested=report.documents,
            quarantined=report.quarantined,
            files_failed=len(failed),
            counts_json=json.dumps({
                "files_ingested": sum(f.status == "ingested" for f in report.files),
                "files_skipped": len(report.skipped),
                "files_failed": len(failed),
            }),
            message="; ".join(f.error or "" for f in failed)[:4000] or None,
        )
        return ctx.run_id, report
