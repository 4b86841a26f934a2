#!/bin/bash
# `curate ingest` of the same files by two versions of the code, alternating, each into a fresh
# store in a fresh process; wall, CPU (user + system) and peak RSS from /usr/bin/time.
#
#   git worktree add /tmp/old <commit>
#   bash bench/compare_ingest.sh /tmp/old /tmp/bench_ingest/corpus-200MB.{jsonl,parquet,csv}
#
# Both versions run with this checkout's virtualenv (PYTHONPATH picks the code).
set -euo pipefail
old=$(cd "$1" && pwd); shift
new=$(cd "$(dirname "$0")/.." && pwd)
py="$new/.venv/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$@"; do
  for who in old new; do
    src=$old; [ "$who" = new ] && src=$new
    rm -f "$work/c.duckdb" "$work/c.duckdb.wal"
    (cd "$work" && PYTHONPATH=$src /usr/bin/time -f "$who $(basename "$f"): wall %e s, user %U s, sys %S s, peak RSS %M KB" \
       "$py" -m curate.cli ingest --db "$work/c.duckdb" -q "$f") 2>&1 | tail -1
  done
done
