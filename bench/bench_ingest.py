"""Ingest JSONL, Parquet and CSV into a fresh store, against polars and pyarrow reading the same files.

    python bench/bench_ingest.py --mb 100 300 --workdir /tmp/bench_ingest

The records are the texts of sample_data/corpus/web-000.jsonl.gz (many languages, dirty),
repeated up to the size asked for, each with an id and a url: {"id", "text", "url"}. JSONL is
written at every --mb size (peak RSS should not grow with it); Parquet and CSV hold the same
records as the largest JSONL file. Every run is a fresh child process: `curate ingest` into a
new store, or one peer call that loads the whole file (polars.read_ndjson / read_parquet /
read_csv, pyarrow.json.read_json / parquet.read_table / csv.read_csv). Per child: wall
seconds, CPU seconds (user + system, every thread: on a machine shared with other jobs CPU
time is the steadier figure) and peak RSS (its ru_maxrss, read by a wrapper process).
The peers parse into memory and stop; curate also checks each record, computes its
text_hash (NFKC + casefold + xxh3) and writes the store. One more row bounds what any ingest
into this store can reach: polars' read plus the store write alone (STORE_WRITE).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import time
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz"

PEERS = {
    "jsonl": {
        "polars.read_ndjson": "import polars as pl; n = len(pl.read_ndjson(PATH))",
        "pyarrow.json.read_json": "import pyarrow.json as pj; n = pj.read_json(PATH).num_rows",
    },
    "parquet": {
        "polars.read_parquet": "import polars as pl; n = len(pl.read_parquet(PATH))",
        "pyarrow.parquet.read_table": "import pyarrow.parquet as pq; n = pq.read_table(PATH).num_rows",
    },
    "csv": {
        "polars.read_csv": "import polars as pl; n = len(pl.read_csv(PATH))",
        # the texts hold line breaks inside quoted fields
        "pyarrow.csv.read_csv": "import pyarrow.csv as pc; n = pc.read_csv(PATH, parse_options="
                                "pc.ParseOptions(newlines_in_values=True)).num_rows",
    },
}


def source_texts() -> list[str]:
    with gzip.open(SOURCE, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def make_jsonl(path: Path, target_bytes: int) -> int:
    n = written = 0
    with open(path, "w", encoding="utf-8") as fh:
        for text in cycle(source_texts()):
            if written >= target_bytes:
                break
            line = json.dumps({"id": f"g{n:09d}", "text": text, "url": f"https://example.org/{n}"},
                              ensure_ascii=False) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            n += 1
    return n


def records(path: Path, chunk: int = 10_000):
    batch = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            batch.append(json.loads(line))
            if len(batch) == chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def make_parquet(src: Path, dst: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string())])
    with pq.ParquetWriter(dst, schema) as w:
        for batch in records(src):
            w.write_table(pa.Table.from_pylist(batch, schema=schema))


def make_csv(src: Path, dst: Path) -> None:
    with open(dst, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "url"])
        for batch in records(src):
            w.writerows([r["id"], r["text"], r["url"]] for r in batch)


def prefix_file(src: Path, dst: Path, n_bytes: int) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        written = 0
        for line in fin:
            if written + len(line) > n_bytes:
                break
            fout.write(line)
            written += len(line)


WRAPPER = """import resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run(sys.argv[1:])
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print('FIGURES', wall, u.ru_utime + u.ru_stime, u.ru_maxrss)
sys.exit(r.returncode)
"""


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one child, measured by a wrapper that runs only it."""
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("FIGURES"))
    wall, cpu, kb = (float(x) for x in line.split()[1:])
    return wall, cpu, kb / 1024


# A bound, not a peer: polars reads the JSONL, and its rows go into a fresh store's documents
# table as curate writes them (Arrow batches of IngestOptions.batch_docs rows, the same
# columns and JSON cast), with no record checks and no NFKC hash (a polars hash stands in for
# text_hash). No ingest that writes this store can be faster than the write alone.
STORE_WRITE = """
import duckdb, polars as pl
from curate import store
from curate.ingest import IngestOptions
df = pl.read_ndjson(PATH)
n = pl.int_range(1, pl.len() + 1)
df = df.select(
    doc_id=pl.lit("0123456789abcdef-") + n.cast(pl.String).str.zfill(9),
    source_id=pl.lit("0123456789abcdef"), record_no=n.cast(pl.Int64), external_id=pl.col("id"),
    text=pl.col("text"), text_hash=pl.col("text").hash(0).cast(pl.String).str.zfill(32),
    n_bytes=pl.col("text").str.len_bytes().cast(pl.Int64),
    metadata=pl.lit('{"url": "') + pl.col("url") + pl.lit('"}'), run_id=pl.lit(1, pl.Int64)).to_arrow()
con = store.connect(DB)
step = IngestOptions().batch_docs
for i in range(0, df.num_rows, step):
    store.register(con, "_b", df.slice(i, step))
    con.execute("INSERT INTO documents BY NAME SELECT * REPLACE (metadata::JSON AS metadata) FROM _b")
    con.unregister("_b")
n = con.execute("SELECT count(*) FROM documents").fetchone()[0]
con.close()
"""


def store_write(path: Path, workdir: Path) -> tuple[float, float, float]:
    db = workdir / "bound.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    script = STORE_WRITE.replace("PATH", repr(str(path))).replace("DB", repr(str(db))) + "\nprint(n)"
    return measure([sys.executable, "-c", script])


def curate_ingest(path: Path, workdir: Path) -> tuple[float, float, float]:
    db = workdir / "bench.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    return measure([sys.executable, "-m", "curate.cli", "ingest", "--db", str(db), "-q", str(path)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, nargs="+", default=[100, 300],
                    help="JSONL sizes in MB; peak RSS should not grow with them")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ingest"))
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    top = max(args.mb)
    corpus = args.workdir / f"corpus-{top:g}MB.jsonl"
    if not corpus.exists():
        t0 = time.perf_counter()
        n = make_jsonl(corpus, int(top * 1e6))
        print(f"generated {corpus} ({n:,} records) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    files = {"jsonl": corpus, "parquet": corpus.with_suffix(".parquet"), "csv": corpus.with_suffix(".csv")}
    if not files["parquet"].exists():
        make_parquet(corpus, files["parquet"])
    if not files["csv"].exists():
        make_csv(corpus, files["csv"])
    rows = []  # (format, file MB, who, wall, cpu, rss)
    for mb in sorted(args.mb)[:-1]:
        path = args.workdir / f"prefix-{mb:g}MB.jsonl"
        if not path.exists():
            prefix_file(corpus, path, int(mb * 1e6))
        rows.append(("jsonl", path.stat().st_size / 1e6, "curate ingest", *curate_ingest(path, args.workdir)))
    for fmt, path in files.items():
        size = path.stat().st_size / 1e6
        rows.append((fmt, size, "curate ingest", *curate_ingest(path, args.workdir)))
        if fmt == "jsonl" and not args.skip_peer:
            rows.append((fmt, size, "bound: polars read + store write", *store_write(path, args.workdir)))
        if not args.skip_peer:
            for name, code in PEERS[fmt].items():
                script = code.replace("PATH", repr(str(path))) + "; print(n)"
                rows.append((fmt, size, name, *measure([sys.executable, "-c", script])))
    print(f"\nmachine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"CURATE_MEMORY_LIMIT={os.environ.get('CURATE_MEMORY_LIMIT', '1GB (default)')}\n")
    print("| format | file MB | run | wall s | CPU s | MB/s (wall) | peak RSS MB |\n|---|---:|---|---:|---:|---:|---:|")
    for fmt, size, who, wall, cpu, rss in rows:
        print(f"| {fmt} | {size:,.0f} | {who} | {wall:.1f} | {cpu:.1f} | {size / wall:.1f} | {rss:,.0f} |")
    if not args.skip_peer:
        print()
        for fmt, path in files.items():
            size = path.stat().st_size / 1e6
            ours = next(r for r in rows if r[0] == fmt and r[1] == size and r[2] == "curate ingest")
            peers = [r for r in rows if r[0] == fmt and r[2] != "curate ingest" and not r[2].startswith("bound")]
            best_wall, best_cpu = min(peers, key=lambda r: r[3]), min(peers, key=lambda r: r[4])
            print(f"- {fmt}: curate / fastest peer = {ours[3] / best_wall[3]:.1f}x wall ({best_wall[2]}), "
                  f"{ours[4] / best_cpu[4]:.1f}x CPU ({best_cpu[2]})")


if __name__ == "__main__":
    main()
