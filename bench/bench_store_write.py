"""What the store write alone costs, and which DuckDB settings change it.

    python bench/bench_store_write.py /tmp/bench_ingest/corpus-200MB.jsonl

polars reads the JSONL (the bench_ingest.py records: id, text, url) and its rows go into a fresh
store's documents table as ingest writes them: Arrow batches of --step rows, one INSERT (and one
commit) each. Each variant runs in a fresh process; per variant the INSERTs' seconds, the close
(the final checkpoint), the process's CPU seconds for both, its peak RSS and the store's size.

- default: curate's settings (store.connect);
- threshold=X: DuckDB's checkpoint_threshold set to X (DuckDB's own default is 16MB);
- one transaction: every batch in one transaction, one commit;
- uncompressed: force_compression='uncompressed' (a larger store).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, os, resource, sys, time
import polars as pl
from curate import store
path, db, step, setting, txn = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
n = pl.int_range(1, pl.len() + 1)
table = pl.read_ndjson(path).select(
    doc_id=pl.lit("0123456789abcdef-") + n.cast(pl.String).str.zfill(9),
    source_id=pl.lit("0123456789abcdef"), record_no=n.cast(pl.Int64), external_id=pl.col("id"),
    text=pl.col("text"), text_hash=pl.col("text").hash(0).cast(pl.String).str.zfill(32),
    n_bytes=pl.col("text").str.len_bytes().cast(pl.Int64),
    metadata=pl.lit('{"url": "') + pl.col("url") + pl.lit('"}'), run_id=pl.lit(1, pl.Int64)).to_arrow()
for p in (db, db + ".wal"):
    if os.path.exists(p):
        os.unlink(p)
con = store.connect(db)
if setting:
    con.execute("SET " + setting)
t0, c0 = time.perf_counter(), time.process_time()
if txn:
    con.execute("BEGIN")
for i in range(0, table.num_rows, step):
    store.register(con, "_b", table.slice(i, step))
    con.execute("INSERT INTO documents BY NAME SELECT * REPLACE (metadata::JSON AS metadata) FROM _b")
    con.unregister("_b")
if txn:
    con.execute("COMMIT")
t1 = time.perf_counter()
con.close()
print(json.dumps({"insert": t1 - t0, "close": time.perf_counter() - t1, "cpu": time.process_time() - c0,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "store": os.path.getsize(db) / 1e6}))
"""

VARIANTS = [  # (name, SET statement, one transaction)
    ("default (curate: checkpoint_threshold=128MB)", "", False),
    ("threshold=16MB (DuckDB's default)", "checkpoint_threshold='16MB'", False),
    ("threshold=1GB", "checkpoint_threshold='1GB'", False),
    ("one transaction", "", True),
    ("uncompressed", "force_compression='uncompressed'", False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", type=Path)
    ap.add_argument("--step", type=int, default=4096, help="rows per INSERT (IngestOptions.batch_docs)")
    ap.add_argument("--db", type=Path, default=Path("/tmp/bench_store_write.duckdb"))
    args = ap.parse_args()
    print(f"{args.jsonl} ({args.jsonl.stat().st_size / 1e6:,.0f} MB), {args.step} rows per INSERT\n")
    print("| variant | INSERTs s | close s | CPU s | peak RSS MB | store MB |\n|---|---:|---:|---:|---:|---:|")
    for name, setting, txn in VARIANTS:
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.jsonl), str(args.db), str(args.step),
                              setting, "1" if txn else "0"], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['insert']:.2f} | {r['close']:.2f} | {r['cpu']:.2f} | {r['rss']:,.0f} "
              f"| {r['store']:,.0f} |")


if __name__ == "__main__":
    main()
