"""score_texts against the implementation it replaced (tests/signals_reference.py), same texts,
same run, one core: MB/s per core, the ratio to one str.split() pass, and whether every value
is identical.

    python bench/bench_signals_speed.py                            # the multilingual sample
    python sample_data/build.py --docs 20000 --out /tmp/b18        # a bigger corpus, then
    python bench/bench_signals_speed.py --corpus /tmp/b18/corpus [--docs N] [--reps 3]

Texts are read and batched as bench/profile_signals.py reads them (curate's ingest readers,
batches of SCORE_BATCH), in one process pinned to one core with one thread. Per repetition, in
round robin: one str.split() pass, the reference score_texts, today's score_texts, and each
family's compute on prebuilt batches (both implementations, so the per-family figures are
before/after in the same run). CPU seconds of the process (time.process_time), best of --reps.
The frames of the last repetition are compared with polars' exact frame equality.
"""
from __future__ import annotations

import os

for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # before polars/numpy are imported: their pools are sized at import

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import polars as pl  # noqa: E402
import signals_reference as reference  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402
from profile_signals import DEFAULT_CORPUS, chunks, load_texts, machine, split_pass  # noqa: E402

from curate.engines.local import SCORE_BATCH  # noqa: E402
from curate.signals import REGISTRY, langid, score_texts  # noqa: E402
from curate.signals.batch import Batch  # noqa: E402

clock = time.process_time


def timed(fn) -> float:
    gc.collect()
    t0 = clock()
    fn()
    return clock() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--docs", type=int, default=None, help="first N texts (repeated if the corpus has fewer)")
    ap.add_argument("--batch", type=int, default=SCORE_BATCH)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--whole-only", action="store_true",
                    help="time only str.split and the two score_texts (for big corpora)")
    args = ap.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    texts, files = load_texts(args.corpus, args.docs)
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    batches = chunks(texts, args.batch)
    # Warm-up outside the timings: model load, numba's cached kernels, the class table.
    score_texts(texts[:50])
    reference.score_texts(texts[:50])
    langs = []
    for chunk in batches:
        langs.append(langid.predict_languages(chunk))

    def ours_fam(name: str, fn):
        def run() -> None:
            for chunk, (lg, sc) in zip(batches, langs):
                b = Batch(chunk, lg, detected=(lg, sc))
                fn(b)
        return run

    def ref_fam(name: str, fn):
        def run() -> None:
            for chunk, (lg, sc) in zip(batches, langs):
                b = reference.RefBatch(chunk, lg, detected=(lg, sc))
                fn(b)
        return run

    families = [f for f in REGISTRY.families if f.name in reference.COMPUTE]
    rows: dict[str, list[float]] = {}

    def add(key: str, secs: float) -> None:
        rows.setdefault(key, []).append(secs)

    for _ in range(args.reps):
        add("split", timed(lambda: split_pass(texts)))
        ref_frames: list[pl.DataFrame] = []
        new_frames: list[pl.DataFrame] = []
        add("reference", timed(lambda out=ref_frames: out.extend(reference.score_texts(c) for c in batches)))
        add("ours", timed(lambda out=new_frames: out.extend(score_texts(c) for c in batches)))
        if args.whole_only:
            continue
        add("ref langid", timed(lambda: [reference.predict_languages(c) for c in batches]))
        add("ours langid", timed(lambda: [langid.predict_languages(c) for c in batches]))
        for f in families:
            # Units (tokens, lines, ...) are built inside: charged to the family, both sides.
            add(f"ref {f.name}", timed(ref_fam(f.name, reference.COMPUTE[f.name])))
            add(f"ours {f.name}", timed(ours_fam(f.name, f.compute)))
    got, want = pl.concat(new_frames), pl.concat(ref_frames)
    assert_frame_equal(got, want, check_exact=True)
    best = {k: min(v) for k, v in rows.items()}
    t_split = best["split"]

    print(f"corpus: {args.corpus} -> {len(texts):,} texts, {mb:.1f} MB (UTF-8), {len(batches)} batches of "
          f"<= {args.batch}")
    print("files: " + "; ".join(files))
    print(f"machine: {machine()}")
    print(f"best of {args.reps}, CPU seconds; every value of the two frames identical "
          f"({got.height:,} rows x {got.width} columns, exact comparison)\n")
    print("| | reference s | reference MB/s/core | reference x split | ours s | ours MB/s/core | ours x split "
          "| speedup |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def row(name: str, ref: float, new: float, bold: bool = False) -> None:
        cells = [name, f"{ref:.3f}", f"{mb / ref:,.1f}", f"{ref / t_split:,.1f}",
                 f"{new:.3f}", f"{mb / new:,.1f}", f"{new / t_split:,.1f}", f"{ref / new:,.2f}x"]
        if bold:
            cells = [f"**{c}**" for c in cells]
        print("| " + " | ".join(cells) + " |")

    print(f"| str.split() pass | {t_split:.3f} | {mb / t_split:,.1f} | 1.0 | | | | |")
    row("score_texts, whole", best["reference"], best["ours"], bold=True)
    if args.whole_only:
        families = []
    else:
        row("language ID (fastText)", best["ref langid"], best["ours langid"])
        row("score_texts without language ID", best["reference"] - best["ref langid"],
            best["ours"] - best["ours langid"])
    for f in families:
        row(f"family {f.name} (its units included)", best[f"ref {f.name}"], best[f"ours {f.name}"])
    if args.json:
        args.json.write_text(json.dumps({"corpus": str(args.corpus), "docs": len(texts), "mb": mb,
                                         "machine": machine(), "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
