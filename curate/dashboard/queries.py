"""Every read the dashboard and `curate audit` make, as functions of an open connection.

Identifiers come only from the signal registry (`curate.store.ident`), values are bound
parameters, and a table a store does not have yet gives an empty answer, not an error:
an empty store and a store without train results are ordinary states.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from curate import store
from curate.dashboard.explorer import BYTES_PER_TOKEN
from curate.store import ident, table_exists

GENERATION_METRICS = ("quality_mean", "junk_rate", "repetition_4gram", "distinct_2", "memorization")


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _has(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    return all(table_exists(con, t) for t in tables)


def signal_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Registry signals present in this store's signals table, in registry order."""
    from curate.signals import REGISTRY

    if not _has(con, "signals"):
        return []
    present = store.signal_columns(con)
    return [n for n in REGISTRY.names() if n in present]


@dataclass(frozen=True)
class Overview:
    sources: int
    documents: int
    bytes: int
    quarantined: int
    scored: int
    slices: int
    runs: int
    last_run: int | None

    @property
    def tokens(self) -> int:
        return self.bytes // BYTES_PER_TOKEN


def overview(con: duckdb.DuckDBPyConnection) -> Overview:
    def one(table: str, sql: str) -> int:
        return int(con.execute(sql).fetchall()[0][0] or 0) if _has(con, table) else 0

    last = store.last_run_id(con)
    return Overview(
        sources=one("sources", "SELECT count(*) FROM sources"),
        documents=one("documents", "SELECT count(*) FROM documents"),
        bytes=one("documents", "SELECT coalesce(sum(n_bytes), 0) FROM documents"),
        quarantined=one("quarantine", "SELECT count(*) FROM quarantine"),
        scored=one("signals", "SELECT count(*) FROM signals"),
        slices=one("slices", "SELECT count(*) FROM slices"),
        runs=one("runs", "SELECT count(*) FROM runs"),
        last_run=None if last is None else int(last),
    )


def sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Input files, one row per file; files of one format in one folder (a .txt dir) share a row."""
    if not _has(con, "sources"):
        return pd.DataFrame(columns=["input", "format", "files", "records", "documents", "quarantined", "MB"])
    return _df(con, """WITH s AS (SELECT *, regexp_extract(uri, '^(.*)/[^/]*$', 1) AS folder FROM sources)
                       SELECT CASE WHEN count(*) = 1 THEN any_value(uri) ELSE folder || '/*.' || format END AS input,
                              format, count(*) AS files, sum(n_records)::BIGINT AS records,
                              sum(n_documents)::BIGINT AS documents, sum(n_quarantined)::BIGINT AS quarantined,
                              round(sum(n_bytes) / 1e6, 3) AS MB, max(ingested_at) AS ingested_at
                       FROM s GROUP BY folder, format ORDER BY input""")


def languages(con: duckdb.DuckDBPyConnection, limit: int = 30) -> pd.DataFrame:
    if "lang" not in signal_columns(con) or not _has(con, "documents"):
        return pd.DataFrame(columns=["lang", "documents", "tokens"])
    return _df(con, f"""SELECT coalesce(s.lang, '(none)') AS lang, count(*) AS documents,
                               (sum(d.n_bytes) // {BYTES_PER_TOKEN})::BIGINT AS tokens
                        FROM signals s JOIN documents d USING (doc_id)
                        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?""", [limit])


def signal_histogram(con: duckdb.DuckDBPyConnection, name: str, bins: int = 40) -> pd.DataFrame:
    """Document counts in `bins` equal-width bins from the minimum to the 99th percentile.

    Values above the 99th percentile are counted in the last bin, so one huge document does
    not squash every other bar into the first.
    """
    from curate.signals import REGISTRY

    empty = pd.DataFrame(columns=["bin_lo", "bin_hi", "documents"])
    if name not in signal_columns(con) or REGISTRY.get(name).dtype == "VARCHAR":
        return empty
    col = ident(name)
    lo, hi = con.execute(f"SELECT min({col}), quantile_cont({col}, 0.99) FROM signals").fetchall()[0]
    if lo is None:
        return empty
    lo, hi = float(lo), float(hi)
    width = (hi - lo) / bins if hi > lo else 1.0
    return _df(con, f"""SELECT ? + b * ? AS bin_lo, ? + (b + 1) * ? AS bin_hi, count(*) AS documents
                        FROM (SELECT least(greatest(floor(({col} - ?) / ?), 0), ? - 1)::INTEGER AS b
                              FROM signals WHERE {col} IS NOT NULL)
                        GROUP BY b ORDER BY b""", [lo, width, lo, width, lo, width, bins])


def signal_summary(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """min, quartiles, p90, max and missing count of one numeric signal."""
    from curate.signals import REGISTRY

    if name not in signal_columns(con) or REGISTRY.get(name).dtype == "VARCHAR":
        return pd.DataFrame(columns=["signal", "min", "p10", "p50", "p90", "max", "missing"])
    col = ident(name)
    return _df(con, f"""SELECT ? AS signal, min({col}) AS min, quantile_cont({col}, 0.1) AS p10,
                               quantile_cont({col}, 0.5) AS p50, quantile_cont({col}, 0.9) AS p90,
                               max({col}) AS max, count(*) - count({col}) AS missing FROM signals""", [name])


def slices(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not _has(con, "slices"):
        return pd.DataFrame(columns=["slice_id", "name", "n_documents", "n_kept", "n_dropped", "kept_MB", "built_at"])
    return _df(con, """SELECT slice_id, name, n_documents, n_kept, n_dropped, round(kept_bytes / 1e6, 3) AS kept_MB,
                              built_at, run_id
                       FROM slices ORDER BY name, built_at""")


def slice_exists(con: duckdb.DuckDBPyConnection, slice_id: str) -> bool:
    return _has(con, "slices") and bool(
        con.execute("SELECT count(*) FROM slices WHERE slice_id = ?", [slice_id]).fetchall()[0][0])


def recipe_yaml(con: duckdb.DuckDBPyConnection, slice_id: str) -> str | None:
    """The YAML of the recipe a slice was built from (None if the slice has none)."""
    rows = con.execute("SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?",
                       [slice_id]).fetchall()
    return rows[0][0] if rows else None


def drop_reasons(con: duckdb.DuckDBPyConnection, slice_id: str | None = None) -> pd.DataFrame:
    """Documents dropped per (slice, first failing reason)."""
    if not _has(con, "decisions", "slices"):
        return pd.DataFrame(columns=["slice_id", "name", "reason", "documents"])
    where, params = ("AND k.slice_id = ?", [slice_id]) if slice_id else ("", [])
    return _df(con, f"""SELECT k.slice_id, s.name, k.reason, count(*) AS documents
                        FROM decisions k JOIN slices s USING (slice_id)
                        WHERE NOT k.kept {where}
                        GROUP BY ALL ORDER BY s.name, documents DESC, k.reason""", params)


def cluster_sizes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Near-duplicate clusters per (threshold, cluster size)."""
    if not _has(con, "dup_clusters"):
        return pd.DataFrame(columns=["threshold", "cluster_size", "clusters", "documents"])
    return _df(con, """SELECT threshold, cluster_size, count(*) AS clusters, count(*) * cluster_size AS documents
                       FROM dup_clusters WHERE is_representative
                       GROUP BY threshold, cluster_size ORDER BY threshold, cluster_size""")


def examples(con: duckdb.DuckDBPyConnection, slice_id: str, reason: str | None = None,
             limit: int = 5) -> list[dict]:
    """Dropped documents of a slice (optionally for one reason) with their full text."""
    if not _has(con, "decisions"):
        return []
    where, params = ("AND k.reason = ?", [reason]) if reason else ("", [])
    rows = con.execute(
        f"""SELECT d.doc_id, d.external_id, k.reason, d.text FROM decisions k JOIN documents d USING (doc_id)
            WHERE k.slice_id = ? AND NOT k.kept {where} ORDER BY hash(d.doc_id), d.doc_id LIMIT ?""",
        [slice_id, *params, int(limit)],
    ).fetchall()
    return [dict(zip(("doc_id", "external_id", "reason", "text"), r)) for r in rows]


def document(con: duckdb.DuckDBPyConnection, doc_id: str) -> dict | None:
    """One document: text, source, signals, and the decision every slice made about it."""
    if not _has(con, "documents"):
        return None
    rows = con.execute(
        "SELECT doc_id, external_id, source_id, record_no, text, n_bytes FROM documents WHERE doc_id = ?", [doc_id]
    ).fetchall()
    if not rows:
        return None
    doc = dict(zip(("doc_id", "external_id", "source_id", "record_no", "text", "n_bytes"), rows[0]))
    cols = signal_columns(con)
    doc["signals"] = {}
    if cols:
        vals = con.execute(f"SELECT {', '.join(ident(c) for c in cols)} FROM signals WHERE doc_id = ?",
                           [doc_id]).fetchall()
        if vals:
            doc["signals"] = dict(zip(cols, vals[0]))
    doc["decisions"] = (
        con.execute("""SELECT s.name, k.slice_id, k.kept, k.reason FROM decisions k JOIN slices s USING (slice_id)
                       WHERE k.doc_id = ? ORDER BY s.name""", [doc_id]).fetchall()
        if _has(con, "decisions", "slices") else []
    )
    return doc


def quarantine(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pd.DataFrame:
    if not _has(con, "quarantine"):
        return pd.DataFrame(columns=["uri", "record_no", "error_kind", "error", "raw"])
    return _df(con, """SELECT uri, record_no, error_kind, error, left(raw, 200) AS raw
                       FROM quarantine ORDER BY uri, record_no LIMIT ?""", [limit])


def quarantine_by_error(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not _has(con, "quarantine"):
        return pd.DataFrame(columns=["error_kind", "records"])
    return _df(con, "SELECT error_kind, count(*) AS records FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1")


def runs(con: duckdb.DuckDBPyConnection, limit: int = 200) -> pd.DataFrame:
    if not _has(con, "runs"):
        return pd.DataFrame(columns=["run_id", "command", "status", "started_at", "finished_at", "seconds"])
    df = _df(con, """SELECT run_id, command, status, exit_code, started_at, finished_at,
                            round(epoch(finished_at - started_at), 1) AS seconds,
                            records_read, documents_ingested, quarantined, files_failed, counts, message
                     FROM runs ORDER BY run_id DESC LIMIT ?""", [limit])
    df["counts"] = [_compact_json(c) for c in df["counts"]]
    return df


def _compact_json(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(data, dict):
        return ", ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, (dict, list)))
    return str(data)


def validations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not _has(con, "validations"):
        return pd.DataFrame(columns=["slice_id", "suite", "success", "evaluated", "successful", "rows", "validated_at"])
    df = _df(con, """SELECT v.slice_id, s.name, v.suite, v.success, v.statistics, v.docs_path, v.validated_at, v.run_id
                     FROM validations v LEFT JOIN slices s USING (slice_id) ORDER BY v.validated_at DESC""")
    stats = [json.loads(s) if isinstance(s, str) else {} for s in df["statistics"]]
    df["evaluated"] = [s.get("evaluated_expectations") for s in stats]
    df["successful"] = [s.get("successful_expectations") for s in stats]
    df["rows"] = [s.get("row_count") for s in stats]
    return df.drop(columns=["statistics"])


def validation_checks(con: duckdb.DuckDBPyConnection, slice_id: str, suite: str | None = None) -> pd.DataFrame:
    """One row per check of the latest validation of a slice (from the stored result JSON)."""
    cols = ["check", "success", "observed_value", "unexpected_percent", "skipped", "expectation_type"]
    if not _has(con, "validations"):
        return pd.DataFrame(columns=cols)
    where, params = ("AND suite = ?", [suite]) if suite else ("", [])
    rows = con.execute(
        f"SELECT result_json FROM validations WHERE slice_id = ? {where} ORDER BY validated_at DESC LIMIT 1",
        [slice_id, *params]).fetchall()
    if not rows or rows[0][0] is None:
        return pd.DataFrame(columns=cols)
    try:
        results = json.loads(rows[0][0]).get("results") or []
    except (ValueError, AttributeError):
        return pd.DataFrame(columns=cols)
    return pd.DataFrame([{c: (r.get(c) if not isinstance(r.get(c), (dict, list)) else json.dumps(r.get(c)))
                          for c in cols} for r in results if isinstance(r, dict)], columns=cols)


# --- slice comparison ------------------------------------------------------------------------


def train_results(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per trained model: slice, seed, tokens, bits-per-byte, generation metrics."""
    cols = ["train_run_id", "slice_id", "slice", "seed", "tokens", "bpb", "device", *GENERATION_METRICS]
    if not _has(con, "train_runs"):
        return pd.DataFrame(columns=cols)
    rows = con.execute("""SELECT train_run_id, slice_id, slice_name, seed, tokens, bpb, device, metrics
                          FROM train_runs ORDER BY slice_name, seed""").fetchall()
    out = []
    for *head, metrics in rows:
        try:
            m = json.loads(metrics) if metrics else {}
        except ValueError:
            m = {}
        out.append([*head, *(m.get(k) if isinstance(m, dict) else None for k in GENERATION_METRICS)])
    return pd.DataFrame(out, columns=cols)


def slice_settings(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per slice, the settings that made it: kept share, rule count, dedup, and every bound."""
    if not _has(con, "slices"):
        return pd.DataFrame(columns=["slice_id", "slice", "kept_share", "rules", "near_threshold", "exact_dedup"])
    rows = con.execute("SELECT slice_id, name, n_documents, n_kept, kept_bytes, config FROM slices").fetchall()
    out = []
    for slice_id, name, n_docs, n_kept, kept_bytes, config in rows:
        try:
            cfg = json.loads(config) if config else {}
        except ValueError:
            cfg = {}
        filters = cfg.get("filters") or {}
        dedup = cfg.get("dedup") or {}
        row = {"slice_id": slice_id, "slice": name, "documents_kept": n_kept,
               "kept_share": (n_kept / n_docs) if n_docs else None, "kept_MB": kept_bytes / 1e6,
               "rules": len(filters), "near_threshold": dedup.get("near_threshold"),
               "exact_dedup": bool(dedup.get("exact")),
               "settings": "; ".join(_rule_text(k, v) for k, v in filters.items())}
        for sig, spec in filters.items():
            if isinstance(spec, dict):
                for bound in ("min", "max"):
                    if isinstance(spec.get(bound), (int, float)):
                        row[f"{sig}.{bound}"] = float(spec[bound])
        out.append(row)
    return pd.DataFrame(out)


def _rule_text(sig: str, spec) -> str:
    if not isinstance(spec, dict):
        return f"{sig}: {spec}"
    if "allow" in spec:
        return f"{sig} in {spec['allow']}"
    lo, hi = spec.get("min"), spec.get("max")
    return f"{'' if lo is None else f'{lo:g} ≤ '}{sig}{'' if hi is None else f' ≤ {hi:g}'}"


def comparison(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per slice: seeds, bpb mean and spread, mean of each generation metric, plus its settings."""
    runs_df = train_results(con)
    if runs_df.empty:
        return pd.DataFrame()
    metrics = runs_df.groupby(["slice_id", "slice"], as_index=False).agg(
        seeds=("seed", "count"), tokens=("tokens", "mean"), bpb=("bpb", "mean"), bpb_sd=("bpb", "std"),
        bpb_min=("bpb", "min"), bpb_max=("bpb", "max"),
        **{k: (k, "mean") for k in GENERATION_METRICS})
    settings = slice_settings(con)
    if settings.empty:
        return metrics
    return metrics.merge(settings.drop(columns=["slice"]), on="slice_id", how="left")


def prompts(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str | None]]:
    if not _has(con, "generations"):
        return []
    return con.execute("""SELECT prompt_no, any_value(prompt), any_value(kind) FROM generations
                          GROUP BY prompt_no ORDER BY prompt_no""").fetchall()


def generations_for_prompt(con: duckdb.DuckDBPyConnection, prompt_no: int, slice_ids: list[str]) -> pd.DataFrame:
    """Samples for one prompt from each chosen slice's models (every seed)."""
    cols = ["slice_id", "slice", "seed", "sample", "quality", "junk"]
    if not slice_ids or not _has(con, "generations", "train_runs"):
        return pd.DataFrame(columns=cols)
    marks = ", ".join("?" for _ in slice_ids)
    return _df(con, f"""SELECT t.slice_id, t.slice_name AS slice, t.seed, g.sample, g.quality, g.junk
                        FROM generations g JOIN train_runs t USING (train_run_id)
                        WHERE g.prompt_no = ? AND t.slice_id IN ({marks})
                        ORDER BY t.slice_name, t.seed""", [int(prompt_no), *slice_ids])
