"""The pipeline: each command is a recorded run, each stage a transaction.

`curate run` is ingest -> score -> quality model -> dedup -> slice -> validate -> export; the
stages themselves live in their rooms (curate/ingest.py, curate/engines/, curate/quality.py,
curate/recipes.py, curate/validate.py, curate/export.py), this module orders them, records
the run and decides when there is nothing to do."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import duckdb

from curate import store
from curate.engines import Engine, LocalEngine, signature_device
from curate.errors import ExitCode, UsageError
from curate.export import export_name, export_slice
from curate.ingest import (
    FileResult,
    IngestOptions,
    IngestReport,
    display_path,
    expand_inputs,
    ingest_paths,
    match_inputs,
    refuse_output_inside_inputs,
)
from curate.quality import obtain_quality_model, quality_note
from curate.remote import output_exists


@dataclass
class RunContext:
    con: duckdb.DuckDBPyConnection
    run_id: int
    publish: bool = True  # a run may decide its result must not be published (failed validation)


@contextlib.contextmanager
def recorded_run(db: Path, command: str, args: dict, *, publish: bool = False) -> Iterator[RunContext]:
    """Take the writer lock, open the store read-write and record the command in `runs`.

    A crash marks the run failed; the caller fills in counts with store.finish_run. With
    `publish`, a successful run then publishes a read-only snapshot for the dashboard.
    """
    with store.writer_lock(db):
        con = store.connect(db)
        ok = False
        try:
            run_id = store.start_run(con, command, json.dumps(args, default=str))
            ctx = RunContext(con, run_id)
            try:
                yield ctx
                ok = True
            except BaseException as exc:
                # A stage's transaction has rolled back (store.transaction); should one still be
                # open, end it, or DuckDB refuses the statements that record the failure.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
                if status == "running":
                    store.finish_run(con, run_id, status="failed", exit_code=int(ExitCode.FAILED),
                                     message=f"{type(exc).__name__}: {exc}"[:2000])
                raise
        finally:
            con.close()
        if ok and publish and ctx.publish:
            store.publish_snapshot(db)


def ingest(
    db: Path,
    patterns: Sequence[str],
    opts: IngestOptions = IngestOptions(),
    on_file: Callable[[FileResult], None] | None = None,
    command: str = "ingest",
) -> tuple[int, IngestReport]:
    """Ingest files; returns (run_id, report). Records read = ingested + quarantined, checked."""
    paths = expand_inputs(patterns)
    with recorded_run(db, command, {"inputs": [display_path(p) for p in patterns], **opts.__dict__}) as ctx:
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


# --- the scheduled pipeline ---------------------------------------------------------------------


@dataclass
class PipelineReport:
    run_id: int
    slice_id: str | None  # the built slice's id (the latest one when there was nothing to do)
    ingest: IngestReport
    scored: int = 0
    dedup: list = None
    slice: object = None
    validation: object = None
    exports: list = None
    nothing_to_do: bool = False
    exit_code: int = 0
    quality: object = None  # the QualityReport when this run trained the classifier
    unmatched: list = None  # input globs that matched no file
    message: str | None = None  # why there was nothing to do


def _work_pending(con: duckdb.DuckDBPyConnection, recipe) -> bool:
    """Documents a stage has not finished: unscored (or scored by an older signal version),
    or, for a near-dedup recipe, without a signature or not yet in the threshold's bands."""
    from curate.dedup import lsh
    from curate.signals import SIGNALS_VERSION

    if store.unscored_count(con):
        return True
    if store.stale_signal_count(con, SIGNALS_VERSION):
        return True
    t = recipe.dedup.near_threshold
    if t is None:
        return False
    spec = lsh.stored_spec(con)
    if spec is None or t not in lsh.dedup_thresholds(con):
        return True
    if store.unsigned_count(con):
        return True
    setting = lsh.setting_for(t, spec.num_perm)[0]
    return bool(con.execute(
        "SELECT count(*) FROM minhash m WHERE m.has_sig AND m.doc_id NOT IN "
        "(SELECT doc_id FROM lsh_bands WHERE setting = ?)", [setting]).fetchone()[0])


def _validated(con: duckdb.DuckDBPyConnection, db: Path, recipe, slice_id: str) -> bool:
    """The slice's latest validation passed, and the suite file has not changed since."""
    row = con.execute("SELECT success, validated_at FROM validations WHERE slice_id = ? "
                      "ORDER BY validated_at DESC LIMIT 1", [slice_id]).fetchone()
    path = store.suite_path(db, recipe.name)
    if row is None or not row[0] or not path.exists():
        return False  # a failed suite is run again: an idle run must not hide it
    from datetime import datetime

    edited = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return edited <= row[1]


def up_to_date_slice(con: duckdb.DuckDBPyConnection, db: Path, recipe, *, out: Path | str | None = None,
                     formats: Sequence[str] = (), validating: bool = True) -> str | None:
    """The latest slice of the recipe if `curate run` would change nothing, else None.

    Decided from the store, not from names: no stage has work pending, the decisions the
    store gives now make exactly the latest built slice of the recipe, that slice passed its
    suite (when validating) and its exports exist (when exporting).
    """
    from curate import recipes

    latest = recipes.latest_slice(con, recipe.name)
    if latest is None or _work_pending(con, recipe):
        return None
    try:
        if recipes.current_slice_id(con, recipe) != latest:
            return None
    except UsageError:  # not buildable yet (e.g. no quality scores): the stages have work to do
        return None
    if validating and not _validated(con, db, recipe, latest):
        return None
    if out is not None and not all(output_exists(out, export_name(latest, f, redact=recipe.redact_pii))
                                   for f in formats):
        return None
    return latest


def run_pipeline(
    db: Path,
    recipe,
    inputs: Sequence[str],
    *,
    opts: IngestOptions = IngestOptions(),
    out: Path | str | None = None,  # a folder or an object-store URL
    formats: Sequence[str] = ("parquet",),
    device: str = "auto",
    workers: int | None = None,
    validate_slice: bool = True,
    on_stage: Callable[[str], None] | None = None,
    engine: Engine | None = None,
) -> PipelineReport:
    """`curate run`: ingest new files -> score -> dedup -> slice -> validate -> export.

    Each stage is its own transaction (scoring and signatures commit per batch), so a
    killed run leaves every stage either done or not started, and the next run resumes.
    A run with no new input and an up-to-date slice and exports changes nothing. `engine`
    runs score and dedup (the local one, with `workers` processes, by default).
    """
    from curate import recipes as recipes_mod
    from curate.dedup import minhash
    from curate.validate import validate_in_store

    stage = on_stage or (lambda name: None)
    refuse_output_inside_inputs(out, inputs, formats)  # else each run ingests its own export
    paths, unmatched = match_inputs(inputs)
    args = {"recipe": recipe.name, "recipe_id": recipe.recipe_id, "inputs": [display_path(p) for p in inputs],
            "out": str(out) if out else None, "formats": list(formats)}
    with recorded_run(db, "run", args, publish=True) as ctx:
        con = ctx.con
        stage("ingest")
        ing = ingest_paths(con, paths, opts, ctx.run_id)
        rep = PipelineReport(ctx.run_id, None, ing, dedup=[], exports=[], unmatched=unmatched)
        from curate.signals import signals as all_signals

        store.ensure_signals_table(con, [(s.name, s.dtype) for s in all_signals()])
        if not ing.documents and not ing.failed:
            nothing_new = "no new documents" + (f" ({', '.join(repr(u) for u in unmatched)} matched no file)"
                                                if unmatched else "")
            if not store.count_rows(con, "documents"):
                rep.message = f"{nothing_new}; the store holds no documents yet"
            else:
                rep.slice_id = up_to_date_slice(con, db, recipe, out=out, formats=formats,
                                                validating=validate_slice)
                if rep.slice_id is not None:
                    rep.message = f"{nothing_new}; slice {rep.slice_id} and its exports are up to date"
            if rep.message is not None:
                rep.nothing_to_do = True
                store.finish_run(con, ctx.run_id, status="nothing_to_do", exit_code=0,
                                 records_read=ing.records, documents_ingested=0, quarantined=ing.quarantined,
                                 counts_json=json.dumps({"files_skipped": len(ing.skipped), "slice": rep.slice_id,
                                                         "unmatched": unmatched}),
                                 message=rep.message)
                return rep
        stage("score")
        engine = engine or LocalEngine(workers)
        rep.scored = engine.score(con, db).scored
        rep.quality = obtain_quality_model(con, db, recipe, stage)
        if recipe.dedup.near_threshold is not None:
            stage("dedup")
            rep.dedup.append(engine.dedup(con, db, recipe.dedup.near_threshold, minhash.SignatureSpec(),
                                          ctx.run_id, device=signature_device(device)))
        benchmarks = [n for dr in recipe.doc_rules if dr.kind == "decontam_overlap" for n, _ in dr.names]
        if benchmarks:  # the new documents against the benchmarks the recipe drops on
            from curate.decontam import catch_up

            stage("decontaminate")
            catch_up(con, benchmarks, ctx.run_id)
        stage("slice")
        rep.slice = recipes_mod.build_slice(con, recipe, ctx.run_id)
        rep.slice_id = rep.slice.slice_id
        if validate_slice:
            stage("validate")
            rep.validation = validate_in_store(con, db, recipe, rep.slice_id, ctx.run_id)
        invalid = rep.validation is not None and not rep.validation.success
        if out is not None and not invalid:  # a slice that failed its suite is not published
            stage("export")
            for fmt in formats:
                rep.exports.append(export_slice(con, rep.slice_id, out, fmt, redact=recipe.redact_pii))
        ctx.publish = not invalid
        failed = bool(ing.failed)
        rep.exit_code = int(ExitCode.FAILED if failed else ExitCode.VALIDATION_FAILED if invalid else ExitCode.OK)
        store.finish_run(
            con, ctx.run_id, status="failed" if failed else "invalid" if invalid else "ok",
            exit_code=rep.exit_code, records_read=ing.records, documents_ingested=ing.documents,
            quarantined=ing.quarantined, files_failed=len(ing.failed),
            counts_json=json.dumps({"scored": rep.scored, "slice": rep.slice_id,
                                    "quality_trained": None if rep.quality is None else
                                    {"positive": rep.quality.n_positive, "negative": rep.quality.n_negative},
                                    "kept": rep.slice.n_kept, "dropped": rep.slice.n_dropped,
                                    "validation": None if rep.validation is None else rep.validation.success,
                                    "exports": [str(p) for p in rep.exports]}),
            message="; ".join(([quality_note(rep.quality)] if rep.quality else [])
                              + [f.error or "" for f in ing.failed])[:4000] or None,
        )
    return rep
