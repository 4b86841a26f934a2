#!/usr/bin/env python
"""The tables of bench/RESULTS.md's "Held-out bits/byte and exposure" section, from a store's
trained models: every metric against `raw` with its verdict, bits/byte per held-out family, and
exposure per copy count with the difference of each slice to `raw`.

    curate demo --db /tmp/demo.duckdb          # or: curate train --db ... --slice raw --slice dedup ...
    python bench/heldout_tables.py --db /tmp/demo.duckdb

It reads the store only (the models' metrics are recorded with them in train_runs).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate import store  # noqa: E402
from curate.comparison import (  # noqa: E402
    COPY_BINS,
    HELDOUT_FAMILIES,
    copy_bin_label,
    difference,
    exposure_key,
    extracted_key,
    heldout_key,
)
from curate.console import format_table  # noqa: E402
from train.pipeline import (  # noqa: E402
    COMPARISON_HEADERS,
    VERDICT_HEADERS,
    comparison,
    exposure_table,
    train_rows_from_store,
    verdict_rows,
)


def _cell(vals: list[float]) -> str:
    if not vals:
        return "-"
    return f"{statistics.fmean(vals):.3f}" + (f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else "")


def _share(vals: list[float]) -> str:
    if not vals:
        return "-"
    return f"{statistics.fmean(vals):.1%}" + (f" ± {statistics.stdev(vals):.1%}" if len(vals) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--pairs", nargs="*", default=["raw:dedup", "strict-dups:strict"],
                    help="SLICE_WITH_DUPLICATES:SAME_SLICE_DEDUPLICATED pairs for the excess exposure")
    args = ap.parse_args(argv)
    with store.open_store(args.db, read_only=True) as con:
        rows = train_rows_from_store(con)
    if not rows:
        print(f"{args.db}: no trained models", file=sys.stderr)
        return 1
    slices = list(dict.fromkeys(r["slice"] for r in rows))
    print(format_table(COMPARISON_HEADERS, comparison(rows)))
    print("\nevery metric against raw:")
    print(format_table(VERDICT_HEADERS, verdict_rows(rows)))
    docs = next((r.get("heldout_docs") for r in rows if r.get("heldout_docs")), {}) or {}
    fams = [f for f in HELDOUT_FAMILIES if any(r.get(heldout_key(f)) is not None for r in rows)]
    print("\nheld-out bits/byte per family (mean ± sd over seeds):")
    print(format_table(["slice", *(f"{f} ({docs.get(f, 0)} docs)" for f in fams)],
                       [[s, *(_cell([r[heldout_key(f)] for r in rows if r["slice"] == s
                                     and r.get(heldout_key(f)) is not None]) for f in fams)] for s in slices]))
    heads, table = exposure_table(rows)
    print("\nexposure (bits/byte, mean ± sd over seeds):")
    print(format_table(heads, table))
    bins = [b for b in COPY_BINS if any(r.get(exposure_key(b)) is not None for r in rows)]
    out = []
    for pair in args.pairs:
        dups, dedup = pair.split(":")
        if not {dups, dedup} <= set(slices):
            continue
        for b in bins:
            def vals(s: str, b: str = b) -> list[float]:
                return [r[exposure_key(b)] for r in rows if r["slice"] == s and r.get(exposure_key(b)) is not None]
            d = difference(vals(dups), vals(dedup))
            if d is not None:
                out.append([f"{dups} - {dedup}", copy_bin_label(b), f"{d.diff:+.3f}" + (
                    "" if d.half_width is None else f" ± {d.half_width:.3f}"), d.noise])
    print("\nexcess exposure of the models that saw every copy over those trained on the same slice "
          "deduplicated\n(bits/byte, 95% interval over seeds; the same documents and held-out reference "
          "on both sides):")
    print(format_table(["pair", "copies", "excess exposure", "noise"], out))
    ext = [b for b in COPY_BINS if any(r.get(extracted_key(b)) is not None for r in rows)]
    print("\nextracted: share of the next 32 tokens the greedy continuation of a training document's first 32 "
          "reproduces before its first miss\n(mean ± sd over seeds; 100% is a verbatim continuation):")
    print(format_table(["slice", *(copy_bin_label(b) for b in ext)],
                       [[s, *(_share([r[extracted_key(b)] for r in rows if r["slice"] == s
                                      and r.get(extracted_key(b)) is not None]) for b in ext)] for s in slices]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
