"""WARC records/s per core, reading and extracting, against warcio and datatrove in one run.

    python bench/bench_warc.py --copies 8 --out bench/results/warc.json

The WARC is the sample crawl (sample_data/web/crawl.warc.gz: real documentation pages and
labelled junk) concatenated `--copies` times (gzip members may follow each other), so every
side reads the same bytes. Each measurement runs in this one process, on one core (reads:
the best of 3 runs; extraction and ingest: one run):

reading (every WARC record, payload read; records/s):
- FastWARC on the file, its own gzip (native, the fastest way to use it);
- curate's reader without extraction: FastWARC over curate's Python gzip stream, which
  hashes the bytes as they pass (what `curate ingest` does before extracting);
- warcio's ArchiveIterator (what datatrove reads with);
- datatrove's WarcReader (warcio, plus its own type filter and charset detection; it yields
  only HTML pages, but reads every record).
extraction (response records in, pages/s):
- curate's reader with resiliparse (the default) and with trafilatura (charset, main text,
  the web signals' page counts, quarantine reasons);
- datatrove's WarcReader + its Trafilatura extractor with its defaults (favour_precision,
  deduplicate, a 1 s timeout per page, run in a sandbox process as datatrove does);
- `curate ingest` end to end into a fresh store (hashing, batches, DuckDB writes).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "sample_data" / "web" / "crawl.warc.gz"


def make_warc(path: Path, copies: int) -> tuple[int, int]:
    """(WARC records, response records) of `copies` copies of the sample crawl written to `path`."""
    data = SAMPLE.read_bytes()
    path.write_bytes(data * copies)
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = responses = 0
    for rec in ArchiveIterator(open(path, "rb"), parse_http=False, fsspec_args=False):
        n += 1
        responses += rec.record_type == WarcRecordType.response
    return n, responses


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fn()
    return time.perf_counter() - t0, n


def read_fastwarc_native(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator

    n = 0
    for rec in ArchiveIterator(open(path, "rb"), parse_http=True, fsspec_args=False):
        rec.reader.read()
        n += 1
    return n


def read_fastwarc_curate_stream(path: Path) -> int:
    import hashlib

    from fastwarc.warc import ArchiveIterator

    from curate.ingest import _open_binary
    from curate.web.warc import _Counted

    n = 0
    with _open_binary(path, hashlib.sha256()) as fh:
        for rec in ArchiveIterator(_Counted(fh), parse_http=True, fsspec_args=False, stream_detect=False):
            rec.reader.read()
            n += 1
    return n


def read_warcio(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            rec.content_stream().read()
            n += 1
    return n


def _datatrove_reader(path: Path):
    from datatrove.pipeline.readers import WarcReader

    return WarcReader(str(path.parent), glob_pattern=path.name, recursive=False)


def read_datatrove(path: Path) -> int:
    return sum(1 for _ in _datatrove_reader(path).run(None, 0, 1))


def extract_curate(path: Path, extractor: str) -> int:
    from curate.ingest import IngestOptions, read_records

    return sum(1 for _ in read_records(path, IngestOptions(html_extractor=extractor)))


def extract_datatrove(path: Path) -> int:
    from datatrove.pipeline.extractors import Trafilatura

    docs = _datatrove_reader(path).run(None, 0, 1)
    return sum(1 for _ in Trafilatura().run(docs, 0, 1))


def ingest_curate(path: Path, work: Path) -> int:
    from curate import pipeline
    from curate.ingest import IngestOptions

    db = work / "bench.duckdb"
    _, report = pipeline.ingest(db, [str(path)], IngestOptions())
    return report.records


def warm_up() -> None:
    """Imports and first calls outside the timings (curate's signal registry, lxml, the
    extractors' tables, datatrove's logger): a one-time cost of a few seconds per process."""
    import datatrove.pipeline.extractors  # noqa: F401
    import datatrove.pipeline.readers  # noqa: F401

    import curate.ingest  # noqa: F401
    import curate.web.warc  # noqa: F401
    from curate.web.extract import extract

    page = "<html><body><nav><a href='/'>Home</a></nav><p>" + "Warm-up prose. " * 20 + "</p></body></html>"
    extract(page, "resiliparse")
    extract(page, "trafilatura")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=8, help="copies of the sample crawl in the WARC (default 8)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    ap.add_argument("--skip-trafilatura", action="store_true", help="leave out the two trafilatura runs")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_warc_"))
    try:
        warc = work / "crawl.warc.gz"
        n_records, n_responses = make_warc(warc, args.copies)
        print(f"WARC: {warc.stat().st_size / 1e6:.1f} MB, {n_records:,} records ({n_responses:,} responses), "
              f"{args.copies} copies of {SAMPLE.name}; one process, one core", flush=True)
        warm_up()
        rows = []

        def run(stage: str, name: str, fn, unit_n: int) -> None:
            # reads take well under a second: the best of 3 shrugs off the other processes on the machine
            seconds = min(timed(fn)[0] for _ in range(3 if stage == "read" else 1))
            rows.append({"stage": stage, "side": name, "seconds": round(seconds, 3),
                         "per_s": round(unit_n / seconds, 1)})
            print(f"{stage:10s} {name:58s} {seconds:7.2f} s {unit_n / seconds:9.1f} /s", flush=True)

        run("read", "FastWARC, native gzip", lambda: read_fastwarc_native(warc), n_records)
        run("read", "curate: FastWARC over curate's hashed gzip stream", lambda: read_fastwarc_curate_stream(warc),
            n_records)
        run("read", "warcio ArchiveIterator", lambda: read_warcio(warc), n_records)
        run("read", "datatrove WarcReader (warcio)", lambda: read_datatrove(warc), n_records)
        run("extract", "curate reader + resiliparse (default)", lambda: extract_curate(warc, "resiliparse"),
            n_responses)
        if not args.skip_trafilatura:
            run("extract", "curate reader + trafilatura", lambda: extract_curate(warc, "trafilatura"), n_responses)
            run("extract", "datatrove WarcReader + Trafilatura extractor", lambda: extract_datatrove(warc),
                n_responses)
        run("ingest", "curate ingest (resiliparse) into a fresh store", lambda: ingest_curate(warc, work), n_responses)
        by = {(r["stage"], r["side"]): r["per_s"] for r in rows}
        ratios = {
            "read: FastWARC native / warcio":
                by[("read", "FastWARC, native gzip")] / by[("read", "warcio ArchiveIterator")],
            "read: curate stream / datatrove WarcReader":
                by[("read", "curate: FastWARC over curate's hashed gzip stream")]
                / by[("read", "datatrove WarcReader (warcio)")],
        }
        if not args.skip_trafilatura:
            dt = by[("extract", "datatrove WarcReader + Trafilatura extractor")]
            ratios["extract: curate resiliparse / datatrove trafilatura"] = \
                by[("extract", "curate reader + resiliparse (default)")] / dt
            ratios["extract: curate trafilatura / datatrove trafilatura"] = \
                by[("extract", "curate reader + trafilatura")] / dt
        for k, v in ratios.items():
            print(f"ratio {k}: {v:.2f}x")
        result = {"copies": args.copies, "warc_bytes": warc.stat().st_size, "records": n_records,
                  "responses": n_responses, "machine": f"{platform.processor() or platform.machine()}, "
                  f"{os.cpu_count()} cores visible, python {platform.python_version()}",
                  "rows": rows, "ratios": {k: round(v, 2) for k, v in ratios.items()}}
        if args.out:
            args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
