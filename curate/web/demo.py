"""`curate demo`'s web-crawl section: the sample crawl (sample_data/web/crawl.warc.gz) ingested,
scored and sliced by `strict` in a store of its own, measured against its labels."""
from __future__ import annotations

from pathlib import Path

from curate import pipeline, quality, store
from curate.console import Progress, format_table
from curate.engines import LocalEngine, signature_device
from curate.ingest import IngestOptions
from curate.invariants import check_invariants
from curate.web.report import BOILERPLATE_HIGH, extraction_quality, kind_table, load_jsonl

RECIPE = "strict"


def run_web_demo(db: Path, web: Path, *, quiet: bool = False) -> list[tuple[str, bool, str]]:
    """Ingest, score, dedup and slice the crawl into `db` (a fresh store); print what became of
    each kind of record; return the store's invariants."""
    from curate import recipes
    from curate.dedup import lsh, minhash

    labels = load_jsonl(web / "labels.jsonl")
    expected = load_jsonl(web / "expected.jsonl.gz")
    _run_id, report = pipeline.ingest(db, [str(web / "crawl.warc.gz")], IngestOptions(), command="demo ingest web")
    with pipeline.recorded_run(db, "demo web crawl", {"data": str(web)}) as ctx:
        con = ctx.con
        bar = Progress("score (web crawl)", report.documents, quiet=quiet)
        LocalEngine().score(con, db, on_batch=bar.update)
        bar.close()
        quality.train_quality(con, db, quality.QualityDesign())  # strict asks for the classifier's score
        recipe = recipes.load_recipe(RECIPE)
        if recipe.dedup.near_threshold is not None:
            lsh.dedup(con, recipe.dedup.near_threshold, minhash.SignatureSpec(), ctx.run_id,
                      device=signature_device("auto"))
        res = recipes.build_slice(con, recipe, ctx.run_id)
        quarantined = con.execute("SELECT error_kind, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
                                  ).fetchall()
        n, precision, recall = extraction_quality(con, expected)
        print(f"\n== web crawl ({report.records:,} WARC records of real documentation pages and labelled junk; "
              f"store {db}) ==")
        print(f"records read {report.records:,} = ingested {report.documents:,} + quarantined "
              f"{report.quarantined:,} ({', '.join(f'{k} {c}' for k, c in quarantined)})")
        print(f"main text (resiliparse) against the pages' own main block, {n} pages: word precision "
              f"{precision:.3f}, recall {recall:.3f}")
        print(format_table(["kind", "records", "quarantined", "documents", f"dropped by {RECIPE}",
                            f"boilerplate > {BOILERPLATE_HIGH}"], kind_table(con, res.slice_id, labels)))
        store.finish_run(con, ctx.run_id, status="ok", exit_code=0)
    with store.open_store(db, read_only=True) as con:
        return check_invariants(con)
