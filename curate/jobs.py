"""Orchestration of the stages: each command is a recorded run, each stage a transaction."""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from curate import store
from curate.quality import quality_model_path
from curate.errors import CurateError, ExitCode, UsageError
from curate.ingest import (FileResult, IngestOptions, IngestReport, display_path, expand_inputs, ingest_paths,
                           match_inputs, refuse_output_inside_inputs)


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


# --- paths beside the store ----------------------------------------------------------------


artifacts_dir = store.artifacts_dir


# --- score ---------------------------------------------------------------------------------

_worker_quality = None


def _init_worker(quality_path: str | None) -> None:
    global _worker_quality
    from curate.signals.quality import load_quality_model

    _worker_quality = load_quality_model(Path(quality_path)) if quality_path else None


def _score_batch(texts: list[str]) -> pa.Table:
    from curate.signals import score_texts

    return score_texts(texts, quality_model=_worker_quality).to_arrow()


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    rescored_stale: int
    signals_version: str
    quality_model: str | None
    seconds: float


def score(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    *,
    workers: int | None = None,
    batch_size: int = 2000,
    on_batch: Callable[[int], None] | None = None,
) -> ScoreReport:
    """Signals for documents not yet scored (and those scored by an older signal version).

    One transaction per batch: a killed run keeps the finished batches and the next run
    goes on from there; a document's signals are written whole or not at all.
    """
    import time
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    from curate.signals import SIGNALS_VERSION, signals

    t0 = time.perf_counter()
    store.ensure_signals_table(con, [(s.name, s.dtype) for s in signals()])
    stale = con.execute("SELECT count(*) FROM signals WHERE signals_version <> ?", [SIGNALS_VERSION]).fetchone()[0]
    if stale:
        con.execute("DELETE FROM signals WHERE signals_version <> ?", [SIGNALS_VERSION])
    qpath = quality_model_path(db)
    qarg = str(qpath) if qpath.exists() else None
    total = con.execute("SELECT count(*) FROM documents ANTI JOIN signals USING (doc_id)").fetchone()[0]
    workers = workers or os.cpu_count() or 1
    workers = max(1, min(workers, (total + batch_size - 1) // batch_size))
    reader = con.cursor()
    reader.execute("SELECT d.doc_id, d.text FROM documents d ANTI JOIN signals s USING (doc_id) ORDER BY d.doc_id")

    def batches():
        while True:
            rows = reader.fetchmany(batch_size)
            if not rows:
                return
            yield [r[0] for r in rows], [r[1] for r in rows]

    def write(ids: list[str], tbl: pa.Table) -> None:
        tbl = tbl.append_column("doc_id", pa.array(ids)).append_column(
            "signals_version", pa.array([SIGNALS_VERSION] * len(ids)))
        con.execute("BEGIN")
        store.register(con, "_signal_batch", tbl)
        con.execute("INSERT INTO signals BY NAME SELECT * FROM _signal_batch")
        con.unregister("_signal_batch")
        con.execute("COMMIT")
        if on_batch:
            on_batch(len(ids))

    scored = 0
    if workers <= 1:
        _init_worker(qarg)
        for ids, texts in batches():
            write(ids, _score_batch(texts))
            scored += len(ids)
    else:
        ctx = mp.get_context("spawn")  # no fork after DuckDB has started its threads
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(qarg,)) as pool:
            pending: list = []
            for ids, texts in batches():
                pending.append((ids, pool.submit(_score_batch, texts)))
                if len(pending) >= 2 * workers:  # bounded memory: a few batches in flight
                    ids0, fut = pending.pop(0)
                    write(ids0, fut.result())
                    scored += len(ids0)
            for ids0, fut in pending:
                write(ids0, fut.result())
                scored += len(ids0)
    reader.close()
    from curate.dedup.lines import update_common_lines

    update_common_lines(con)  # corpus-level: the new documents change the old ones' values
    return ScoreReport(scored, stale, SIGNALS_VERSION, qarg, time.perf_counter() - t0)


def pick_signature_device(requested: str) -> str:
    """MinHash on the GPU when one is present and torch sees it; numpy on CPU otherwise."""
    if requested not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if requested == "cuda" and not has_cuda:
        raise UsageError("--device cuda: no CUDA device is visible to torch")
    return "cuda" if has_cuda else "cpu"


# --- validation, export, the scheduled pipeline ------------------------------------------------


def slice_frame(con: duckdb.DuckDBPyConnection, slice_id: str, threshold: float | None):
    """The kept documents of a slice, as the validation suite sees them (text truncated)."""
    from curate.store import table_exists

    dup = "false"
    if threshold is not None:
        dup = ("coalesce((SELECT NOT c.is_representative FROM dup_clusters c "
               "WHERE c.doc_id = d.doc_id AND c.threshold = $threshold), false)")
    pii = ", ".join(f"s.{c}" for c in ("pii_email_count", "pii_phone_count", "pii_ip_count", "pii_card_count"))
    has_signals = table_exists(con, "signals")
    sql = f"""
        SELECT d.doc_id, left(d.text, 200) AS text, s.lang, s.quality,
               ({dup}) OR count(*) OVER (PARTITION BY d.text_hash) > 1 AS is_duplicate, {pii}
        FROM decisions k JOIN documents d USING (doc_id) {'LEFT JOIN signals s USING (doc_id)' if has_signals else ''}
        WHERE k.slice_id = $slice AND k.kept"""
    params = {"slice": slice_id}
    if threshold is not None:
        params["threshold"] = threshold
    return pl.from_arrow(store.arrow(con, sql, params))


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


def suite_path(db: Path, recipe_name: str) -> Path:
    from curate.recipes import RECIPE_NAME, RECIPE_NAME_RULE

    if not RECIPE_NAME.fullmatch(recipe_name):
        raise UsageError(f"a recipe name is {RECIPE_NAME_RULE}, got {recipe_name[:80]!r}")
    d = artifacts_dir(db) / "suites"
    d.mkdir(exist_ok=True)
    return path_inside(d, f"{recipe_name}.json")


def validate(con: duckdb.DuckDBPyConnection, db: Path, recipe, slice_id: str, run_id: int | None):
    """Run the recipe's suite (generated once, then editable at suite_path) and store the result."""
    from curate import validate as gxv

    path = suite_path(db, recipe.name)
    if path.exists():
        spec = gxv.load_suite_spec(path)
    else:
        spec = gxv.suite_spec_from_recipe(recipe.to_dict())
        gxv.save_suite_spec(spec, path)
    frame = slice_frame(con, slice_id, recipe.dedup.near_threshold)
    if recipe.redact_pii and len(frame):
        # What the export writes: every string field redacted, counted over all of them.
        from curate.signals.pii import count_exported, redact_document

        rows = con.execute(
            """SELECT d.doc_id, d.external_id, d.text, d.metadata::VARCHAR FROM decisions k JOIN documents d USING (doc_id)
               WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""", [slice_id]).fetchall()
        counts = count_exported([redact_document(e, t, m) for _, e, t, m in rows])
        counts = counts.with_columns(pl.Series("doc_id", [r[0] for r in rows], dtype=pl.String))
        frame = frame.drop([c for c in counts.columns if c != "doc_id" and c in frame.columns]).join(
            counts, on="doc_id", how="left")
    docs_dir = artifacts_dir(db) / "data_docs"
    outcome = gxv.validate_slice(frame, spec, docs_dir=docs_dir, run_name=f"{slice_id}-run{run_id}")
    if outcome.docs_error:  # the result is stored all the same (docs_path NULL, the reason in result_json)
        import sys

        print(f"curate: warning: {outcome.docs_error}", file=sys.stderr)
    con.execute(
        "INSERT INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [slice_id, spec.name, outcome.success, json.dumps(outcome.statistics, default=str), outcome.result_json,
         str(outcome.docs_path) if outcome.docs_path else None, store.now(), run_id],
    )
    return outcome


def export_name(slice_id: str, fmt: str, *, redact: bool = False) -> str:
    """'<slice_id>.<fmt>', or '<slice_id>.redacted.<fmt>': a slice id names one content, so
    one file name does too."""
    return f"{slice_id}{'.redacted' if redact else ''}.{fmt}"


def _remove_stale_temps(final: Path) -> None:
    """Temp files of `final` left by killed exports (their process is gone)."""
    for tmp in final.parent.glob(f"{glob_escape(final.name)}.*.tmp"):
        pid = tmp.name[len(final.name) + 1:-len(".tmp")]
        if pid.isdigit() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def export_slice(con: duckdb.DuckDBPyConnection, slice_id: str, out_dir: Path, fmt: str,
                 *, redact: bool = False, batch_size: int = 5000) -> Path:
    """Write the kept documents to '<out>/<export_name>' via a temp name and a rename.

    A file of that name holds the same content by construction (slice ids are content
    digests), so an existing one is left as it is, and none of different content is replaced.
    """
    import pyarrow.parquet as pq

    if fmt not in ("parquet", "jsonl"):
        raise UsageError(f"export format must be parquet or jsonl, not {fmt!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the export folder {out_dir}: {exc.strerror or exc}") from exc
    final = path_inside(out_dir, export_name(slice_id, fmt, redact=redact))
    if final.is_dir():
        raise UsageError(f"cannot export to {final}: a folder of that name is in the way")
    _remove_stale_temps(final)
    if final.exists():
        return final
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")  # two `curate export`s may run at once
    redact_fn = None
    if redact:
        from curate.signals.pii import redact_document as redact_fn
    reader = con.cursor()
    reader.execute(
        """SELECT d.doc_id, d.external_id, d.text, d.metadata::VARCHAR AS metadata
           FROM decisions k JOIN documents d USING (doc_id) WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""",
        [slice_id],
    )
    schema = pa.schema([("doc_id", pa.string()), ("external_id", pa.string()), ("text", pa.string()),
                        ("metadata", pa.string())])
    writer = pq.ParquetWriter(tmp, schema) if fmt == "parquet" else None
    fh = open(tmp, "w", encoding="utf-8") if fmt == "jsonl" else None
    written = 0
    try:
        while True:
            rows = reader.fetchmany(batch_size)
            if not rows:
                break
            written += len(rows)
            if redact_fn is not None:
                rows = [(a, *redact_fn(b, t, m)) for a, b, t, m in rows]  # doc_id is ours: kept
            if writer is not None:
                writer.write_table(pa.table(list(zip(*rows)), schema=schema))
            else:
                for a, b, t, m in rows:
                    fh.write(json.dumps({"doc_id": a, "id": b, "text": t,
                                         "metadata": json.loads(m) if m else None}, ensure_ascii=False) + "\n")
    except BaseException:
        for closing in (writer, fh):
            if closing is not None:
                closing.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    if writer is not None:
        writer.close()
    if fh is not None:
        fh.close()
    if fmt == "parquet" and pq.read_metadata(tmp).num_rows != written:  # verified before it is published
        tmp.unlink(missing_ok=True)
        raise CurateError(f"export {final}: the written file does not hold the {written:,} documents; not published")
    os.replace(tmp, final)
    return final


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

    if con.execute("SELECT count(*) FROM documents ANTI JOIN signals USING (doc_id)").fetchone()[0]:
        return True
    if con.execute("SELECT count(*) FROM signals WHERE signals_version <> ?", [SIGNALS_VERSION]).fetchone()[0]:
        return True
    t = recipe.dedup.near_threshold
    if t is None:
        return False
    spec = lsh.stored_spec(con)
    if spec is None or t not in lsh.dedup_thresholds(con):
        return True
    if con.execute("SELECT count(*) FROM documents ANTI JOIN minhash USING (doc_id)").fetchone()[0]:
        return True
    setting = lsh.setting_for(t, spec.num_perm)[0]
    return bool(con.execute(
        "SELECT count(*) FROM minhash m WHERE m.has_sig AND m.doc_id NOT IN "
        "(SELECT doc_id FROM lsh_bands WHERE setting = ?)", [setting]).fetchone()[0])


def _validated(con: duckdb.DuckDBPyConnection, db: Path, recipe, slice_id: str) -> bool:
    """The slice's latest validation passed, and the suite file has not changed since."""
    row = con.execute("SELECT success, validated_at FROM validations WHERE slice_id = ? "
                      "ORDER BY validated_at DESC LIMIT 1", [slice_id]).fetchone()
    path = suite_path(db, recipe.name)
    if row is None or not row[0] or not path.exists():
        return False  # a failed suite is run again: an idle run must not hide it
    from datetime import datetime, timezone

    edited = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None)
    return edited <= row[1]


def up_to_date_slice(con: duckdb.DuckDBPyConnection, db: Path, recipe, *, out: Path | None = None,
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
    if out is not None and not all((out / export_name(latest, f, redact=recipe.redact_pii)).exists()
                                   for f in formats):
        return None
    return latest


def obtain_quality_model(con: duckdb.DuckDBPyConnection, db: Path, recipe, stage: Callable[[str], None]):
    """A recipe that filters on `quality` on a store with no model: train one the chosen
    way (curate/quality.py) as a stage of this run, and rescore. None when not needed."""
    from curate import quality

    if not quality.recipe_needs_model(recipe):
        return None
    model = quality.load_model_or_none(db)
    if model is None:
        stage("quality (no model yet: training the classifier on this corpus, labelled by the heuristics)")
        return quality.train_quality(con, db, quality.QualityDesign(), on_log=stage)
    # a run killed after the model was saved and before its scores were: score the rest
    unscored = con.execute("SELECT count(*) FROM signals WHERE quality IS NULL").fetchone()[0]
    if unscored:
        stage(f"quality (scoring {unscored:,} documents the model has not scored)")
        quality.rescore_quality(con, model, only_missing=True)
    return None


def quality_note(rep) -> str:
    return (f"trained the quality classifier ({rep.design.labels} labels: {rep.n_positive:,} clean-with-margin vs "
            f"{rep.n_negative:,} junk documents) and rescored {rep.rescored:,} documents")


def run_pipeline(
    db: Path,
    recipe,
    inputs: Sequence[str],
    *,
    opts: IngestOptions = IngestOptions(),
    out: Path | None = None,
    formats: Sequence[str] = ("parquet",),
    device: str = "auto",
    workers: int | None = None,
    validate_slice: bool = True,
    on_stage: Callable[[str], None] | None = None,
    engine: str = "local",
    ray_opts=None,
) -> PipelineReport:
    """`curate run`: ingest new files -> score -> dedup -> slice -> validate -> export.

    Each stage is its own transaction (scoring and signatures commit per batch), so a
    killed run leaves every stage either done or not started, and the next run resumes.
    A run with no new input and an up-to-date slice and exports changes nothing.
    """
    from curate import recipes as recipes_mod
    from curate.dedup import lsh, minhash

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
            if not con.execute("SELECT count(*) FROM documents").fetchone()[0]:
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
        if engine == "ray":
            from curate.engines.ray import dedup_ray, score_ray

            rep.scored = score_ray(con, db, opts=ray_opts).scored
        else:
            rep.scored = score(con, db, workers=workers).scored
        rep.quality = obtain_quality_model(con, db, recipe, stage)
        if recipe.dedup.near_threshold is not None:
            stage("dedup")
            spec, dev = minhash.SignatureSpec(), pick_signature_device(device)
            if engine == "ray":
                rep.dedup.append(dedup_ray(con, recipe.dedup.near_threshold, spec, ctx.run_id, db=db,
                                           opts=ray_opts, device=dev))
            else:
                rep.dedup.append(lsh.dedup(con, recipe.dedup.near_threshold, spec, ctx.run_id, device=dev))
        stage("slice")
        rep.slice = recipes_mod.build_slice(con, recipe, ctx.run_id)
        rep.slice_id = rep.slice.slice_id
        if validate_slice:
            stage("validate")
            rep.validation = validate(con, db, recipe, rep.slice_id, ctx.run_id)
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


# --- invariants --------------------------------------------------------------------------------


def check_invariants(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool, str]]:
    """(invariant, holds, detail) for every source, run and slice in the store."""
    out: list[tuple[str, bool, str]] = []
    bad_sources = con.execute("""
        SELECT s.uri, s.n_records, s.n_documents, s.n_quarantined,
               (SELECT count(*) FROM documents d WHERE d.source_id = s.source_id) AS docs,
               (SELECT count(*) FROM quarantine q WHERE q.source_id = s.source_id) AS quar
        FROM sources s
        WHERE s.n_records <> s.n_documents + s.n_quarantined OR docs <> s.n_documents OR quar <> s.n_quarantined
    """).fetchall()
    n_sources = con.execute("SELECT count(*) FROM sources").fetchone()[0]
    out.append(("every source: records read = ingested + quarantined", not bad_sources,
                f"{n_sources} sources" if not bad_sources else f"broken: {bad_sources[:5]}"))
    orphans = con.execute("SELECT count(*) FROM documents ANTI JOIN sources USING (source_id)").fetchone()[0]
    out.append(("every document belongs to a recorded source", orphans == 0, f"{orphans} orphans"))
    bad_runs = con.execute(
        "SELECT run_id FROM runs WHERE records_read <> documents_ingested + quarantined").fetchall()
    out.append(("every run: records read = ingested + quarantined", not bad_runs,
                "ok" if not bad_runs else f"runs {[r[0] for r in bad_runs]}"))
    n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    for sid, n_slice_docs, n_kept, n_dropped in con.execute(
            "SELECT slice_id, n_documents, n_kept, n_dropped FROM slices ORDER BY slice_id").fetchall():
        counts = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE kept), count(*) FILTER (WHERE NOT kept),
                      count(*) FILTER (WHERE NOT kept AND reason IS NULL)
               FROM decisions WHERE slice_id = ?""", [sid]).fetchone()
        holds = counts[0] == n_slice_docs == counts[1] + counts[2] and (counts[1], counts[2]) == (n_kept, n_dropped)
        out.append((f"slice {sid}: documents = kept + dropped", holds,
                    f"{counts[0]} = {counts[1]} + {counts[2]}" + ("" if n_slice_docs == n_docs else
                                                                   f" (store now holds {n_docs}: rebuild the slice)")))
        out.append((f"slice {sid}: every drop has a reason", counts[3] == 0, f"{counts[3]} without reason"))
    return out
