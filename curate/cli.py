"""The `curate` command line: parses arguments, calls the engine, prints. No logic of its own."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

from curate.console import FORMATS, format_table, log, print_csv, print_json, safe_output
from curate.errors import EXIT_CODES_HELP, CurateError, ExitCode
from curate.remote import is_url, location


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


def split_spec(text: str) -> dict[str, float]:
    """An argparse type: 'train=0.98,val=0.01,test=0.01' -> {name: fraction}, every fraction
    finite and > 0, the names distinct plain words, the fractions summing to 1 (within 1e-9)."""
    import math
    import re

    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not NAME=FRACTION (e.g. train=0.98,val=0.02)")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", name):
            raise argparse.ArgumentTypeError(f"split name {name!r}: 1-32 letters, digits, '_' or '-'")
        if name in out:
            raise argparse.ArgumentTypeError(f"split {name!r} is given twice")
        try:
            fraction = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={value.strip()!r}: the fraction is not a number") from None
        if not math.isfinite(fraction) or fraction <= 0:
            raise argparse.ArgumentTypeError(f"{name}={value.strip()}: a fraction must be > 0")
        out[name] = fraction
    total = math.fsum(out.values())
    if abs(total - 1.0) > 1e-9:
        raise argparse.ArgumentTypeError(f"the fractions sum to {total:.10g}, not 1")
    return out


URLS_HELP = """\
Any input or output may be an fsspec URL: s3://, gs://, hf://, file:// (install
`pip install 'curate[remote]'`; gcsfs for gs://). Credentials and endpoints come from
each store's own environment and config (AWS_* variables and ~/.aws for S3,
GOOGLE_APPLICATION_CREDENTIALS for GCS, HF_TOKEN for hf://), never from curate's files."""


def _add_training_options(p: argparse.ArgumentParser, *, compile_option: bool) -> None:
    """The options of every command that trains models (train, sweep)."""
    p.add_argument("--tokens", type=int_in(1), default=300_000,
                   help="training tokens per model, at least one batch (default 300k)")
    p.add_argument("--seeds", type=int_in(1, 100), default=1, help="seeds per slice (0..K-1)")
    p.add_argument("--preset", default="small", help="model size: tiny, small or gpu")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    if compile_option:
        p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    p.add_argument("--batch-size", type=int_in(1, 65536), default=16, help="sequences per step (default 16)")
    p.add_argument("--val-text", type=location, default=None,
                   help="clean UTF-8 text for bits-per-byte, a file or URL (default: the bundled validation.txt)")
    p.add_argument("--prompts", type=location, default=None,
                   help="prompts JSONL for generations and memorization, a file or URL "
                        "(default: the bundled prompts.jsonl)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("curate.duckdb"),
                   help="the DuckDB store (default: ./curate.duckdb)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or logs on stderr")


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes."""
    return sub.add_parser(name, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kwargs)


def _add_format(p: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS) -> None:
    what = {"table": "table (default; fits the terminal)", "json": "json (one document on stdout)",
            "csv": "csv (a header and one line per row)"}
    p.add_argument("--format", choices=formats, default="table", dest="output",
                   help="what to print: " + ", ".join(what[f] for f in formats)
                        + "; logs and notices go to stderr")


def _version() -> str:
    from importlib import metadata

    try:
        return f"curate {metadata.version('curate')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "curate (version unknown: not installed)"


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
    parser.add_argument("--version", action="version", version=_version(),
                        help="print curate's version (the installed package's) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = _command(sub, "ingest", help="read corpus files into the store",
                       description="Read JSONL (.gz/.zst), Parquet, CSV, folders of .txt and .html files, "
                                   "and WARC/WET crawls (.warc, .warc.gz, .warc.zst, .wet.gz: main text by "
                                   "--html-extractor). "
                                   "Bad records go to the quarantine table; a file already ingested "
                                   "(same sha256) is skipped.\n\n" + URLS_HELP)
    _add_common(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs (or URLs: s3://bucket/dir/*.jsonl)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--id-field", default=None, help="field holding your own document id")
    p.add_argument("--max-doc-bytes", type=int_in(1), default=10 * 1024 * 1024,
                   help="quarantine documents larger than this (default: 10 MB)")
    p.add_argument("--html-extractor", choices=["resiliparse", "trafilatura"], default="resiliparse",
                   help="main text of HTML pages and WARC records (default: resiliparse; see docs/web.md)")
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

    p = _command(sub, "runs", help="list the run history with its counts; --trained: the trained models")
    _add_common(p)
    p.add_argument("--limit", type=int_in(1), default=20, help="at most this many rows, newest first (default 20)")
    p.add_argument("--trained", action="store_true",
                   help="list the trained models instead (train_run_id, slice, seed, tokens, bits/byte, device)")
    _add_format(p)
    p.set_defaults(func=cmd_runs)

    p = _command(sub, "quarantine", help="list quarantined records (file, record, error)")
    _add_common(p)
    p.add_argument("--limit", type=int_in(1), default=50, help="at most this many records (default 50)")
    _add_format(p)
    p.set_defaults(func=cmd_quarantine)
    p = _command(sub, "signals", help="list the signal registry (name, version, meaning, range, source)")
    p.add_argument("names", nargs="*", metavar="SIGNAL", help="only these signals (default: all)")
    p.add_argument("--family", default=None, help="only this family (gopher, c4, fineweb, ...)")
    _add_format(p)
    p.set_defaults(func=cmd_signals)

    p = _command(sub, "score", help="compute every signal for documents not yet scored")
    _add_common(p)
    p.add_argument("--workers", type=int_in(1, 1024), default=None, help="processes (default: all cores)")
    p.add_argument("--batch-size", type=int_in(1, 1_000_000), default=2000,
                   help="documents per batch, each committed on its own (default 2000)")
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
    q.add_argument("--reference", type=location, default=None,
                   help="clean reference documents (JSONL with a text field; a file or URL) for --labels *reference")
    q.add_argument("--min-failed", type=int_in(1), default=1,
                   help="negatives fail at least this many of the precise content rules (default 1)")
    q.add_argument("--teacher", choices=["precise", "published"], default="precise",
                   help="the rules that label: the published content rules but those that drop clean "
                        "genres (precise, default), or all of them")
    q.add_argument("--folds", type=int_in(2, 20), default=3, help="out-of-fold scoring folds (default 3)")
    q.add_argument("--seed", type=int, default=0, help="seed of the folds and of fastText (default 0)")
    q.add_argument("--workers", type=int_in(1, 1024), default=None,
                   help="models trained side by side (default: all cores; same scores for any number)")
    q.set_defaults(func=cmd_quality_train)
    q = _command(qsub, "eval", help="the held-out (out-of-fold) figures of the stored model")
    _add_common(q)
    q.set_defaults(func=cmd_quality_eval)

    p = _command(sub, "dedup", help="exact and MinHash near-duplicate clusters")
    _add_common(p)
    p.add_argument("--threshold", type=jaccard_threshold, action="append", default=None,
                   help="Jaccard threshold; repeat for several (default: 0.8)")
    p.add_argument("--num-perm", type=int_in(2, 4096), default=128,
                   help="MinHash permutations per signature (default 128)")
    p.add_argument("--ngram", type=int_in(1, 64), default=5, help="words per shingle (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the MinHash permutations (default 1)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (signatures)")
    p.add_argument("--explain", metavar="DOC_ID", default=None, help="list a document's cluster")
    _add_engine(p)
    p.set_defaults(func=cmd_dedup)

    p = _command(sub, "decontaminate", help="mark documents that overlap evaluation benchmarks (13-gram rule)",
                 description="Builds an index of each benchmark's word n-grams (13 by default, as GPT-3 did;\n"
                             "case, punctuation and Unicode forms ignored) and marks every document sharing one\n"
                             "with an item; a recipe drops them with `decontam_overlap: [NAME]`. Items shorter\n"
                             "than --ngram words are matched whole, those under --min-words not at all. A rerun\n"
                             "checks only new documents; a changed benchmark file checks all again. Without\n"
                             "--benchmark: the report of what the store holds.")
    _add_common(p)
    p.add_argument("--benchmark", action="append", default=None, metavar="NAME=FILE",
                   help="a benchmark: JSONL (.jsonl/.json, optionally .gz) with a text field, or text with "
                        "one item a line; FILE a path or URL (repeat)")
    p.add_argument("--ngram", type=int_in(1, 64), default=13, help="words per n-gram (default 13)")
    p.add_argument("--min-words", type=int_in(1, 64), default=None,
                   help="items of fewer words are not checked (default 8, or --ngram if smaller)")
    p.add_argument("--text-field", default="text", help="the JSONL field holding an item's text (default: text)")
    p.add_argument("--id-field", default="id", help="the JSONL field holding an item's id (default: id)")
    p.add_argument("--batch-size", type=int_in(1, 1_000_000), default=2000,
                   help="documents per batch, each committed on its own (default 2000)")
    _add_format(p)
    p.set_defaults(func=cmd_decontaminate)

    p = _command(sub, "slice", help="build a slice from a recipe (a shipped name or a YAML path)")
    _add_common(p)
    p.add_argument("recipe", help="recipe name or YAML file")
    p.set_defaults(func=cmd_slice)

    p = _command(sub, "recipes", help="list the shipped recipes, or print one as written, with its comments",
                 description="With a NAME (or a YAML path), print the recipe file as written, its rationale\n"
                             "comments included, after checking it; the file's path goes to stderr as a YAML\n"
                             "comment. --format json prints the resolved recipe instead.")
    p.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="a shipped recipe's name or a YAML file (default: list the shipped ones)")
    _add_format(p)
    p.set_defaults(func=cmd_recipes)

    p = _command(sub, "explain", help="every signal of a document, and why a slice kept or dropped it")
    _add_common(p)
    p.add_argument("doc_id", help="doc_id or your external id")
    p.add_argument("--slice", default=None, help="slice name or id")
    _add_format(p)
    p.set_defaults(func=cmd_explain)
    p = _command(sub, "run", help="the scheduled job: ingest new files, score, dedup, slice, validate, export",
                       description="Incremental and idempotent: a second run with no new input changes nothing. "
                                   "Safe to kill: each stage is a transaction; the next run resumes.\n\n" + URLS_HELP)
    _add_common(p)
    p.add_argument("recipe", help="recipe name or YAML file")
    p.add_argument("--input", "-i", action="append", required=True, metavar="GLOB",
                   help="input files, folders or globs (repeat)")
    p.add_argument("--out", type=location, default=None, help="export the slice into this folder (or URL)")
    p.add_argument("--format", action="append", choices=["parquet", "jsonl"], default=None,
                   help="export format (repeat; default parquet)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--id-field", default=None, help="field holding your own document id")
    p.add_argument("--max-doc-bytes", type=int_in(1), default=10 * 1024 * 1024,
                   help="quarantine documents larger than this (default: 10 MB)")
    p.add_argument("--html-extractor", choices=["resiliparse", "trafilatura"], default="resiliparse",
                   help="main text of HTML pages and WARC records (default: resiliparse; see docs/web.md)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (MinHash signatures)")
    p.add_argument("--workers", type=int_in(1, 1024), default=None, help="scoring processes (default: all cores)")
    p.add_argument("--no-validate", action="store_true", help="skip the Great Expectations suite")
    p.add_argument("--exit-5-when-idle", action="store_true",
                   help="exit with 5 instead of 0 when there was nothing to do")
    _add_engine(p)
    p.set_defaults(func=cmd_run)

    p = _command(sub, "check", help="verify the store's invariants (nothing lost, every drop explained)")
    _add_common(p)
    _add_format(p)
    p.set_defaults(func=cmd_check)

    p = _command(sub, "export", help="write a slice's kept documents to Parquet or JSONL",
                 description="One file '<slice id>.<format>' in --out, written under a temporary name, checked\n"
                             "and renamed into place. --split writes one file per split instead,\n"
                             "'<slice id>.<split>.<format>', each document's split decided by a hash of its\n"
                             "normalized text: the same on every run and every re-export, and copies of one\n"
                             "text always in one split, so a duplicate cannot leak from train into test.\n\n"
                             + URLS_HELP)
    _add_common(p)
    p.add_argument("slice", help="slice name or id")
    p.add_argument("--out", type=location, required=True,
                   help="the folder to write into (created if missing), or a URL (s3://bucket/exports)")
    p.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="file format (default parquet)")
    p.add_argument("--redact-pii", action="store_true", help="replace e-mails, phones, IPs and card numbers")
    p.add_argument("--split", type=split_spec, default=None, metavar="NAME=FRACTION,...",
                   help="deterministic splits, e.g. train=0.98,val=0.01,test=0.01 (fractions > 0, summing to 1)")
    p.set_defaults(func=cmd_export)
    p = _command(sub, "train", help="train one small LM per slice at an equal token budget",
                       description="Same tokenizer, hyperparameters, seeds and token budget for every slice; "
                                   "records bits-per-byte on clean validation text and generation quality.")
    _add_common(p)
    p.add_argument("--slice", action="append", required=True, help="slice name or id (repeat)")
    _add_training_options(p, compile_option=True)
    p.set_defaults(func=cmd_train)

    p = _command(sub, "sweep", help="one slice per value of a recipe's threshold, one model per slice and seed",
                 description="Derives a recipe per value (RECIPE with its rule on --signal set to the value), builds\n"
                             "its slice, trains one model per slice and seed at the same --tokens, and prints the\n"
                             "curve: kept share, tokens, epochs over the slice and every recorded metric against\n"
                             "the value. Rerun the same command to resume: pairs already trained are skipped.\n"
                             "Values whose slice is read more than 4 times are marked data-constrained.")
    _add_common(p)
    p.add_argument("recipe", help="the base recipe: a shipped name or a YAML file")
    p.add_argument("--signal", required=True, help="the signal whose rule the values set (e.g. quality)")
    p.add_argument("--values", type=float, nargs="+", required=True, metavar="V",
                   help="the bounds to try, one slice each")
    p.add_argument("--bound", choices=["min", "max"], default=None,
                   help="which side of the rule the values set (default: the side the rule has)")
    _add_training_options(p, compile_option=False)
    _add_format(p)
    p.set_defaults(func=cmd_sweep)

    p = _command(sub, "eval", help="bits-per-byte of a trained model on any text")
    _add_common(p)
    p.add_argument("run", help="train_run_id (`curate runs --trained` lists them)")
    p.add_argument("--val-text", type=location, required=True,
                   help="clean UTF-8 text to measure bits-per-byte on (a file or URL)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=cmd_eval)
    p = _command(sub, "app", help="open the dashboard (Streamlit) on a store")
    p.add_argument("--db", type=Path, default=Path("curate.duckdb"), help="the DuckDB store (default: ./curate.duckdb)")
    p.add_argument("--port", type=int_in(1, 65535), default=None, help="port (default 8501)")
    p.set_defaults(func=cmd_app)

    p = _command(sub, "audit", help="corpus audit as tables; --html writes a self-contained report")
    _add_common(p)
    p.add_argument("--slice", default=None, help="only this slice's drop reasons (name or id)")
    p.add_argument("--html", type=location, default=None, metavar="FILE",
                   help="also write an offline HTML report (a path or a URL)")
    _add_format(p, ("table", "json"))
    p.set_defaults(func=cmd_audit)
    return parser


# `curate signals | head -1`: the reader has gone, as a Unix tool's would be killed by SIGPIPE
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help and --version
            return int(exc.code or 0)
        previous = _on_sigterm_raise()
        try:
            with safe_output():
                code = _run(args)
                sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
                return code
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """stdout's reader closed the pipe (`| head`): stop quietly, as a Unix tool does. stdout is
    pointed at /dev/null, so the interpreter's own flush at exit cannot complain either."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_BROKEN_PIPE


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except CurateError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return int(ExitCode.FAILED)
    except Exception as exc:
        if not _out_of_memory(exc):
            raise
        from curate.store import MEMORY_LIMIT

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"curate: the store's database ran out of its memory limit ({MEMORY_LIMIT}, set by "
              f"CURATE_MEMORY_LIMIT) and could not spill to disk ({first}). The failed step's changes were rolled "
              "back; what earlier steps stored is kept. Raise CURATE_MEMORY_LIMIT (e.g. CURATE_MEMORY_LIMIT=4GB) "
              "and run the command again", file=sys.stderr)
        return int(ExitCode.FAILED)
    except Terminated:
        print("curate: terminated (SIGTERM); the run is recorded as failed", file=sys.stderr)
        return int(ExitCode.FAILED)


def _out_of_memory(exc: Exception) -> bool:
    """DuckDB's OutOfMemoryException (duckdb is imported only by the commands that open a store)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException)


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

    opts = IngestOptions(text_field=args.text_field, id_field=args.id_field, max_doc_bytes=args.max_doc_bytes,
                         html_extractor=args.html_extractor)

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


# --- reading: every command that only reads takes --format, and reads the published
# snapshot while a job holds the store ------------------------------------------------------


@contextlib.contextmanager
def _reading(db: Path):
    """A read-only connection and what it reads (store.read_view); says so on stderr when it
    is the snapshot because a job holds the store."""
    from curate import store

    with store.read_view(db) as (con, view):
        if view.notice:
            print(f"curate: {view.notice}", file=sys.stderr)
        yield con, view


def _emit(fmt: str, keys: list[str], records: list[dict], *, key: str, table, extra: dict | None = None) -> None:
    """Print `records` as --format says: json {**extra, key: records}, csv (keys as the header),
    or the table `table()` returns (headers, rows)."""
    if fmt == "json":
        print_json({**(extra or {}), key: [{k: r.get(k) for k in keys} for r in records]})
    elif fmt == "csv":
        print_csv(keys, records)
    else:
        headers, rows = table()
        print(format_table(headers, rows))


def did_you_mean(name: str, known) -> str:
    """'; did you mean 'gopher_word_count'?' for a near miss, else ''."""
    import difflib

    known = list(known)
    close = difflib.get_close_matches(name, known, n=3)
    if not close and len(name) >= 4:  # 'gopherr': a word of a longer name, mistyped at its end
        close = [k for k in known if k.startswith(name[:-1])][:3]
    if not close:
        return ""
    names = [repr(c) for c in close]
    return "; did you mean " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}") + "?"


def _resolve_slice(con, name: str) -> tuple[str, str]:
    """A slice by name or id (recipes.resolve_slice), an unknown one with the names near it."""
    from curate import recipes, store
    from curate.errors import UsageError

    try:
        return recipes.resolve_slice(con, name)
    except UsageError as exc:
        names = store.slice_names(con)
        hint = did_you_mean(name, names)
        if not hint:
            raise
        raise UsageError(f"no slice {name!r}{hint} (built: {', '.join(names)})") from exc


def _load_recipe(name: str):
    """recipes.load_recipe, an unknown shipped name with the names near it."""
    from curate import recipes

    if not is_url(name) and Path(name).suffix not in (".yaml", ".yml") and not Path(name).exists():
        known = recipes.shipped_recipe_names()
        if name not in known and did_you_mean(name, known):
            raise recipes.RecipeError(f"unknown recipe {name!r}{did_you_mean(name, known)} "
                                      f"(give a YAML path or one of {', '.join(known)})")
    return recipes.load_recipe(name)


def cmd_runs(args) -> int:
    from curate import store

    with _reading(args.db) as (con, view):
        if args.trained:
            records = store.trained_runs(con)[: args.limit]
        else:
            records = store.run_history(con, args.limit)
    extra = {"snapshot": view.as_json()}
    if args.trained:
        keys = ["train_run_id", "slice_name", "slice_id", "seed", "tokens", "bpb", "device", "created_at"]
        _emit(args.output, keys, records, key="trained_runs", extra=extra, table=lambda: (
            ["train_run_id", "slice", "seed", "tokens", "bits/byte", "device", "created (UTC)"],
            [[r["train_run_id"], r["slice_name"], r["seed"], r["tokens"], r["bpb"], r["device"],
              _when(r["created_at"])] for r in records]))
        if args.output == "table" and not records:
            print("no trained models: `curate train --slice S` trains one", file=sys.stderr)
        return int(ExitCode.OK)
    for r in records:
        r["seconds"] = (None if r["finished_at"] is None or r["started_at"] is None
                        else round((r["finished_at"] - r["started_at"]).total_seconds(), 1))
    keys = ["run_id", "command", "status", "exit_code", "started_at", "finished_at", "seconds", "records_read",
            "documents_ingested", "quarantined", "files_failed", "message"]
    _emit(args.output, keys, records, key="runs", extra=extra, table=lambda: (
        ["run", "command", "status", "exit", "started (UTC)", "secs", "read", "ingested", "quarantined",
         "files failed", "message"],
        [[r["run_id"], r["command"], r["status"], r["exit_code"], _when(r["started_at"]), r["seconds"],
          r["records_read"], r["documents_ingested"], r["quarantined"], r["files_failed"], r["message"] or ""]
         for r in records]))
    return int(ExitCode.OK)


def _when(t) -> str:
    return "" if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def cmd_quarantine(args) -> int:
    from curate import store

    with _reading(args.db) as (con, view):
        records = store.quarantined_records(con, args.limit)
        total = store.count_rows(con, "quarantine")
    keys = ["uri", "record_no", "error_kind", "error"]
    _emit(args.output, keys, records, key="records", extra={"snapshot": view.as_json(), "total": total},
          table=lambda: (["file", "record", "kind", "error"], [[r[k] for k in keys] for r in records]))
    if args.output == "table":
        print(f"\n{total:,} quarantined records in all")
    elif args.output == "csv" and total > len(records):
        print(f"curate: {len(records):,} of {total:,} quarantined records (--limit)", file=sys.stderr)
    return int(ExitCode.OK)


def cmd_signals(args) -> int:
    from curate.errors import UsageError
    from curate.signals import SIGNALS_VERSION, signals

    registry = signals()
    families = sorted({s.family for s in registry})
    if args.family is not None and args.family not in families:
        raise UsageError(f"unknown family {args.family!r}{did_you_mean(args.family, families)} "
                         f"(families: {', '.join(families)})")
    names = [s.name for s in registry]
    for name in args.names:
        if name not in names:
            raise UsageError(f"unknown signal {name!r}{did_you_mean(name, names)} (`curate signals` lists them)")
    chosen = [s for s in registry if (args.family is None or s.family == args.family)
              and (not args.names or s.name in args.names)]
    keys = ["name", "family", "version", "dtype", "lo", "hi", "default_min", "default_max", "meaning", "source"]
    records = [{k: getattr(s, k) for k in keys} for s in chosen]
    _emit(args.output, keys, records, key="signals", extra={"signals_version": SIGNALS_VERSION}, table=lambda: (
        ["signal", "family", "version", "type", "range", "default keep", "meaning", "source"],
        [[s.name, s.family, s.version, s.dtype, _range(s.lo, s.hi), _range(s.default_min, s.default_max),
          s.meaning, s.source] for s in chosen]))
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
                                    on_log=lambda m: log(m, quiet=args.quiet), workers=args.workers)
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
        with _reading(args.db) as (con, _view):
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


def cmd_decontaminate(args) -> int:
    import json

    from curate import decontam, pipeline, store
    from curate.console import Progress

    if not args.benchmark:
        with _reading(args.db) as (con, _view):
            summaries, leaked = decontam.report(con)
        return _print_decontam(args.output, summaries, leaked)
    specs = [decontam.parse_benchmark_arg(b) for b in args.benchmark]
    benches = [decontam.load_benchmark(sp, ngram=args.ngram, min_words=args.min_words, text_field=args.text_field,
                                       id_field=args.id_field) for sp in specs]  # before the lock
    with pipeline.recorded_run(args.db, "decontaminate", vars_of(args)) as ctx:
        bar = Progress("decontaminate", store.count_rows(ctx.con, "documents"), quiet=args.quiet)
        rep = decontam.decontaminate(ctx.con, benches, ctx.run_id, batch_size=args.batch_size, on_batch=bar.update)
        bar.close()
        summaries, leaked = decontam.report(ctx.con, [b.name for b in benches])
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"checked": rep.scanned, "remarked": rep.remarked,
                                                 "new_hits": rep.new_hits}))
    for name in rep.remarked:
        log(f"benchmark {name}: its file or settings changed; every document was checked again", quiet=args.quiet)
    log("checked " + ", ".join(f"{n}: {k:,} documents" for n, k in rep.scanned.items()), quiet=args.quiet)
    return _print_decontam(args.output, summaries, leaked)


_DECONTAM_KEYS = ["benchmark", "item_no", "item_id", "n_words", "documents", "preview"]


def _print_decontam(fmt: str, summaries: list[dict], leaked: list[dict]) -> int:
    if fmt == "json":
        print_json({"benchmarks": summaries, "leaked_items": leaked})
    elif fmt == "csv":
        print_csv(_DECONTAM_KEYS, leaked)
    else:
        if not summaries:
            print("no benchmark checked yet: run `curate decontaminate --benchmark NAME=FILE`")
            return int(ExitCode.OK)
        print(format_table(
            ["benchmark", "n-gram", "items", "matched whole", "unchecked", "docs checked", "items leaked",
             "docs contaminated"],
            [[b["benchmark"], b["ngram"], b["items"], b["items_short"], b["items_unchecked"], b["documents_checked"],
              b["items_leaked"], b["documents_contaminated"]] for b in summaries]))
        if leaked:
            print(format_table(["benchmark", "item (line)", "id", "documents", "text"],
                               [[r["benchmark"], r["item_no"], r["item_id"] or "", r["documents"], r["preview"]]
                                for r in leaked]))
    return int(ExitCode.OK)


def cmd_slice(args) -> int:
    import json

    from curate import pipeline, recipes, store

    recipe = _load_recipe(args.recipe)
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
        return _show_recipe(args)
    records = []
    for name in recipes.shipped_recipe_names():
        r = recipes.load_recipe(name)
        records.append({"name": name, "rules": len(r.rules), "exact_dedup": r.dedup.exact,
                        "near_threshold": r.dedup.near_threshold, "redact_pii": r.redact_pii,
                        "recipe_id": r.recipe_id, "description": r.description, "path": str(_shipped_path(name))})
    keys = ["name", "rules", "exact_dedup", "near_threshold", "redact_pii", "recipe_id", "description", "path"]
    _emit(args.output, keys, records, key="recipes", table=lambda: (
        ["recipe", "rules", "exact dedup", "near threshold", "description"],
        [[r["name"], r["rules"], r["exact_dedup"], r["near_threshold"], r["description"]] for r in records]))
    if args.output == "table":
        print("\n`curate recipes NAME` prints one as written, with the reasons for its rules", file=sys.stderr)
    return int(ExitCode.OK)


def _shipped_path(name: str):
    from importlib import resources

    from curate.recipes import RECIPES_PACKAGE

    return resources.files(RECIPES_PACKAGE).joinpath(f"{name}.yaml")


def _show_recipe(args) -> int:
    """`curate recipes NAME`: the file as written (comments and all), checked first; its path on
    stderr as a YAML comment, so that stdout, and even stdout and stderr together, stay YAML."""
    from curate import recipes
    from curate.errors import UsageError

    recipe = _load_recipe(args.name)
    given = Path(args.name)
    if given.suffix in (".yaml", ".yml") or given.exists():
        path, text = given.resolve(), recipes.read_recipe_file(given)
    else:
        shipped = _shipped_path(args.name)
        path, text = shipped, shipped.read_text(encoding="utf-8")
    if args.output == "csv":
        raise UsageError("a recipe is not a table: `curate recipes NAME --format json` prints it as JSON")
    if args.output == "json":
        print_json({"name": recipe.name, "path": str(path), "recipe_id": recipe.recipe_id,
                    "recipe": recipe.to_dict(), "text": text})
        return int(ExitCode.OK)
    print(f"# {path}", file=sys.stderr)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return int(ExitCode.OK)


def cmd_explain(args) -> int:
    from curate import explain

    with _reading(args.db) as (con, view):
        if args.slice:
            _resolve_slice(con, args.slice)  # an unknown name with the names near it
        if args.output == "table":
            print(explain.explain_document(con, args.doc_id, args.slice))
            return int(ExitCode.OK)
        record = _explain_record(con, args.doc_id, args.slice)
    if args.output == "json":
        print_json({"snapshot": view.as_json(), **record})
    else:
        rows = [{"name": s["name"], "family": s["family"], "value": s["value"],
                 **{f"rule_{k}": (s["rule"] or {}).get(k) for k in ("min", "max", "allow", "status", "failed")},
                 "drop_reason": None if s["rule"] is None else s["rule"]["drop_reason"]}
                for s in record["signals"]]
        print_csv(["name", "family", "value", "rule_min", "rule_max", "rule_allow", "rule_status", "rule_failed",
                   "drop_reason"], rows)
    return int(ExitCode.OK)


def _explain_record(con, key: str, slice_name: str | None) -> dict:
    """What `curate explain` shows, as data: the document, every registry signal's stored value
    and, with a slice, each rule's bound and this document's pass or fail against it."""
    from curate import explain, recipes, store
    from curate.errors import UsageError
    from curate.signals import signals

    doc_id, external_id, text = explain.find_document(con, key)
    registry = signals()
    values = store.signal_values(con, doc_id, [s.name for s in registry]) or {}
    rules: dict[str, dict] = {}
    decided = None
    if slice_name:
        sid, name = _resolve_slice(con, slice_name)
        got = store.decision(con, sid, doc_id)
        if got is None:
            raise UsageError(f"slice {sid} has no decision for {doc_id}: it was ingested after the slice "
                             f"was built; `curate slice {name}` builds it again")
        kept, reason = got
        recipe = recipes.parse_recipe(store.slice_recipe_yaml(con, sid), origin=f"slice {sid}")
        failing = explain.rule_failures(con, recipe.rules, doc_id)
        for rule in recipe.rules:
            failed = failing.get(rule.signal)
            rules[rule.signal] = {
                "min": rule.min, "max": rule.max, "allow": None if rule.allow is None else list(rule.allow),
                "status": "not_scored" if failed is None else "fail" if failed else "ok",
                "failed": failed or [], "drop_reason": reason in [c for _, c, _ in recipes.rule_reasons(rule)]}
        decided = {"slice_id": sid, "name": name, "kept": kept, "reason": reason}
    return {"doc_id": doc_id, "external_id": external_id, "text": text, "slice": decided,
            "signals": [{"name": s.name, "family": s.family, "value": values.get(s.name), "rule": rules.get(s.name)}
                        for s in registry]}


def _existing(path: Path, option: str) -> Path:
    from curate.errors import UsageError

    if not path.exists():
        raise UsageError(f"{option} {path}: no such file or folder")
    return path


def vars_of(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def cmd_run(args) -> int:
    from curate import pipeline
    from curate.ingest import IngestOptions

    recipe = _load_recipe(args.recipe)
    opts = IngestOptions(text_field=args.text_field, id_field=args.id_field, max_doc_bytes=args.max_doc_bytes,
                         html_extractor=args.html_extractor)
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
        for message in v.failure_messages():  # what moved, by how much, against which bound
            print(f"  failed: {message}")
    for p in rep.exports:
        print(f"exported {p}")
    return rep.exit_code


def cmd_check(args) -> int:
    from curate.invariants import check_invariants

    with _reading(args.db) as (con, view):
        results = check_invariants(con)
    records = [{"invariant": n, "holds": bool(ok), "detail": d} for n, ok, d in results]
    ok = all(r["holds"] for r in records)
    _emit(args.output, ["invariant", "holds", "detail"], records, key="invariants",
          extra={"snapshot": view.as_json(), "ok": ok},
          table=lambda: (["invariant", "holds", "detail"],
                         [[r["invariant"], "yes" if r["holds"] else "NO", r["detail"]] for r in records]))
    return int(ExitCode.OK if ok else ExitCode.INVARIANT_BROKEN)


def cmd_export(args) -> int:
    from curate.export import export_slice, export_splits

    with _reading(args.db) as (con, _view):
        sid, _name = _resolve_slice(con, args.slice)
        if args.split is None:
            path = export_slice(con, sid, args.out, args.format, redact=args.redact_pii)
        else:
            parts = export_splits(con, sid, args.out, args.format, args.split, redact=args.redact_pii)
    if args.split is None:
        print(f"exported {path}")
        return int(ExitCode.OK)
    total = sum(p.documents for p in parts)
    print(format_table(["split", "fraction", "documents", "share", "file"],
                       [[p.name, p.fraction, p.documents, f"{p.documents / total:.2%}" if total else "-", str(p.path)]
                        for p in parts]))
    print(f"\nexported {total:,} documents of slice {sid} into {len(parts)} splits "
          "(by a hash of each document's normalized text)")
    for p in parts:
        if not p.documents:
            print(f"curate: split {p.name} holds no documents (the slice keeps {total:,})", file=sys.stderr)
    return int(ExitCode.OK)


def cmd_train(args) -> int:
    import json

    from curate import pipeline, store
    from curate.quality import load_model_or_none
    from curate.resources import sample_file
    from train.pipeline import (
        COMPARISON_HEADERS,
        VERDICT_HEADERS,
        TrainPlan,
        check_plan,
        comparison,
        exposure_table,
        load_prompts,
        load_val_text,
        train_slices,
        verdict_rows,
    )

    plan = TrainPlan(tokens=args.tokens, seeds=tuple(range(args.seeds)), preset=args.preset, device=args.device,
                     compile=args.compile, batch_size=args.batch_size)
    # every argument is checked before the store is opened: a typo trains, records and deletes nothing
    check_plan(plan)
    val_text = args.val_text or sample_file("validation.txt")
    load_val_text(val_text, "--val-text")
    prompts = args.prompts or sample_file("prompts.jsonl")
    load_prompts(prompts, "--prompts")
    _check_slices(args.db, args.slice)
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
    verdicts = verdict_rows(rows)
    if verdicts:
        print("\nevery metric against the baseline (beyond or within the seed spread, and which way):")
        print(format_table(VERDICT_HEADERS, verdicts))
    heads, exposure = exposure_table(rows)
    if exposure:
        print("\nexposure (bits/byte: held-out clean text minus training documents the corpus holds k times):")
        print(format_table(heads, exposure))
    return int(ExitCode.OK)


def cmd_sweep(args) -> int:
    import json

    from curate import pipeline, store, sweeps
    from curate.errors import UsageError
    from curate.quality import load_model_or_none
    from curate.resources import sample_file
    from train.pipeline import TrainPlan, load_prompts, load_val_text
    from train.sweep import SweepSpec, check_spec, run_sweep

    recipe = _load_recipe(args.recipe)
    plan = TrainPlan(tokens=args.tokens, seeds=tuple(range(args.seeds)), preset=args.preset, device=args.device,
                     batch_size=args.batch_size)
    spec = SweepSpec(recipe, args.signal, tuple(args.values), plan, bound=args.bound)
    try:  # everything is checked before the store is opened
        check_spec(spec)
    except sweeps.NoSuchRule as exc:
        raise UsageError(f"{exc}{did_you_mean(args.signal, exc.known)}") from exc
    val_text = args.val_text or sample_file("validation.txt")
    load_val_text(val_text, "--val-text")
    prompts = args.prompts or sample_file("prompts.jsonl")
    load_prompts(prompts, "--prompts")
    with pipeline.recorded_run(args.db, "sweep", vars_of(args)) as ctx:
        report = run_sweep(ctx.con, args.db, spec, val_text_path=val_text, prompts_path=prompts,
                           quality_model=load_model_or_none(args.db), run_id=ctx.run_id,
                           on_log=lambda m: log(m, quiet=args.quiet))
        rows = sweeps.sweep_curve(ctx.con, report.sweep_id)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0, counts_json=json.dumps(
            {"sweep": report.sweep_id, "trained": len(report.trained), "already_recorded": len(report.recorded),
             "adopted": len(report.adopted), "empty_slices": len(report.empty)}))
    done = (f"sweep {report.sweep_id}: trained {len(report.trained)}, already recorded {len(report.recorded)}"
            + (f", recorded from earlier training {len(report.adopted)}" if report.adopted else ""))
    note = sweeps.constrained_note(rows)
    empty = [f"{args.signal} {report.bound} {sweeps.value_text(v)}: the slice keeps no documents; nothing trained"
             for v in report.empty]
    if args.output == "table":
        print(done)
        for headers, table in sweeps.curve_tables(rows, args.signal, report.bound):
            print()
            print(format_table(headers, table))
        if any(r["epochs_from"] == "estimated" for r in rows):
            print("\n* epochs estimated from the slice's bytes (no model read it through once)")
        for line in ([note] if note else []) + empty:
            print(line)
        return int(ExitCode.OK)
    for line in [done, *([note] if note else []), *empty]:
        print(f"curate: {line}", file=sys.stderr)
    extra = {"sweep": {"sweep_id": report.sweep_id, "recipe": recipe.name, "signal": args.signal,
                       "bound": report.bound, "tokens": args.tokens, "preset": args.preset,
                       "trained": report.trained, "already_recorded": report.recorded, "adopted": report.adopted,
                       "empty_values": report.empty, "epoch_limit": sweeps.EPOCH_LIMIT}}
    _emit(args.output, sweeps.curve_keys(rows), rows, key="curve", table=lambda: ([], []), extra=extra)
    return int(ExitCode.OK)


def _check_slices(db: Path, names: list[str]) -> None:
    """Every --slice names a built slice (an unknown one with the names near it), before the
    writer lock is taken; a store locked now is left to the lock's own message."""
    from curate import store
    from curate.errors import StoreLockedError

    if not Path(db).is_file():
        return
    try:
        with store.open_store(db, read_only=True) as con:
            for name in names:
                _resolve_slice(con, name)
    except StoreLockedError:
        return


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
    with _reading(args.db) as (con, _view):
        row = con.execute("SELECT checkpoint, slice_name FROM train_runs WHERE train_run_id = ?",
                          [args.run]).fetchone()
        known = [] if row is not None else [r["train_run_id"] for r in store.trained_runs(con)]
    if row is None:
        raise UsageError(f"no trained model {args.run!r}{did_you_mean(args.run, known)}; "
                         "`curate runs --trained` lists them")
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
    if args.output == "json":
        return _audit_json(args)
    from curate.audit import run_audit

    if args.slice:
        with _reading(args.db) as (con, _view):  # an unknown name with the names near it
            _resolve_slice(con, args.slice)
    return run_audit(args.db, args.slice, args.html)


def _audit_json(args) -> int:
    """The audit's sections (curate/audit.py) as one JSON document: per section its title,
    note, columns and rows (and, where the terminal shows a summary instead, that too)."""
    from curate import audit

    with _reading(args.db) as (con, view):
        slice_id = _resolve_slice(con, args.slice)[0] if args.slice else None
        secs = audit.sections(con, slice_id)
    doc = {"store": str(args.db), "snapshot": view.as_json(), "slice_id": slice_id,
           "sections": [{"title": sec.title, "note": getattr(sec, "note", "") or "",
                         **_frame_json(sec.table),
                         "summary": None if getattr(sec, "text_table", None) is None
                         else _frame_json(sec.text_table)} for sec in secs]}
    print_json(doc)
    if args.html is not None:
        from curate.remote import write_text

        html_path = write_text(args.html, audit.to_html(secs, f"Corpus audit: {Path(args.db).name}", view.notice))
        print(f"wrote {html_path}", file=sys.stderr)
    return int(ExitCode.OK)


def _frame_json(frame) -> dict:
    if frame is None:
        return {"columns": [], "rows": []}
    columns = [str(c) for c in frame.columns]
    return {"columns": columns,
            "rows": [dict(zip(columns, row)) for row in frame.itertuples(index=False, name=None)]}


if __name__ == "__main__":
    sys.exit(main())
