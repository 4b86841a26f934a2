"""`curate demo`: the whole pipeline on the bundled sample data, into a fresh store.

ingest -> score -> quality classifier -> dedup -> every shipped recipe's slice -> validation
-> measured against the ground-truth labels -> one small model per slice at equal tokens.

The dedup probe: beside the sample corpus the demo ingests copies of a few of its clean English
documents, so that the corpus holds each of them 2, 8, 32 or 256 times (PROBE_TIERS), the design of
Lee et al. 2022 and Carlini et al. 2022 (memorization grows with the copies a model saw).
`raw` trains on every copy, `dedup` (the same slice deduplicated) and `strict` on one; each
model's exposure per copy count says how much more predictable it finds them than held-out text.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from curate import pipeline, quality, store
from curate.console import Progress, format_table, log
from curate.engines import LocalEngine, signature_device
from curate.errors import ExitCode, UsageError
from curate.ingest import IngestOptions
from curate.invariants import check_invariants
from curate.validate import validate_in_store

DEMO_MARK = "created_by"
DEDUP_THRESHOLDS = (0.7, 0.8, 0.9)
TRAIN_SLICES = ("raw", "dedup", "strict")
# (copies the corpus holds, documents, their length in words). The top tier's documents are
# short so that its copies stay a modest share of `raw` (15% of its tokens) while the demo's
# budget shows each of them to the `raw` model about a dozen times.
PROBE_TIERS = ((2, 8, (150, 600)), (8, 8, (150, 600)), (32, 8, (150, 600)), (256, 4, (150, 250)))
PROBE_FILE = "dedup-probe.jsonl"


@dataclass(frozen=True)
class DemoOptions:
    train: bool = True
    tokens: int = 150_000
    seeds: int = 2
    preset: str = "small"
    device: str = "auto"


def _fresh_store(db: Path) -> None:
    """Start from an empty store, but never delete a store the demo did not make."""
    if not db.exists():
        return
    with store.open_store(db) as con:
        is_demo = store.get_meta(con, DEMO_MARK) == "demo"
    if not is_demo:
        raise UsageError(f"{db} exists and was not made by `curate demo`; pass another --db")
    for p in (db, db.with_name(db.name + ".wal")):
        if p.exists():
            p.unlink()


def _by_input(report, corpus: Path) -> list[list]:
    """Files of a folder of .txt pages count as one input line."""
    groups: dict[str, list[int]] = {}
    for f in report.files:
        rel = Path(f.path).relative_to(corpus)
        key = str(rel.parent) + "/*.txt" if f.path.endswith(".txt") else str(rel)
        g = groups.setdefault(key, [0, 0, 0, 0])
        for i, v in enumerate((1, f.records, f.documents, f.quarantined)):
            g[i] += v
    return [[k, *v] for k, v in groups.items()]


def write_probe(db: Path, labels_path: Path, out: Path) -> dict[int, int]:
    """Write `out`: copies of clean English documents of the ingested sample, so that for each
    tier of PROBE_TIERS the corpus holds that many of its documents that many times. The documents
    are the sample's own, chosen by label (clean, English, the tier's length in words), unique in
    the corpus and not held out of training, in a fixed order (md5 of the external id), each in
    one tier. Returns {copies: documents}."""
    from curate import evaluation
    from curate.comparison import is_held_out

    lo = min(t[2][0] for t in PROBE_TIERS)
    hi = max(t[2][1] for t in PROBE_TIERS)
    with store.open_store(db, read_only=True) as con:
        store.register(con, "_labels", evaluation.load_labels(labels_path))
        rows = con.execute(
            r"""WITH once AS (SELECT text_hash FROM documents GROUP BY text_hash HAVING count(*) = 1)
               SELECT d.external_id, d.text, d.text_hash, len(string_split_regex(trim(d.text), '\s+')) AS words
               FROM documents d JOIN once USING (text_hash)
               JOIN _labels l ON l.id = d.external_id
               WHERE l.junk_type = 'clean' AND l.lang = 'en' AND l.dup_of IS NULL AND words BETWEEN ? AND ?
               ORDER BY md5(d.external_id)""", [lo, hi]).fetchall()
    free = [(eid, text, words) for eid, text, h, words in rows if not is_held_out(h)]
    # the narrowest length range first, so that the wide tiers do not take its documents
    tiers: dict[int, list[tuple[str, str]]] = {}
    for k, n, (wlo, whi) in sorted(PROBE_TIERS, key=lambda t: t[2][1] - t[2][0]):
        fits = [r for r in free if wlo <= r[2] <= whi][:n]
        if len(fits) < n:
            raise UsageError(f"the sample corpus has {len(fits)} clean English documents of {wlo}-{whi} words "
                             f"left for the dedup probe's {k}-copy tier; it needs {n}")
        tiers[k] = [(eid, text) for eid, text, _ in fits]
        taken = {eid for eid, _ in tiers[k]}
        free = [r for r in free if r[0] not in taken]
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for k in sorted(tiers):
            for eid, text in tiers[k]:
                for c in range(1, k):  # the corpus holds the original: k - 1 copies make k
                    fh.write(json.dumps({"id": f"probe-k{k}-{eid}-{c:03d}", "text": text}, ensure_ascii=False) + "\n")
    return {k: len(docs) for k, docs in tiers.items()}


def _allowed(recipe) -> list[str] | None:
    rule = next((r for r in recipe.rules if r.signal == "lang"), None)
    return list(rule.allow) if rule is not None and rule.allow else None


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def _label_tables(con, slices: dict, labels, corpus: str) -> None:
    """strict and strict-multi against the ground-truth labels of one corpus."""
    from curate import evaluation

    recipe, res = slices["strict"]
    _section(f"strict recipe against the ground-truth labels of {corpus}")
    print(format_table(["junk type", "documents", "dropped", "recall"],
                       evaluation.junk_recall(con, res.slice_id, labels, recipe.dedup.near_threshold)))
    print()
    print(format_table(["language (clean, unique)", "documents", "wrongly dropped", "rate"],
                       evaluation.clean_drop_rate(con, res.slice_id, labels, _allowed(recipe),
                                                  recipe.dedup.near_threshold)))
    multi_recipe, multi = slices["strict-multi"]
    print(f"\nstrict-multi ({', '.join(_allowed(multi_recipe))}):")
    print(format_table(["language (clean, unique)", "documents", "wrongly dropped", "rate"],
                       evaluation.clean_drop_rate(con, multi.slice_id, labels, _allowed(multi_recipe),
                                                  multi_recipe.dedup.near_threshold)))


def _cross_source(db: Path, cross: Path, quiet: bool) -> None:
    """The same job on the cross-source corpus (sources the recipes were never tuned on),
    in a store of its own: its figures are the ones that say how the filters generalize."""
    from curate import evaluation, recipes
    from curate.dedup import lsh, minhash

    _fresh_store(db)
    with store.open_store(db) as con:
        store.set_meta(con, DEMO_MARK, "demo")
    _run_id, report = pipeline.ingest(db, [str(cross / "corpus")], IngestOptions(id_field="id"), command="demo ingest")
    with pipeline.recorded_run(db, "demo cross-source", {"data": str(cross)}) as ctx:
        con = ctx.con
        bar = Progress("score (cross-source)", report.documents, quiet=quiet)
        LocalEngine().score(con, db, on_batch=bar.update)
        bar.close()
        quality.train_quality(con, db, quality.QualityDesign())
        chosen = [recipes.load_recipe(name) for name in ("strict", "strict-multi")]
        for t in sorted({r.dedup.near_threshold for r in chosen if r.dedup.near_threshold is not None}):
            lsh.dedup(con, t, minhash.SignatureSpec(), ctx.run_id, device=signature_device("auto"))
        slices = {r.name: (r, recipes.build_slice(con, r, ctx.run_id)) for r in chosen}
        _section(f"cross-source corpus ({report.documents:,} documents from sources the recipes were never "
                 f"tuned on; store {db})")
        _label_tables(con, slices, evaluation.load_labels(cross / "labels.jsonl.gz"), "the cross-source corpus")
        store.finish_run(con, ctx.run_id, status="ok", exit_code=0)


def run_demo(db: Path, data: Path, *, quiet: bool = False, options: DemoOptions = DemoOptions()) -> int:
    from curate import evaluation, recipes
    from curate.dedup import lsh, minhash

    corpus = data / "corpus"
    if not corpus.is_dir():
        raise UsageError(f"no sample corpus at {corpus}")
    t_start = time.perf_counter()
    _fresh_store(db)
    with store.open_store(db) as con:
        store.set_meta(con, DEMO_MARK, "demo")

    run_id, report = pipeline.ingest(db, [str(corpus)], IngestOptions(id_field="id"), command="demo ingest")
    _section(f"ingest (run {run_id})")
    print(format_table(["input", "files", "records", "ingested", "quarantined"], _by_input(report, corpus)))
    print(f"records read {report.records:,} = ingested {report.documents:,} + quarantined {report.quarantined:,}")
    if report.failed:
        for f in report.failed:
            print(f"curate: {f.error}")
        return int(ExitCode.FAILED)
    labels_path = data / "labels.jsonl.gz"
    if labels_path.exists():
        probe = store.artifacts_dir(db) / PROBE_FILE
        made = write_probe(db, labels_path, probe)
        probe_run, probe_report = pipeline.ingest(db, [str(probe)], IngestOptions(id_field="id"),
                                                  command="demo ingest dedup probe")
        print(f"dedup probe (run {probe_run}): {probe_report.documents:,} copies of "
              + ", ".join(f"{n} documents so the corpus holds each {k} times" for k, n in sorted(made.items()))
              + f" ({probe})")

    with pipeline.recorded_run(db, "demo pipeline", {"data": str(data)}, publish=True) as ctx:
        con = ctx.con
        bar = Progress("score", report.documents, quiet=quiet)
        sc = LocalEngine().score(con, db, on_batch=bar.update)
        bar.close()
        _section("score")
        print(f"{sc.scored:,} documents scored in {sc.seconds:.1f}s (signals version {sc.signals_version})")

        q = quality.train_quality(con, db, quality.QualityDesign())
        _section(f"quality classifier (fastText on this corpus: {q.n_positive:,} clean-with-margin vs "
                 f"{q.n_negative:,} junk documents by the heuristics; out of fold)")
        print(format_table(["held-out metric", "value"], [[k, v] for k, v in q.heldout.items()]))

        _section("near-duplicates (MinHash LSH, 5-word shingles, 128 permutations)")
        device = signature_device("auto")
        dd = [lsh.dedup(con, t, minhash.SignatureSpec(), ctx.run_id, device=device) for t in DEDUP_THRESHOLDS]
        print(format_table(["threshold", "bands x rows", "candidate pairs", "clusters", "duplicates"],
                           [[r.threshold, r.setting, r.candidate_pairs, r.clusters, r.duplicates] for r in dd]))

        _section("slices (every shipped recipe)")
        slices = {}
        rows = []
        for name in recipes.shipped_recipe_names():
            recipe = recipes.load_recipe(name)
            res = recipes.build_slice(con, recipe, ctx.run_id)
            val = validate_in_store(con, db, recipe, res.slice_id, ctx.run_id)
            slices[name] = (recipe, res)
            top = ", ".join(f"{r} {n}" for r, n in res.reasons[:3])
            rows.append([name, res.n_documents, res.n_kept, res.n_dropped, round(res.kept_bytes / 1e6, 2),
                         "pass" if val.success else "FAIL: " + ",".join(val.failed_checks()), top])
        print(format_table(["recipe", "documents", "kept", "dropped", "kept MB", "validation", "top drop reasons"],
                           rows))

        if labels_path.exists():
            _label_tables(con, slices, evaluation.load_labels(labels_path), "the sample corpus")

        if options.train:
            from curate.signals.quality import load_quality_model
            from train.pipeline import (
                COMPARISON_HEADERS,
                VERDICT_HEADERS,
                TrainPlan,
                comparison,
                exposure_table,
                train_slices,
                verdict_rows,
            )

            plan = TrainPlan(tokens=options.tokens, seeds=tuple(range(options.seeds)), preset=options.preset,
                             device=options.device)
            log(f"training {len(TRAIN_SLICES)} slices x {options.seeds} seeds x {options.tokens:,} tokens",
                quiet=quiet)
            trained = train_slices(con, db, list(TRAIN_SLICES), plan, val_text_path=data / "validation.txt",
                                   prompts_path=data / "prompts.jsonl" if (data / "prompts.jsonl").exists() else None,
                                   quality_model=load_quality_model(quality.quality_model_path(db)),
                                   on_log=lambda m: log(m, quiet=quiet))
            _section(f"models trained on each slice ({options.tokens:,} tokens each, {trained[0]['device']})")
            print(format_table(COMPARISON_HEADERS, comparison(trained)))
            _section("every metric against raw: the difference, its 95% interval over seeds, beyond or within "
                     "the seed spread and which way")
            print(format_table(VERDICT_HEADERS, verdict_rows(trained)))
            heads, table = exposure_table(trained)
            if table:
                _section("exposure by copies in the corpus: held-out clean bits/byte minus the bits/byte of "
                         "training documents the corpus holds k times (mean ± sd over seeds; 0: not told apart "
                         "from unseen text)")
                print(format_table(heads, table))
        store.finish_run(con, ctx.run_id, status="ok", exit_code=0,
                         counts_json=json.dumps({"slices": list(slices)}))
    cross = data / "cross"
    if (cross / "labels.jsonl.gz").exists():
        _cross_source(db.with_name(f"{db.stem}-cross{db.suffix}"), cross, quiet)
    web_checks = []
    if (data / "web" / "crawl.warc.gz").exists():  # WARC ingest and HTML extraction, in a store of its own
        from curate.web.demo import run_web_demo

        web_db = db.with_name(f"{db.stem}-web{db.suffix}")
        _fresh_store(web_db)
        with store.open_store(web_db) as con:
            store.set_meta(con, DEMO_MARK, "demo")
        web_checks = [(f"web crawl: {name}", ok, detail) for name, ok, detail in
                      run_web_demo(web_db, data / "web", quiet=quiet)]
    with store.open_store(db, read_only=True) as con:
        checks = check_invariants(con) + web_checks
    broken = [c for c in checks if not c[1]]
    print(f"\ninvariants: {len(checks) - len(broken)}/{len(checks)} hold"
          + ("" if not broken else f"; BROKEN: {[c[0] for c in broken]}"))
    print(f"store: {db}   dashboard: curate app --db {db}   ({time.perf_counter() - t_start:.0f}s)")
    return int(ExitCode.INVARIANT_BROKEN if broken else ExitCode.OK)
