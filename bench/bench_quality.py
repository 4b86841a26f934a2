"""Quality-classifier designs measured against the labels of two corpora.

    python bench/bench_quality.py [--data sample_data] [--cross sample_data/cross] [--out FILE]

For each corpus (the sample, on whose sources the recipes were tuned, and the cross-source
corpus, built from other sources and never tuned on): ingest, score and near-dedup once into
a base store; then, for each design of the classifier (curate/quality.py), a copy of that
store is given a model trained that way and the `strict` recipe is built with the quality
rule at several thresholds, and once without the rule. Reported per (design, threshold):

- clean en: share of clean, unique English documents dropped (evaluation.clean_drop_rate);
- by quality: how much of that the quality rule alone is responsible for (the clean loss
  with the rule minus the loss without it, in points);
- junk recall per type (evaluation.junk_recall) and its minimum;
- gain: junk documents the rule drops that the recipe without it keeps, against the clean
  documents it costs.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

from curate import evaluation, pipeline, quality, recipes, store
from curate.dedup import lsh, minhash
from curate.engines import LocalEngine
from curate.ingest import IngestOptions

Q = quality.QualityDesign
DESIGNS = {
    "reference vs raw (DCLM; the previous design)": (Q(labels="reference", calibrate=False), (0.1, 0.5)),
    "heuristic: all published rules teach, negatives fail >= 2": (Q(teacher="published", min_failed=2), (0.01, 0.02)),
    "heuristic: same, raw scores (no calibration)": (Q(teacher="published", min_failed=2, calibrate=False), (0.1, 0.5)),
    "heuristic: precise rules teach, negatives fail >= 1": (Q(teacher="precise", min_failed=1), (0.01, 0.02, 0.05)),
    "heuristic: precise rules teach, negatives fail >= 1, calibrated per language":
        (Q(teacher="precise", min_failed=1, min_per_language=50), (0.01, 0.02)),
    "heuristic: precise rules teach, negatives fail >= 1, in-sample scores (no folds)":
        (Q(teacher="precise", min_failed=1, out_of_fold=False), (0.01, 0.02)),
    "heuristic: precise rules teach, negatives fail >= 2": (Q(teacher="precise", min_failed=2), (0.01, 0.02)),
    "heuristic (all published, >= 2) + reference positives":
        (Q(labels="heuristic+reference", teacher="published", min_failed=2), (0.01, 0.02)),
    "heuristic (precise, >= 1) + reference positives":
        (Q(labels="heuristic+reference", teacher="precise", min_failed=1), (0.01, 0.02)),
}
THRESHOLDS = (0.7, 0.8)  # strict's, and the previous one for the comparison in RESULTS


def base_store(corpus: Path, work: Path) -> Path:
    db = work / f"{corpus.parent.name}-base.duckdb"
    pipeline.ingest(db, [str(corpus)], IngestOptions(id_field="id"))
    with pipeline.recorded_run(db, "bench score", {}) as ctx:
        LocalEngine().score(ctx.con, db)
        for t in THRESHOLDS:
            lsh.dedup(ctx.con, t, minhash.SignatureSpec(), ctx.run_id)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0)
    return db


def with_quality_min(recipe, t: float | None):
    rules = tuple(r for r in recipe.rules if r.signal != "quality")
    if t is not None:
        rules = rules + (recipes.Rule("quality", min=t),)
    return dataclasses.replace(recipe, rules=rules)


def measure(con, recipe, labels) -> dict:
    res = recipes.build_slice(con, recipe)
    allowed = next((list(r.allow) for r in recipe.rules if r.signal == "lang"), None)
    clean = evaluation.clean_drop_rate(con, res.slice_id, labels, allowed, recipe.dedup.near_threshold)
    recall = {row[0]: (row[2], row[1], row[3]) for row in
              evaluation.junk_recall(con, res.slice_id, labels, recipe.dedup.near_threshold)}
    per_lang = {row[0]: (row[2], row[1], row[3]) for row in clean}
    return {"clean": per_lang, "recall": recall, "kept": res.n_kept}


def fmt_row(name, t, m, base) -> str:
    c_all = m["clean"]["all"]
    c_base = base["clean"]["all"]
    by_q = (c_all[2] - c_base[2]) * 100
    junk_gain = sum(m["recall"][k][0] - base["recall"][k][0] for k in m["recall"])
    clean_cost = c_all[0] - c_base[0]
    rec = m["recall"]
    low = min(rec, key=lambda k: rec[k][2])
    return (f"| {name} | {t if t is not None else '-'} | {c_all[2]:.1%} ({c_all[0]}/{c_all[1]}) | {by_q:+.1f} | "
            f"{rec[low][2]:.3f} ({low}) | {rec.get('boilerplate', (0, 0, 0))[2]:.3f} | "
            f"{rec.get('seo_spam', (0, 0, 0))[2]:.3f} | {rec.get('templated', (0, 0, 0))[2]:.3f} | "
            f"+{junk_gain} / -{clean_cost} |")


def run_corpus(label: str, data: Path, work: Path, reference: Path, designs: dict) -> list[str]:
    labels = evaluation.load_labels(data / "labels.jsonl.gz")
    t0 = time.perf_counter()
    base = base_store(data / "corpus", work)
    out = [f"\n### {label} ({data})\n",
           "| design | quality min | clean en dropped | by quality (points) | lowest recall | boilerplate | "
           "seo_spam | templated | junk gained / clean lost |",
           "|---|---|---|---|---|---|---|---|---|"]
    strict = recipes.load_recipe("strict")
    with store.open_store(base) as con:
        none = measure(con, with_quality_min(strict, None), labels)
        bare = dataclasses.replace(strict, rules=tuple(r for r in strict.rules
                                                       if r.signal not in ("quality", "common_line_char_frac")))
        out.append(fmt_row("no quality rule, no common-line rule", None, measure(con, bare, labels), none))
        print(out[-1], flush=True)
    out.append(fmt_row("no quality rule", None, none, none))
    print(out[-1], flush=True)
    for name, (design, thresholds) in designs.items():
        db = work / f"{data.parent.name}-{len(out)}.duckdb"
        shutil.copy(base, db)
        with store.open_store(db) as con:
            t1 = time.perf_counter()
            rep = quality.train_quality(con, db, design, reference=reference)
            secs = time.perf_counter() - t1
            for t in thresholds:
                m = measure(con, with_quality_min(strict, t), labels)
                out.append(fmt_row(f"{name} ({rep.n_positive}+{rep.n_reference} / {rep.n_negative}, {secs:.0f}s)",
                                   t, m, none))
                print(out[-1], flush=True)
    out += shipped_detail(base, work, strict, none, labels)
    out.append(f"\n({time.perf_counter() - t0:.0f}s for this corpus)")
    return out


def shipped_detail(base: Path, work: Path, strict, none: dict, labels) -> list[str]:
    """The shipped `strict` (default design, its own quality threshold): recall per junk type
    with and without the quality rule, and strict-multi's clean drop per language."""
    db = work / f"{base.stem}-shipped.duckdb"
    shutil.copy(base, db)
    with store.open_store(db) as con:
        quality.train_quality(con, db)
        m = measure(con, strict, labels)
        multi = measure(con, recipes.load_recipe("strict-multi"), labels)
    out = ["", f"shipped strict (quality min {next(r.min for r in strict.rules if r.signal == 'quality')}): "
           "junk recall without -> with the quality rule",
           "", "| junk type | documents | without quality | with quality |", "|---|---|---|---|"]
    for k in sorted(m["recall"]):
        out.append(f"| {k} | {m['recall'][k][1]} | {none['recall'][k][2]:.3f} | {m['recall'][k][2]:.3f} |")
    c, c0 = m["clean"]["all"], none["clean"]["all"]
    out.append(f"| clean en dropped | {c[1]} | {c0[2]:.1%} ({c0[0]}) | {c[2]:.1%} ({c[0]}) |")
    out += ["", "shipped strict-multi: clean, unique documents dropped per language", "",
            "| language | documents | dropped | rate |", "|---|---|---|---|"]
    for lang, (dropped, n, rate) in multi["clean"].items():
        out.append(f"| {lang} | {n} | {dropped} | {rate:.3f} |")
    print("\n".join(out), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("sample_data"))
    ap.add_argument("--cross", type=Path, default=Path("sample_data/cross"))
    ap.add_argument("--reference", type=Path, default=Path("sample_data/reference.jsonl.gz"))
    ap.add_argument("--only", nargs="*", default=None, help="design names to run (substring match)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    designs = {k: v for k, v in DESIGNS.items() if not args.only or any(o in k for o in args.only)}
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, data in (("sample corpus (recipes tuned on its sources)", args.data),
                            ("cross-source corpus (never tuned on)", args.cross)):
            if (data / "labels.jsonl.gz").exists():
                lines += run_corpus(label, data, Path(tmp), args.reference, designs)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
