"""The `curate` command line: parses arguments, calls the engine, prints. No logic of its own."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curate.console import format_table, log
from curate.errors import EXIT_CODES_HELP, CurateError, ExitCode

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=Path("curate.duckdb"),
                   help="the DuckDB store (default: ./curate.duckdb)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or logs on stderr")


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

    p = sub.add_parser("ingest", help="read corpus files into the store",
                       description="Read JSONL (.gz/.zst), Parquet, CSV and folders of .txt files. "
                                   "Bad records go to the quarantine table; a file already ingested "
                                   "(same sha256) is skipped.",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--id-field", default=None, help="field holding your own document id")
    p.add_argument("--max-doc-bytes", type=int, default=10 * 1024 * 1024,
                   help="quarantine documents larger than this (default: 10 MB)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("demo", help="run the pipeline on the bundled sample data",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(p)
    p.add_argument("--data", type=Path, default=SAMPLE_DATA, help="the sample data folder")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("runs", help="list the run history with its counts",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(p)
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("quarantine", help="list quarantined records (file, record, error)",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(p)
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_quarantine)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except CurateError as exc:
        print(f"curate: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("curate: interrupted", file=sys.stderr)
        return int(ExitCode.FAILED)


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
    from curate import jobs
    from curate.ingest import IngestOptions

    opts = IngestOptions(text_field=args.text_field, id_field=args.id_field, max_doc_bytes=args.max_doc_bytes)

    def on_file(res) -> None:
        log(f"{res.status}: {res.path} ({res.records} records)", quiet=args.quiet)

    run_id, report = jobs.ingest(args.db, args.paths, opts, on_file=on_file)
    _print_ingest(report, run_id)
    for f in report.failed:
        print(f"curate: {f.error}", file=sys.stderr)
    return int(ExitCode.FAILED if report.failed else ExitCode.OK)


def cmd_demo(args) -> int:
    from curate import demo

    return demo.run_demo(args.db, args.data, quiet=args.quiet)


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
        total = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    print(format_table(["file", "record", "kind", "error"], rows))
    print(f"\n{total:,} quarantined records in all")
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
