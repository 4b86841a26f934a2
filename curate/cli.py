"""The `curate` command line: parses arguments, calls the engine, prints. No logic of its own."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from curate.console import format_table, log, safe_output
from curate.errors import EXIT_CODES_HELP, CurateError, ExitCode


def int_in(lo: int, hi: int | None = None):
    """An argparse type: a whole number in lo..hi, else a usage message (exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range ({lo}..{hi if hi is not None else 'inf'})")
        return value
    parse.__name__ = "whole number"
    return parse


def jaccard_threshold(text: str) -> float:
    """An argparse type: a finite Jaccard threshold in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("curate.duckdb"),
                   help="the DuckDB store (default: ./curate.duckdb)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or logs on stderr")


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes."""
    return sub.add_parser(name, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kwargs)


def _add_engine(p: argparse.ArgumentParser) -> None:
    from curate.engines import add_engine_arguments

    add_engine_arguments(p)


def _engine(args):
    """The engine --engine names, ready: called before the writer lock is taken, so that an
    unreachable Ray --address fails at once and never blocks the store."""
    from curate.engines import engine_from_args

    return engine_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate",
        description="Score dirty text corpora once, filter them many times, deduplicate, and "
                    "measure what the data does to the models trained on it.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = _command(sub, "ingest", help="read corpus files into the store",
                       description="Read JSONL (.gz/.zst), Parquet, CSV and folders of .txt files. "
                                   "Bad records go to the quarantine table; a file already ingested "
                                   "(same sha256) is skipped.")
    _add_common(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--id-field", default=None, help="field holding your own document id")
    p.add_argument("--max-doc-bytes", type=int_in(1), default=10 * 1024 * 1024,
                   help="quarantine documents larger than this (default: 10 MB)")
    p.set_defaults(func=cmd_ingest)

    p = _command(sub, "demo", help="run the pipeline on the bundled sample data")
    _add_common(p)
    p.add_argument("--data", type=Path, default=None,
                   help="the sample data folder (default: the one bundled with curate)")
    p.add_argument("--no-train", action="store_true", help="stop before training models")
    p.add_argument("--tokens", type=int_in(1), default=150_000, help="training tokens per model")
    p.add_argument("--seeds", type=int_in(1, 100), default=2, help="seeds per slice")
    p.add_argument("--preset", default="small", help="model size: tiny, small or gpu")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_demo)

    p = _command(sub, "runs", help="list the run history with its counts")
    _add_common(p)
    p.add_argument("--limit", type=int_in(1), default=20)
    p.set_defaults(func=cmd_runs)

    p = _command(sub, "quarantine", help="list quarantined records (file, record, error)")
    _add_common(p)
    p.add_argument("--limit", type=int_in(1), default=50)
    p.set_defaults(func=cmd_quarantine)
    p = _command(sub, "signals", help="list the signal registry (name, version, meaning, range, source)")
    p.add_argument("--family", default=None, help="only this family")
    p.set_defaults(func=cmd_signals)

    p = _command(sub, "score", help="compute every signal for documents not yet scored")
    _add_common(p)
    p.add_argument("--workers", type=int_in(1, 1024), default=None, help="processes (default: all cores)")
    p.add_argument("--batch-size", type=int_in(1, 1_000_000), default=2000)
    _add_engine(p)
    p.set_defaults(func=cmd_score)

    p = _command(sub, "quality", help="train or evaluate the fastText quality classifier")
    qsub = p.add_subparsers(dest="quality_command", metavar="ACTION")
    qsub.required = True
    q = _command(qsub, "train", help="train on this corpus's documents, labelled by the heuristics, then rescore",
                 description="Positives: documents that pass every precise content rule (the published ones "
                             "but those that drop clean genres); negatives: documents that fail --min-failed of "
                             "them or more; every stored score is out of fold and "
                             "calibrated (curate/quality.py). --labels reference trains DCLM's way instead: "
                             "a clean reference set (--reference) against a sample of the raw corpus.")
    _add_common(q)
    q.add_argument("--labels", choices=["heuristic", "heuristic+reference", "reference"], default="heuristic",
                   help="where the training labels come from (default: heuristic)")
    q.add_argument("--reference", type=Path, default=None,
                   help="clean reference documents (JSONL with a text field) for --labels *reference")
    q.add_argument("--min-failed", type=int_in(1), default=1,
                   help="negatives fail at least this many of the precise content rules (default 1)")
    q.add_argument("--teacher", choices=["precise", "published"], default="precise",
                   help="the rules that label: the published content rules but those that drop clean "
                        "genres (precise, default), or all of them")
    q.add_argument("--folds", type=int_in(2, 20), default=3, help="out-of-fold scoring folds (default 3)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_quality_train)
    q = _command(qsub, "eval", help="the held-out (out-of-fold) figures of the stored model")
    _add_common(q)
    q.set_defaults(func=cmd_quality_eval)

    p = _command(sub, "dedup", help="exact and MinHash near-duplicate clusters")
    _add_common(p)
    p.add_argument("--threshold", type=jaccard_threshold, action="append", default=None,
                   help="Jaccard threshold; repeat for several (default: 0.8)")
    p.add_argument("--num-perm", type=int_in(2, 4096), default=128)
    p.add_argument("--ngram", type=int_in(1, 64), default=5, help="words per shingle")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (signatures)")
    p.add_argument("--explain", metavar="DOC_ID", default=None, help="list a document's cluster")
    _add_engine(p)
    p.set_defaults(func=cmd_dedup)

    p = _command(sub, "slice", help="build a slice from a recipe (a shipped name or a YAML path)")
    _add_common(p)
    p.add_argument("recipe", help="recipe name or YAML file")
    p.set_defaults(func=cmd_slice)

    p = _command(sub, "recipes", help="list the shipped recipes, or print one")
    p.add_argument("name", nargs="?", default=None)
    p.set_defaults(func=cmd_recipes)

    p = _command(sub, "explain", help="every signal of a document, and why a slice kept or dropped it")
    _add_common(p)
    p.add_argument("doc_id", help="doc_id or your external id")
    p.add_argument("--slice", default=None, help="slice name or id")
    p.set_defaults(func=cmd_explain)
    p = _command(sub, "run", help="the scheduled job: ingest new files, score, dedup, slice, validate, export",
                       description="Incremental and idempotent: a second run with no new input changes nothing. "
                                   "Safe to kill: each stage is a transaction; the next run resumes.")
    _add_common(p)
    p.add_argument("recipe", help="recipe name or YAML file")
    p.add_argument("--input", "-i", action="append", required=True, metavar="GLOB",
                   help="input files, folders or globs (repeat)")
    p.add_argument("--out", type=Path, default=None, help="export the slice into this folder")
    p.add_argument("--format", action="append", choices=["parquet", "jsonl"], default=None,
                   help="export format (repeat; default parquet)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default=None)
    p.add_argument("--max-doc-bytes", type=int_in(1), default=10 * 1024 * 1024)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int_in(1, 1024), default=None)
    p.add_argument("--no-validate", action="store_true", help="skip the Great Expectations suite")
    p.add_argument("--exit-5-when-idle", action="store_true",
                   help="exit with 5 instead of 0 when there was nothing to do")
    _add_engine(p)
    p.set_defaults(func=cmd_run)

    p = _command(sub, "check", help="verify the store's invariants (nothing lost, every drop explained)")
    _add_common(p)
    p.set_defaults(func=cmd_check)

    p = _command(sub, "export", help="write a slice's kept documents to Parquet or JSONL")
    _add_common(p)
    p.add_argument("slice", help="slice name or id")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    p.add_argument("--redact-pii", action="store_true", help="replace e-mails, phones, IPs and card numbers")
    p.set_defaults(func=cmd_export)
    p = _command(sub, "train", help="train one small LM per slice at an equal token budget",
                       description="Same tokenizer, hyperparameters, seeds and token budget for every slice; "
                                   "records bits-per-byte on clean validation text and generation quality.")
    _add_common(p)
    p.add_argument("--slice", action="append", required=True, help="slice name or id (repeat)")
    p.add_argument("--tokens", type=int_in(1), default=300_000,
                   help="training tokens per model, at least one batch (default 300k)")
    p.add_argument("--seeds", type=int_in(1, 100), default=1, help="seeds per slice (0..K-1)")
    p.add_argument("--preset", default="small", help="model size: tiny, small or gpu")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    p.add_argument("--batch-size", type=int_in(1, 65536), default=16, help="sequences per step (default 16)")
    p.add_argument("--val-text", type=Path, default=None,
                   help="clean UTF-8 text for bits-per-byte (default: the bundled validation.txt)")
    p.add_argument("--prompts", type=Path, default=None,
                   help="prompts JSONL for generations and memorization (default: the bundled prompts.jsonl)")
    p.set_defaults(func=cmd_train)

    p = _command(sub, "eval", help="bits-per-byte of a trained model on any text")
    _add_common(p)
    p.add_argument("run", help="train_run_id (see `curate train` output or the train_runs table)")
    p.add_argument("--val-text", type=Path, required=True, help="clean UTF-8 text to measure bits-per-byte on")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_eval)
    p = _command(sub, "app", help="open the dashboard (Streamlit) on a store")
    p.add_argument("--db", type=Path, default=Path("curate.duckdb"), help="the DuckDB store (default: ./curate.duckdb)")
    p.add_argument("--port", type=int_in(1, 65535), default=None, help="port (default 8501)")
    p.set_defaults(func=cmd_app)

    p = _command(sub, "audit", help="corpus audit as tables; --html writes a self-contained report")
    _add_common(p)
    p.add_argument("--slice", default=None, help="only this slice's drop reasons (name or id)")
    p.add_argument("--html", type=Path, default=None, metavar="FILE", help="also write an offline HTML report")
    p.set_defaults(func=cmd_audit)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    previous = _on_sigterm_raise()
    try:
        with safe_output():
            return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except CurateError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return int(ExitCode.FAILED)
    except Terminated:
        print("curate: terminated (SIGTERM); the run is recorded as failed", file=sys.stderr)
        return int(ExitCode.FAILED)


class Terminated(BaseException):
    """SIGTERM (what systemd, Airflow and `timeout` send): unwinds like Ctrl-C, so the
    recorded run is marked failed and every transaction rolls back."""


def _on_sigterm_raise():
    def handler(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding program): leave its handler alone
        return None


# --- commands -------------------------------------------------------------------------


def _print_ingest(report, run_id: int) -> None:
    rows = [
        [Path(f.path).name, f.status, f.records, f.documents, f.quarantined, f.error or ""]
        for f in report.files
    ]
    print(format_table(["file", "status", "records", "ingested", "quarantined", "error"], rows))
    print(
        f"\nrun {run_id}: records read {report.records:,} = ingested {report.documents:,} "
        f"+ quarantined {report.quarantined:,}; files skipped (already stored) {len(report.skipped)}, "
        f"failed {len(report.failed)}"
    )


def cmd_ingest(args) -> int:
    from curate import pipeline
    from curate.ingest import IngestOptions

    opts = IngestOptions(text_field=args.text_field, id_field=args.id_field, max_doc_bytes=args.max_doc_bytes)

    def on_file(res) -> None:
        log(f"{res.status}: {res.path} ({res.records} records)", quiet=args.quiet)

    run_id, report = pipeline.ingest(args.db, args.paths, opts, on_file=on_file)
    _print_ingest(report, run_id)
    for f in report.failed:
        print(f"curate: {f.error}", file=sys.stderr)
    return int(ExitCode.FAILED if report.failed else ExitCode.OK)


def cmd_demo(args) -> int:
    from curate import demo

    options = demo.DemoOptions(train=not args.no_train, tokens=args.tokens, seeds=args.seeds,
                               preset=args.preset, device=args.device)
    from curate.resources import sample_data_dir

    data = _existing(args.data, "--data") if args.data else sample_data_dir()
    return demo.run_demo(args.db, data, quiet=args.quiet, options=options)


def cmd_runs(args) -> int:
    from curate import store

    with store.open_store(args.db, read_only=True) as con:
        rows = con.execute(
            """SELECT run_id, command, status, exit_code, strftime(started_at, '%Y-%m-%d %H:%M:%S'),
                      round(epoch(finished_at) - epoch(started_at), 1), records_read,
                      documents_ingested, quarantined, files_failed, coalesce(message, '')
               FROM runs ORDER BY run_id DESC LIMIT ?""",
            [args.limit],
        ).fetchall()
    print(format_table(["run", "command", "status", "exit", "started (UTC)", "secs", "read",
                        "ingested", "quarantined", "files failed", "message"], rows))
    return int(ExitCode.OK)


def cmd_quarantine(args) -> int:
    from curate import store

    with store.open_store(args.db, read_only=True) as con:
        rows = con.execute(
            """SELECT uri, record_no, error_kind, error FROM quarantine
               ORDER BY uri, record_no LIMIT ?""",
            [args.limit],
        ).fetchall()
        total = store.count_rows(con, "quarantine")
    print(format_table(["file", "record", "kind", "error"], rows))
    print(f"\n{total:,} quarantined records in all")
    return int(ExitCode.OK)



def cmd_signals(args) -> int:
    from curate.signals import signals

    rows = [
        [s.name, s.family, s.version, s.dtype, _range(s.lo, s.hi), _range(s.default_min, s.default_max),
         s.meaning, s.source]
        for s in signals() if args.family is None or s.family == args.family
    ]
    print(format_table(["signal", "family", "version", "type", "range", "default keep", "meaning", "source"], rows))
    return int(ExitCode.OK)


def _range(lo, hi) -> str:
    if lo is None and hi is None:
        return ""
    return f"{'-inf' if lo is None else format(lo, 'g')} .. {'inf' if hi is None else format(hi, 'g')}"


def cmd_score(args) -> int:
    import json

    from curate import pipeline, store
    from curate.console import Progress

    engine = _engine(args)  # before the lock
    with pipeline.recorded_run(args.db, "score", vars_of(args)) as ctx:
        total = store.count_rows(ctx.con, "documents")
        bar = Progress("score", total, quiet=args.quiet)
        rep = engine.score(ctx.con, args.db, batch_size=args.batch_size, on_batch=bar.update)
        bar.close()
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"scored": rep.scored, "rescored_stale": rep.rescored_stale}))
    print(f"scored {rep.scored:,} documents in {rep.seconds:.1f}s "
          f"(signals {rep.signals_version}; quality model: {rep.quality_model or 'none — run `curate quality train`'})")
    return int(ExitCode.OK)


def cmd_quality_train(args) -> int:
    import json

    from curate import pipeline, quality, store

    design = quality.QualityDesign(labels=args.labels, min_failed=args.min_failed, teacher=args.teacher,
                                   folds=args.folds, seed=args.seed)
    with pipeline.recorded_run(args.db, "quality train", vars_of(args)) as ctx:
        rep = quality.train_quality(ctx.con, args.db, design, reference=args.reference,
                                    on_log=lambda m: log(m, quiet=args.quiet))
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"positive": rep.n_positive, "negative": rep.n_negative,
                                                 "reference": rep.n_reference, "rescored": rep.rescored}))
    print(f"quality model: {rep.model_path} ({design.labels} labels: {rep.n_positive:,} clean-with-margin vs "
          f"{rep.n_negative:,} junk documents" + (f", {rep.n_reference:,} reference" if rep.n_reference else "")
          + f"; {rep.seconds:.1f}s)")
    _print_metrics(rep.heldout)
    print(f"rescored `quality` for {rep.rescored:,} documents")
    return int(ExitCode.OK)


def cmd_quality_eval(args) -> int:
    from curate import quality

    _print_metrics(quality.eval_quality(args.db))
    return int(ExitCode.OK)


def _print_metrics(metrics: dict) -> None:
    print(format_table(["held-out metric", "value"], [[k, v] for k, v in metrics.items()]))


def cmd_dedup(args) -> int:
    import json

    from curate import pipeline, store
    from curate.console import Progress
    from curate.dedup import lsh, minhash
    from curate.engines import signature_device

    thresholds = args.threshold or [0.8]
    if args.explain:
        with store.open_store(args.db, read_only=True) as con:
            for t in thresholds:
                rows = lsh.explain(con, args.explain, t)
                if not rows:
                    print(f"{args.explain}: no near-duplicate at threshold {t}")
                    continue
                print(f"cluster of {args.explain} at threshold {t}:")
                print(format_table(["doc_id", "external id", "kept", "est. Jaccard", "bytes", "text"], rows))
        return int(ExitCode.OK)
    spec = minhash.SignatureSpec(num_perm=args.num_perm, seed=args.seed, ngram=args.ngram)
    device = signature_device(args.device)
    reports = []
    engine = _engine(args)  # before the lock
    with pipeline.recorded_run(args.db, "dedup", vars_of(args)) as ctx:
        total = store.unsigned_count(ctx.con)
        bar = Progress("signatures", total, quiet=args.quiet)
        for t in thresholds:
            reports.append(engine.dedup(ctx.con, args.db, t, spec, ctx.run_id, device=device, on_batch=bar.update))
        bar.close()
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps([r.__dict__ for r in reports]))
    print(format_table(
        ["threshold", "LSH bands x rows", "new signatures", "candidate pairs", "newly verified", "edges",
         "clusters", "duplicates"],
        [[r.threshold, r.setting, r.new_signatures, r.candidate_pairs, r.new_pairs_verified, r.edges,
          r.clusters, r.duplicates] for r in reports]))
    return int(ExitCode.OK)


def cmd_slice(args) -> int:
    import json

    from curate import pipeline, recipes, store

    recipe = recipes.load_recipe(args.recipe)
    with pipeline.recorded_run(args.db, "slice", vars_of(args)) as ctx:
        res = recipes.build_slice(ctx.con, recipe, ctx.run_id)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"slice": res.slice_id, "kept": res.n_kept, "dropped": res.n_dropped}))
    print_slice(res)
    return int(ExitCode.OK)


def print_slice(res) -> None:
    print(f"slice {res.slice_id}: {res.n_documents:,} documents = kept {res.n_kept:,} + dropped {res.n_dropped:,} "
          f"({res.kept_bytes / 1e6:.2f} MB kept)" + ("" if res.new else "; already stored with these decisions"))
    if res.reasons:
        print(format_table(["drop reason", "documents"], res.reasons))


def cmd_recipes(args) -> int:
    from curate import recipes

    if args.name:
        print(recipes.load_recipe(args.name).to_yaml(), end="")
        return int(ExitCode.OK)
    rows = []
    for name in recipes.shipped_recipe_names():
        r = recipes.load_recipe(name)
        rows.append([name, len(r.rules), r.dedup.exact, r.dedup.near_threshold, r.description])
    print(format_table(["recipe", "rules", "exact dedup", "near threshold", "description"], rows))
    return int(ExitCode.OK)


def cmd_explain(args) -> int:
    from curate import explain, store

    with store.open_store(args.db, read_only=True) as con:
        print(explain.explain_document(con, args.doc_id, args.slice))
    return int(ExitCode.OK)


def _existing(path: Path, option: str) -> Path:
    from curate.errors import UsageError

    if not path.exists():
        raise UsageError(f"{option} {path}: no such file or folder")
    return path


def vars_of(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def cmd_run(args) -> int:
    from curate import pipeline, recipes
    from curate.ingest import IngestOptions

    recipe = recipes.load_recipe(args.recipe)
    opts = IngestOptions(text_field=args.text_field, id_field=args.id_field, max_doc_bytes=args.max_doc_bytes)
    rep = pipeline.run_pipeline(
        args.db, recipe, args.input, opts=opts, out=args.out, formats=args.format or ["parquet"],
        device=args.device, validate_slice=not args.no_validate, engine=_engine(args),
        on_stage=lambda name: log(f"stage: {name}", quiet=args.quiet),
    )
    if rep.nothing_to_do:
        print(f"run {rep.run_id}: nothing to do ({rep.message})")
        return int(ExitCode.NOTHING_TO_DO if args.exit_5_when_idle else ExitCode.OK)
    ing = rep.ingest
    if rep.quality is not None:
        from curate.quality import quality_note

        print(f"run {rep.run_id}: {quality_note(rep.quality)}")
    print(f"run {rep.run_id}: records read {ing.records:,} = ingested {ing.documents:,} + quarantined "
          f"{ing.quarantined:,}; files skipped {len(ing.skipped)}, failed {len(ing.failed)}; scored {rep.scored:,}")
    for f in ing.failed:
        print(f"curate: {f.error}", file=sys.stderr)
    print_slice(rep.slice)
    if rep.validation is not None:
        v = rep.validation
        print(f"validation: {'passed' if v.success else 'FAILED'} "
              f"({', '.join(v.failed_checks()) or 'all checks hold'}); Data Docs: {v.docs_path or 'not written'}")
    for p in rep.exports:
        print(f"exported {p}")
    return rep.exit_code


def cmd_check(args) -> int:
    from curate import store
    from curate.invariants import check_invariants

    with store.open_store(args.db, read_only=True) as con:
        results = check_invariants(con)
    print(format_table(["invariant", "holds", "detail"], [[n, "yes" if ok else "NO", d] for n, ok, d in results]))
    return int(ExitCode.OK if all(ok for _, ok, _ in results) else ExitCode.INVARIANT_BROKEN)


def cmd_export(args) -> int:
    from curate import recipes, store
    from curate.export import export_slice

    with store.open_store(args.db, read_only=True) as con:
        sid, _ = recipes.resolve_slice(con, args.slice)
        path = export_slice(con, sid, args.out, args.format, redact=args.redact_pii)
    print(f"exported {path}")
    return int(ExitCode.OK)


def cmd_train(args) -> int:
    import json

    from curate import pipeline, store
    from curate.quality import load_model_or_none
    from curate.resources import sample_file
    from train.pipeline import (
        COMPARISON_HEADERS,
        TrainPlan,
        check_plan,
        comparison,
        load_prompts,
        load_val_text,
        train_slices,
    )

    plan = TrainPlan(tokens=args.tokens, seeds=tuple(range(args.seeds)), preset=args.preset, device=args.device,
                     compile=args.compile, batch_size=args.batch_size)
    # every argument is checked before the store is opened: a typo trains, records and deletes nothing
    check_plan(plan)
    val_text = args.val_text or sample_file("validation.txt")
    load_val_text(val_text, "--val-text")
    prompts = args.prompts or sample_file("prompts.jsonl")
    load_prompts(prompts, "--prompts")
    with pipeline.recorded_run(args.db, "train", vars_of(args)) as ctx:
        rows = train_slices(ctx.con, args.db, args.slice, plan, val_text_path=val_text, prompts_path=prompts,
                            quality_model=load_model_or_none(args.db),
                            on_log=lambda m: log(m, quiet=args.quiet))
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"models": len(rows)}))
    for r in rows:
        print(f"{r['train_run_id']}: bits/byte {r['bpb']:.4f}, {r['tokens_per_s']:,.0f} tokens/s on {r['device']}"
              + (f", MFU {r['mfu']:.1%}" if r.get("mfu") else ""))
    print()
    print(format_table(COMPARISON_HEADERS, comparison(rows)))
    return int(ExitCode.OK)


def cmd_eval(args) -> int:
    from curate import store
    from curate.errors import UsageError
    from train.evaluate import bits_per_byte
    from train.pipeline import load_val_text
    from train.tokenizer import load_tokenizer
    from train.trainer import CheckpointError, load_checkpoint, pick_device

    text = load_val_text(args.val_text, "--val-text")
    try:
        device = pick_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device {args.device}: {exc}") from exc
    with store.open_store(args.db, read_only=True) as con:
        row = con.execute("SELECT checkpoint, slice_name FROM train_runs WHERE train_run_id = ?",
                          [args.run]).fetchone()
    if row is None:
        raise UsageError(f"no trained model {args.run!r}; `curate train` lists the ids it makes")
    tok = load_tokenizer()
    try:
        ckpt = load_checkpoint(row[0], device, tokenizer=tok.name)
    except CheckpointError as exc:
        # the arguments are right, the stored file is not: a failure (1), as for an unreadable input file
        raise CurateError(f"{exc}; train the model again with `curate train --slice {row[1]}`") from exc
    print(f"{args.run} on {args.val_text}: {bits_per_byte(ckpt.model, tok, text, device):.4f} bits/byte")
    return int(ExitCode.OK)


APP_EXTRA_HINT = "install it with: `pip install 'curate[app]'`"


def require_app_extra(command: str, modules: tuple[str, ...]) -> None:
    """An optional dependency missing: say which command needs which extra, not a traceback."""
    import importlib.util

    from curate.errors import UsageError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"`{command}` needs {', '.join(missing)} (not installed); {APP_EXTRA_HINT}")


def cmd_app(args) -> int:
    require_app_extra("curate app", ("streamlit", "altair"))
    from curate.dashboard.launch import launch

    return launch(args.db, args.port)


def cmd_audit(args) -> int:
    require_app_extra("curate audit", ("altair", "vl_convert"))
    from curate.audit import run_audit

    return run_audit(args.db, args.slice, args.html)


if __name__ == "__main__":
    sys.exit(main())
