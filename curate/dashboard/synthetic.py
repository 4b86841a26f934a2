"""A synthetic store of any size, for the explorer benchmark and the dashboard's tests.

Signals are drawn at random inside each registry signal's range instead of being scored:
the dashboard's queries care about the shape of the tables, not about where values came from.
Texts are short, line-structured and sometimes carry the junk the highlighter marks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate import store
from curate.recipes import build_slice, parse_recipe

THRESHOLDS = (0.7, 0.8, 0.9)
LANGS = ("en", "de", "fr", "es", "zh", "ru")
_WORDS = ("data", "model", "river", "garden", "history", "market", "music", "science", "city",
          "winter", "the", "a", "of", "and", "to", "in", "is", "that", "with", "for")
_JUNK_LINES = ("Please enable JavaScript to view this page.", "This site uses cookies.",
               "Lorem ipsum dolor sit amet.", "Click here", "Click here")
RECIPES = {
    "loose": "name: loose\nfilters:\n  gopher_word_count: {min: 20}\ndedup: {exact: true}\n",
    "tight": ("name: tight\nfilters:\n  lang: {allow: [en]}\n  quality: {min: 0.5}\n"
              "  gopher_dup_line_frac: {max: 0.3}\ndedup: {exact: true, near_threshold: 0.8}\n"),
}


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for i in range(n):
        lines = []
        for _ in range(int(rng.integers(2, 7))):
            words = rng.choice(_WORDS, size=int(rng.integers(3, 14)))
            lines.append(" ".join(words).capitalize() + ".")
        if i % 7 == 0:
            lines.insert(1, _JUNK_LINES[i % len(_JUNK_LINES)])
        if i % 11 == 0:
            lines.append(lines[0])
        out.append("\n".join(lines))
    return out


def _signal_columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray | list]:
    from curate.signals import signals

    cols: dict = {}
    for s in signals():
        if s.family == "url":  # synthetic documents have no URL (metadata is null): null, and no draw
            cols[s.name] = [None] * n
        elif s.dtype == "VARCHAR":
            cols[s.name] = list(rng.choice(LANGS, size=n, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]))
        elif s.dtype == "BIGINT":
            cols[s.name] = rng.poisson(5 if s.name.startswith(("c4_", "pii_", "mojibake")) else 200, n).astype(np.int64)
            if s.name.startswith(("pii_", "mojibake", "c4_lorem", "c4_curly", "c4_java", "c4_policy")):
                cols[s.name] = np.where(rng.random(n) < 0.9, 0, cols[s.name])
        else:
            lo = 0.0 if s.lo is None else float(s.lo)
            hi = 1.0 if s.hi is None else float(s.hi)
            if s.hi is None:
                hi = 12.0 if "len" in s.name else 1.0
            cols[s.name] = lo + (hi - lo) * rng.beta(2, 2, n)
    return cols


def build_store(path: Path | str, n_docs: int, *, seed: int = 0, slices: bool = True,
                train: bool = False) -> Path:
    """Create a store at `path` with `n_docs` documents and every table the dashboard reads."""
    from curate.signals import signals

    path = Path(path)
    rng = np.random.default_rng(seed)
    texts = _texts(rng, n_docs)
    doc_ids = [f"5a17000000000000-{i:09d}" for i in range(n_docs)]
    hashes = [f"h{i % max(1, n_docs - n_docs // 20):012d}" for i in range(n_docs)]  # ~5% exact copies
    with store.open_store(path) as con:
        run_id = store.start_run(con, "ingest", json.dumps({"synthetic": True}))
        con.execute("INSERT INTO sources VALUES"
                    " ('5a17000000000000', 'synthetic.jsonl', 'x', 'jsonl', ?, ?, ?, 2, ?, ?)",
                    [sum(len(t.encode()) for t in texts), n_docs + 2, n_docs, store.now(), run_id])
        docs = pa.table({
            "doc_id": doc_ids, "source_id": ["5a17000000000000"] * n_docs,
            "record_no": np.arange(n_docs, dtype=np.int64), "external_id": [None] * n_docs,
            "text": texts, "text_hash": hashes,
            "n_bytes": np.array([len(t.encode()) for t in texts], dtype=np.int64),
            "metadata": [None] * n_docs, "run_id": np.full(n_docs, run_id, dtype=np.int64),
        })
        con.register("docs_in", docs)
        con.execute("INSERT INTO documents SELECT doc_id, source_id, record_no, CAST(external_id AS VARCHAR), text, "
                    "text_hash, n_bytes, CAST(metadata AS JSON), run_id FROM docs_in")
        con.unregister("docs_in")
        for k, (err, raw) in enumerate((("invalid JSON: Expecting value", "{oops"), ("not UTF-8", "\\xff\\xfe"))):
            con.execute("INSERT INTO quarantine VALUES ('5a17000000000000', 'synthetic.jsonl', ?, 'record', ?, ?, ?)",
                        [n_docs + k, err, raw, run_id])
        store.finish_run(con, run_id, status="ok", exit_code=0, records_read=n_docs + 2,
                         documents_ingested=n_docs, quarantined=2)

        run_id = store.start_run(con, "score", "{}")
        store.ensure_signals_table(con, [(s.name, s.dtype) for s in signals()])
        cols = _signal_columns(rng, n_docs)
        frame = pa.table({"doc_id": doc_ids, "signals_version": ["synthetic"] * n_docs, **cols})
        con.register("sig_in", frame)
        names = ", ".join(store.ident(s.name) for s in signals())
        con.execute(f"INSERT INTO signals (doc_id, signals_version, {names}) "
                    f"SELECT doc_id, signals_version, {names} FROM sig_in")
        con.unregister("sig_in")
        store.finish_run(con, run_id, status="ok", exit_code=0, counts_json=json.dumps({"scored": n_docs}))

        run_id = store.start_run(con, "dedup", "{}")
        _clusters(con, rng, doc_ids)
        store.finish_run(con, run_id, status="ok", exit_code=0)

        if slices:
            run_id = store.start_run(con, "slice", "{}")
            for text in RECIPES.values():
                res = build_slice(con, parse_recipe(text), run_id)
                _validation(con, res.slice_id, res.n_kept, run_id)
            store.finish_run(con, run_id, status="ok", exit_code=0)
        if train and slices:
            _train_runs(con, rng)
    return path


def _clusters(con, rng: np.random.Generator, doc_ids: list[str]) -> None:
    n = len(doc_ids)
    rows = []
    # Clusters at a higher threshold are sub-clusters of the lower one (fewer pairs pass).
    members = rng.permutation(n)[: max(2, n // 6)]
    groups = np.array_split(members, max(1, len(members) // 3))
    for t in THRESHOLDS:
        for g in groups:
            keep = g[: max(1, len(g) - int(round((t - 0.7) * 10)))]
            if len(keep) < 2:
                continue
            rep = doc_ids[keep[0]]
            for j, m in enumerate(keep):
                rows.append((t, doc_ids[m], rep, j == 0, len(keep)))
    if rows:
        t, d, c, r, z = zip(*rows)
        con.register("clusters_in", pa.table({"threshold": t, "doc_id": d, "cluster_id": c,
                                              "is_representative": r, "cluster_size": pa.array(z, pa.int32())}))
        con.execute("INSERT INTO dup_clusters SELECT * FROM clusters_in")
        con.unregister("clusters_in")
    store.set_meta(con, "dup_thresholds", json.dumps(list(THRESHOLDS)))


def _validation(con, slice_id: str, n_kept: int, run_id: int) -> None:
    results = [
        {"check": "row_count", "success": n_kept > 0, "observed_value": n_kept, "unexpected_percent": None,
         "skipped": None, "expectation_type": "expect_table_row_count_to_be_between"},
        {"check": "lang_share", "success": True, "observed_value": 0.97, "unexpected_percent": 3.0,
         "skipped": None, "expectation_type": "expect_column_values_to_be_in_set"},
        {"check": "pii_email", "success": None, "observed_value": None, "unexpected_percent": None,
         "skipped": "column(s) absent from the slice: pii_email_count",
         "expectation_type": "expect_column_values_to_be_between"},
    ]
    stats = {"evaluated_expectations": 2, "successful_expectations": 1 + (n_kept > 0), "row_count": n_kept}
    con.execute("INSERT INTO validations VALUES (?, 'default', ?, ?, ?, NULL, ?, ?)",
                [slice_id, n_kept > 0, json.dumps(stats), json.dumps({"results": results, "statistics": stats}),
                 store.now(), run_id])


PROMPTS = (("The river", "story"), ("In the market", "news"))


def _train_runs(con, rng: np.random.Generator) -> None:
    for slice_id, name in con.execute("SELECT slice_id, name FROM slices ORDER BY name").fetchall():
        for seed in (0, 1):
            tid = f"{slice_id}-tiny-s{seed}"
            bpb = float(2.0 + rng.random() * 0.3 + (0.2 if name == "loose" else 0.0))
            metrics = {"quality_mean": float(rng.random()), "junk_rate": float(rng.random() * 0.5),
                       "repetition_4gram": float(rng.random() * 0.2), "distinct_2": float(0.5 + rng.random() * 0.4),
                       "memorization": float(rng.random() * 0.1)}
            con.execute(
                "INSERT INTO train_runs VALUES"
                " (?, ?, ?, ?, '{}', 20000, 1.0, ?, NULL, ?, 1000.0, 'cpu', 1.0, 1000, NULL, ?, NULL, ?)",
                [tid, slice_id, name, seed, bpb, json.dumps([3.0, 2.5, 2.2]), json.dumps(metrics), store.now()])
            for k, (prompt, kind) in enumerate(PROMPTS):
                con.execute("INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [tid, k, kind, prompt, f"{prompt} sample from {name} seed {seed}", 0.5, seed == 1])
