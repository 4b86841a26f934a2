"""Every read the dashboard and `curate audit` make, as functions of an open connection.

Identifiers come only from the signal registry (`curate.store.ident`), values are bound
parameters, and a table a store does not have yet gives an empty answer, not an error:
an empty store and a store without train results are ordinary states.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from curate import store
from curate.store import BYTES_PER_TOKEN, ident, table_exists


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


CLIP = (0.005, 0.995)  # the histogram's axis: the 0.5th to the 99.5th percentile


@dataclass(frozen=True)
class Histogram:
    """One numeric signal's distribution on an axis that fits the data.

    `bins` has one row per bar (bin_lo, bin_hi, documents, edge): the bars between `lo` and
    `hi`, and at most two edge bars (edge 'below' / 'above') counting what lies outside that
    range. `scale` is the x axis: 'linear', or 'symlog' for a count with a long tail, binned
    in equal steps of log(1 + x).
    """

    signal: str
    bins: pd.DataFrame
    scale: str
    lo: float
    hi: float
    below: int
    above: int
    missing: int
    integer: bool

    @property
    def caption(self) -> str:
        lo, hi = number_text(self.lo), number_text(self.hi)
        if self.scale == "symlog":
            text = (f"A count with a long tail, so the bars widen as the count grows (equal steps of log(1 + x) on "
                    f"a symlog axis), from the 0.5th to the 99.5th percentile ({lo} to {hi})")
        elif self.integer and len(self.bins) - bool(self.below) - bool(self.above) == self.hi - self.lo + 1:
            text = f"One bar per value from {lo} to {hi} (the 0.5th to the 99.5th percentile)"
        else:
            text = f"Equal-width bars from the 0.5th to the 99.5th percentile ({lo} to {hi})"
        edges = [f"{n:,} document{'s' * (n != 1)} {where} it" for n, where in
                 ((self.below, "below"), (self.above, "above")) if n]
        if edges:
            text += "; the grey edge bars count the " + " and the ".join(edges)
        text += "."
        if self.missing:
            text += f" {self.missing:,} document{' has' if self.missing == 1 else 's have'} no value."
        return text


def number_text(v: float) -> str:
    """A bound or a bin edge as the pages print it: 100,000, 0.3, 0.0171."""
    return f"{int(v):,}" if float(v).is_integer() else f"{v:.3g}"


def histogram(con: duckdb.DuckDBPyConnection, name: str, bins: int = 40) -> Histogram | None:
    """The signal's histogram (None for a text signal, one not in the store, or one no document has).

    The axis runs from the 0.5th to the 99.5th percentile, so one huge document or one bound
    far from the data (gopher_word_count's 100,000) does not squash every bar into a few
    pixels; what lies outside is counted in an edge bar, never dropped. A count with a long
    tail (an integer signal whose 99.5th percentile is more than `bins` values from its
    0.5th) is binned in equal steps of log(1 + x) on integer edges and drawn on a symlog
    axis; an integer signal with fewer values gets one bar per value. `bins` counts every
    bar, the edge bars too.
    """
    from curate.signals import REGISTRY

    if name not in signal_columns(con) or REGISTRY.get(name).dtype == "VARCHAR":
        return None
    sig = REGISTRY.get(name)
    col = f"{ident(name)}::DOUBLE"
    q_lo, q_hi, mn, mx, n, n_all = con.execute(
        f"""SELECT quantile_cont(x, ?), quantile_cont(x, ?), min(x), max(x), count(x), count(*)
            FROM (SELECT CASE WHEN isfinite({col}) THEN {col} END AS x FROM signals)""", list(CLIP)).fetchone()
    if not n:
        return None
    integer = sig.dtype == "BIGINT"
    inner = max(1, bins - 2)
    lo, hi = float(q_lo), float(q_hi)
    if integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    if hi <= lo:  # most documents share one value: show the whole range instead
        lo, hi = float(mn), float(mx)
    scale = "linear"
    if integer and hi - lo + 1 <= inner:
        edges = [lo + i for i in range(int(hi - lo) + 2)]  # [v, v + 1) per value
        top = hi
    elif integer and lo >= 0:
        scale = "symlog"
        steps = np.linspace(math.log1p(lo), math.log1p(hi + 1), inner + 1)
        edges = sorted({float(round(math.expm1(x))) for x in steps} | {lo, hi + 1})
        top = hi
    elif hi > lo:
        width = (hi - lo) / inner
        edges = [lo + i * width for i in range(inner)] + [hi]
        top = hi
    else:  # one value only
        edges, top = [lo, lo + 1.0], lo
    starts = edges[:-1]
    rows = con.execute(
        f"""WITH e AS (SELECT unnest(?::DOUBLE[]) AS lo, unnest(range(?)) AS b),
                 v AS (SELECT {col} AS x FROM signals WHERE isfinite({col}))
            SELECT CASE WHEN v.x < ? THEN -1 WHEN v.x > ? THEN ? ELSE e.b END AS b, count(*)
            FROM v ASOF LEFT JOIN e ON v.x >= e.lo GROUP BY 1""",
        [starts, len(starts), edges[0], top, len(starts)]).fetchall()
    counts = dict(rows)
    below, above = int(counts.pop(-1, 0)), int(counts.pop(len(starts), 0))
    frame = pd.DataFrame({"bin_lo": starts, "bin_hi": edges[1:], "documents": [int(counts.get(i, 0))
                                                                                for i in range(len(starts))],
                          "edge": [""] * len(starts)})
    span = (edges[-1] - edges[0]) / len(starts)
    extra = []
    if below:
        extra.append({"bin_lo": edges[0] - span if scale == "linear" else edges[0] * 0.8, "bin_hi": edges[0],
                      "documents": below, "edge": "below"})
    if above:
        extra.append({"bin_lo": edges[-1], "bin_hi": edges[-1] + span if scale == "linear" else edges[-1] * 1.25,
                      "documents": above, "edge": "above"})
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True).sort_values("bin_lo", ignore_index=True)
    return Histogram(name, frame, scale, edges[0], top, below, above, int(n_all - n), integer)


def signal_histogram(con: duckdb.DuckDBPyConnection, name: str, bins: int = 40) -> pd.DataFrame:
    """The bars of `histogram` (an empty frame where it has none)."""
    h = histogram(con, name, bins)
    return pd.DataFrame(columns=["bin_lo", "bin_hi", "documents", "edge"]) if h is None else h.bins


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


def slice_recipe(con: duckdb.DuckDBPyConnection, slice_id: str):
    """The recipe a slice was built from (a `curate.recipes.Recipe`; None if the store has none for it)."""
    from curate.recipes import RecipeError, parse_recipe

    text = recipe_yaml(con, slice_id) if _has(con, "slices", "recipes") else None
    try:
        return parse_recipe(text, origin=f"slice {slice_id}") if text else None
    except RecipeError:
        return None


def slice_name(con: duckdb.DuckDBPyConnection, slice_id: str) -> str | None:
    rows = con.execute("SELECT name FROM slices WHERE slice_id = ?", [slice_id]).fetchall() if _has(con, "slices") \
        else []
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


# --- headline dirt: how dirty is the corpus, and what does each slice keep of each part ----------

HIT_HARD = 0.5  # a group kept at under half its slice's overall share stands out
MIN_GROUP = 10  # groups smaller than this are listed but not counted as wiped out
FILES_PER_SOURCE = 10  # a folder with more files of one format than this is one source: pages/*.txt
GROUP_KINDS = {"language": "languages", "source": "sources", "domain": "domains"}
# A metadata field holding the document's address: its host is the document's domain.
URL_FIELDS = ("url", "URL", "source_url")


class Tile(NamedTuple):
    """One headline figure: its label, the share as shown, what it counts, and the count and its whole."""

    label: str
    value: str
    detail: str
    n: int
    of: int


def share_text(n: int, of: int) -> str:
    """A share as the pages print it: 0.4%, 62.3%; "0%" and "100%" only when exact."""
    return fraction_text(n / of) if of else "–"


def fraction_text(share: float | None) -> str:
    """`share_text` of a share already divided (n / of is exactly 0 or 1 only when n is 0 or of)."""
    if share is None or pd.isna(share):
        return "–"
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{share:.0%}" if share in (0, 1) else f"{share:.1%}"


@dataclass(frozen=True)
class Headline:
    """How dirty the corpus is, in shares: the figures the audit opens with."""

    documents: int
    scored: int
    records_read: int
    quarantined: int
    failing_default: int  # scored documents outside at least one published default
    exact_duplicates: int  # documents that are not the first of their text_hash group
    near_duplicates: tuple[tuple[float, int], ...] = ()  # (threshold, non-representatives)

    def tiles(self) -> list[Tile]:
        out = [Tile("outside a default", share_text(self.failing_default, self.scored),
                    f"{self.failing_default:,} of {self.scored:,} scored documents are outside at least one "
                    "signal's published default (the registry's default_min/default_max)"
                    if self.scored else "no document is scored yet: run `curate score`",
                    self.failing_default, self.scored),
               Tile("exact duplicates", share_text(self.exact_duplicates, self.documents),
                    f"{self.exact_duplicates:,} of {self.documents:,} documents repeat an earlier document's "
                    "normalized text (every copy but one per text_hash)", self.exact_duplicates, self.documents)]
        for threshold, n in self.near_duplicates:
            out.append(Tile(f"near dups (J ≥ {threshold:g})", share_text(n, self.documents),
                            f"{n:,} of {self.documents:,} documents are in a near-duplicate cluster at Jaccard "
                            f"{threshold:g} and are not its representative", n, self.documents))
        if not self.near_duplicates:
            out.append(Tile("near duplicates", "–", "no near-duplicate clusters yet: run `curate dedup`", 0, 0))
        out.append(Tile("quarantined records", share_text(self.quarantined, self.records_read),
                        f"{self.quarantined:,} of {self.records_read:,} records read could not be read as documents",
                        self.quarantined, self.records_read))
        return out


def _default_failures(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Per signal with a published default: (signal, SQL condition that fails it, its parameters)."""
    from curate.signals import REGISTRY

    out = []
    for name in signal_columns(con):
        sig = REGISTRY.get(name)
        if not sig.has_default:
            continue
        conds, params = [], []
        if sig.default_min is not None:
            conds.append(f"{ident(name)} < ?")
            params.append(float(sig.default_min))
        if sig.default_max is not None:
            conds.append(f"{ident(name)} > ?")
            params.append(float(sig.default_max))
        out.append((sig, "(" + " OR ".join(conds) + ")", params))
    return out


def failing_defaults(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per signal with a published default: documents outside it (a missing value passes, as in Signal.keeps)."""
    cols = ["signal", "family", "default", "documents outside"]
    checks = _default_failures(con)
    if not checks:
        return pd.DataFrame(columns=cols)
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {c})' for _, c, _ in checks)} FROM signals",
                         [v for _, _, p in checks for v in p]).fetchone()
    rows = []
    for (sig, _, _), n in zip(checks, counts):
        bound = (f"{'' if sig.default_min is None else f'{sig.default_min:g} ≤ '}x"
                 f"{'' if sig.default_max is None else f' ≤ {sig.default_max:g}'}")
        rows.append({"signal": sig.name, "family": sig.family, "default": bound, "documents outside": int(n)})
    return pd.DataFrame(rows, columns=cols)


def headline(con: duckdb.DuckDBPyConnection) -> Headline:
    """The corpus's dirt in one pass per table: default failures, exact and near duplicates, quarantine."""
    def one(table: str, sql: str, params: list | None = None) -> int:
        return int(con.execute(sql, params or []).fetchone()[0] or 0) if _has(con, table) else 0

    documents = one("documents", "SELECT count(*) FROM documents")
    quarantined = one("quarantine", "SELECT count(*) FROM quarantine")
    read = one("sources", "SELECT sum(n_records) FROM sources")
    checks = _default_failures(con)
    failing = one("signals", f"SELECT count(*) FILTER (WHERE {' OR '.join(c for _, c, _ in checks)}) FROM signals",
                  [v for _, _, p in checks for v in p]) if checks else 0
    near = ()
    if _has(con, "dup_clusters"):
        near = tuple((float(t), int(n)) for t, n in con.execute(
            "SELECT threshold, count(*) FILTER (WHERE NOT is_representative) FROM dup_clusters "
            "GROUP BY 1 ORDER BY 1").fetchall())
    return Headline(
        documents=documents,
        scored=one("signals", "SELECT count(*) FROM signals"),
        records_read=max(read, documents + quarantined),
        quarantined=quarantined,
        failing_default=failing,
        exact_duplicates=one("documents", "SELECT count(*) - count(DISTINCT text_hash) FROM documents"),
        near_duplicates=near,
    )


def _domain_sql() -> tuple[str, list]:
    """The host of the document's URL (metadata field url, URL or source_url), without `www.`; NULL if none."""
    fields = ", ".join("json_extract_string(d.metadata, ?)" for _ in URL_FIELDS)
    return (f"nullif(regexp_replace(lower(regexp_extract(coalesce({fields}), "
            r"'^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?([^/:?#]+)', 1)), '^www\.', ''), '')",
            [f"$.{f}" for f in URL_FIELDS])


def kept_by_group(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """For the latest slice of every recipe: documents, kept documents, bytes and kept bytes, overall
    (kind 'all') and per language (signals.lang), per source (the input file; folder/*.format for a
    folder of more than FILES_PER_SOURCE files of one format) and, where documents carry a URL in
    their metadata, per domain.

    One pass over the decisions with GROUPING SETS. Shares and tokens (bytes / 4) are added here;
    the pages read them through `kept_overview` and `kept_table`.
    """
    cols = ["slice", "slice_id", "kind", "group", "documents", "kept", "bytes", "kept_bytes"]
    if not _has(con, "decisions", "slices", "documents"):
        return _with_shares(pd.DataFrame(columns=cols))
    scored = _has(con, "signals") and "lang" in signal_columns(con)
    lang = "coalesce(s.lang, '(no language)')" if scored else "'(not scored)'"
    join = " LEFT JOIN signals s ON s.doc_id = d.doc_id" if scored else ""
    src = ("""LEFT JOIN (SELECT source_id, any_value(input) AS input FROM (
                  SELECT source_id, CASE WHEN count(*) OVER (PARTITION BY folder, format) <= ? THEN uri
                                         ELSE folder || '/*.' || format END AS input
                  FROM (SELECT *, regexp_extract(uri, '^(.*)/[^/]*$', 1) AS folder FROM sources))
                  GROUP BY source_id) src ON src.source_id = d.source_id""" if _has(con, "sources") else "")
    source = "coalesce(src.input, d.source_id)" if src else "d.source_id"
    domain, domain_params = _domain_sql()
    df = _df(con, f"""
        WITH latest AS (SELECT slice_id, name FROM slices
                        QUALIFY row_number() OVER (PARTITION BY name ORDER BY built_at DESC, slice_id) = 1),
             doc AS (SELECT d.doc_id, d.n_bytes, {lang} AS lang, {source} AS source,
                            coalesce({domain}, '(no URL)') AS domain, {domain} IS NOT NULL AS has_url
                     FROM documents d{join} {src})
        SELECT l.name AS slice, k.slice_id,
               CASE WHEN grouping(doc.lang) = 0 THEN 'language' WHEN grouping(doc.source) = 0 THEN 'source'
                    WHEN grouping(doc.domain) = 0 THEN 'domain' ELSE 'all' END AS kind,
               coalesce(doc.lang, doc.source, doc.domain, '(all documents)') AS "group",
               count(*) AS documents, count(*) FILTER (WHERE k.kept) AS kept,
               sum(doc.n_bytes)::BIGINT AS bytes,
               coalesce(sum(doc.n_bytes) FILTER (WHERE k.kept), 0)::BIGINT AS kept_bytes,
               bool_or(doc.has_url) AS has_url
        FROM decisions k JOIN latest l ON l.slice_id = k.slice_id JOIN doc ON doc.doc_id = k.doc_id
        GROUP BY GROUPING SETS ((l.name, k.slice_id), (l.name, k.slice_id, doc.lang),
                                (l.name, k.slice_id, doc.source), (l.name, k.slice_id, doc.domain))""",
             [*domain_params, *domain_params, *([FILES_PER_SOURCE] if src else [])])
    if not df.empty and not df.loc[df.kind == "domain", "has_url"].any():
        df = df[df.kind != "domain"]  # no document has a URL: no domain view
    df = df.drop(columns=["has_url"])
    sources = df.kind == "source"
    df.loc[sources, "group"] = _short_inputs(list(df.loc[sources, "group"]))
    return _with_shares(df[cols])


def _short_inputs(inputs: list[str]) -> list[str]:
    """Input paths without the folder they all share: forum.parquet, pages/*.txt."""
    import posixpath

    folders = [posixpath.dirname(p) for p in inputs]
    if not inputs or not all(folders):
        return inputs
    try:
        root = posixpath.commonpath(folders)
    except ValueError:  # absolute and relative paths mixed
        return inputs
    return inputs if root in ("", "/") else [posixpath.relpath(p, root) for p in inputs]


def _with_shares(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in ("documents", "kept", "bytes", "kept_bytes"):
        df[c] = df[c].astype("int64")
    df["tokens"] = df["bytes"] // BYTES_PER_TOKEN
    df["kept_tokens"] = df["kept_bytes"] // BYTES_PER_TOKEN
    df["kept_share"] = (df["kept"] / df["documents"].where(df["documents"] > 0)).astype(float)
    df["kept_token_share"] = (df["kept_bytes"] / df["bytes"].where(df["bytes"] > 0)).astype(float)
    overall = df[df.kind == "all"].set_index("slice_id")["kept_share"]
    df["vs_overall"] = (df["kept_share"] / df["slice_id"].map(overall).where(lambda v: v > 0)).astype(float)
    return df.reset_index(drop=True)


def _slice_order(df: pd.DataFrame) -> list[str]:
    """Slice names, the one keeping most first (raw), the strictest last."""
    overall = df[df.kind == "all"].sort_values(["kept_share", "slice"], ascending=[False, True])
    return list(overall["slice"])


def kept_overview(df: pd.DataFrame) -> pd.DataFrame:
    """One row per slice: its kept share of documents and tokens, and per group kind how many groups
    (of MIN_GROUP documents or more) it keeps nothing of (✗) or under HIT_HARD of its overall share of
    (↓), and the group it keeps least of."""
    rows = []
    for name in _slice_order(df):
        mine = df[df.slice == name]
        total = mine[mine.kind == "all"].iloc[0]
        row = {"slice": name, "kept documents": f"{int(total.kept):,} of {int(total.documents):,}",
               "kept share": share_text(int(total.kept), int(total.documents)),
               "kept tokens": share_text(int(total.kept_bytes), int(total.bytes))}
        for kind, plural in GROUP_KINDS.items():
            groups = mine[mine.kind == kind]
            if groups.empty:
                continue
            big = groups[groups.documents >= MIN_GROUP]
            wiped = big[big.kept == 0]
            hard = big[(big.kept > 0) & (big.vs_overall < HIT_HARD)]
            row[f"{plural} ✗ / ↓"] = f"{len(wiped)} / {len(hard)} of {len(big)}"
            worst = big.sort_values(["kept_share", "documents"], ascending=[True, False]).head(1)
            row[f"worst {kind}"] = _group_text(worst.iloc[0]) if not worst.empty else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def overall_shares(df: pd.DataFrame, *, tokens: bool = False) -> dict[str, float]:
    """Slice name -> its overall kept share (of documents, or of tokens), the one keeping most first."""
    total = df[df.kind == "all"].set_index("slice")["kept_token_share" if tokens else "kept_share"]
    return {name: float(total[name]) for name in _slice_order(df)}


def kept_mark(share: float | None, overall: float) -> str:
    """'wiped' (nothing kept), 'low' (under HIT_HARD of the slice's overall share) or ''."""
    if share is None or pd.isna(share):
        return ""
    if share == 0 and overall > 0:
        return "wiped"
    return "low" if share < HIT_HARD * overall else ""


def kept_alerts(df: pd.DataFrame, names: int = 5) -> list[str]:
    """One sentence per slice that wipes out a group (of MIN_GROUP documents or more) or keeps one at
    under half its overall share: what a reader must not miss."""
    out = []
    for name in _slice_order(df):
        mine = df[(df.slice == name) & (df.documents >= MIN_GROUP)]
        overall = mine[mine.kind == "all"]["kept_share"]
        if overall.empty:
            continue
        parts = []
        for kind, plural in GROUP_KINDS.items():
            groups = mine[mine.kind == kind].sort_values(["documents", "group"], ascending=[False, True])
            if groups.empty:
                continue
            wiped = groups[groups.kept == 0]
            low = groups[(groups.kept > 0) & (groups.vs_overall < HIT_HARD)].sort_values("kept_share")
            if not wiped.empty:
                parts.append(f"nothing of {len(wiped)} of {len(groups)} {plural} ({_names(wiped, names)})")
            if not low.empty:
                parts.append(f"under half its overall share of {len(low)} {plural if len(low) > 1 else kind} ("
                             + _names(low, names, shares=True) + ")")
        if parts:
            total = mine[mine.kind == "all"].iloc[0]
            out.append(f"{name} (keeps {share_text(int(total.kept), int(total.documents))}) keeps "
                       + "; ".join(parts) + ".")
    return out


def _group_text(g) -> str:
    """`de: 0% of 354`: a group's kept share and size."""
    return f"{g['group']}: {share_text(int(g['kept']), int(g['documents']))} of {int(g['documents']):,}"


def _names(groups: pd.DataFrame, limit: int, *, shares: bool = False) -> str:
    shown = [f"{g['group']} {share_text(int(g['kept']), int(g['documents']))}" if shares else str(g["group"])
             for _, g in groups.head(limit).iterrows()]
    return ", ".join(shown) + (f", +{len(groups) - limit} more" if len(groups) > limit else "")


def kept_table(df: pd.DataFrame, kind: str, *, tokens: bool = False) -> pd.DataFrame:
    """Groups of one kind × slices: each cell the slice's kept share of the group (of its documents,
    or of its tokens), the group hit hardest (relative to its slice's overall share) first, groups
    under MIN_GROUP documents after the others."""
    groups = df[df.kind == kind]
    if groups.empty:
        return pd.DataFrame(columns=["group", "documents", "≈ tokens"])
    value = "kept_token_share" if tokens else "kept_share"
    order = _slice_order(df)
    wide = groups.pivot_table(index="group", columns="slice", values=value, aggfunc="first")
    sizes = groups.groupby("group").agg(documents=("documents", "max"), tokens=("tokens", "max"))
    out = sizes.join(wide[[c for c in order if c in wide.columns]])
    out["_small"] = out["documents"] < MIN_GROUP
    out["_worst"] = groups.groupby("group")["vs_overall"].min()
    out = out.reset_index().sort_values(["_small", "_worst", "documents", "group"],
                                        ascending=[True, True, False, True], na_position="last")
    return out.drop(columns=["_small", "_worst"]).rename(columns={"tokens": "≈ tokens"}).reset_index(drop=True)


# --- drop reasons: per rule, first failing and dropped alone ------------------------------------

TOP_REASONS = 8
OTHER_SHARE = 0.01  # a family's remaining reasons under this share of a slice's drops go to "other"
REASON_FAMILIES = {"exact_duplicate": "exact duplicates", "near_duplicate": "near duplicates",
                   "not_scored": "not scored"}
KEY_FAMILIES = ("language", "quality", "exact duplicates", "near duplicates", "not scored")


def reason_family(reason: str) -> str:
    """The family a drop reason belongs to: the signal's registry family (`language`, `quality`,
    `gopher_quality`, ...), `exact duplicates`, `near duplicates`, `not scored`, else `other`."""
    from curate.dashboard.highlight import signal_of
    from curate.signals import REGISTRY

    if reason in REASON_FAMILIES:
        return REASON_FAMILIES[reason]
    sig = signal_of(reason)
    return REGISTRY.get(sig).family if sig in REGISTRY else "other"


def rule_drops(con: duckdb.DuckDBPyConnection, slice_id: str) -> pd.DataFrame:
    """Every drop reason of a slice's recipe, in the order it tests them, with three counts:
    `first`: documents it was the first failing rule for (the stored decision);
    `alone`: documents it drops alone (no other rule of the recipe fails them; they would be kept
    without it); `fails`: documents that fail it at all.

    `alone` and `fails` need every rule evaluated on every document, not just the first that fails:
    one pass over the slice's decisions with one boolean per rule (the recipe compiler's own
    conditions, `curate.recipes.rule_reasons`, and dedup as `compile_decisions` does it), then counts
    of the rows where that rule fails, and where it is the only one. None where the store cannot
    evaluate the rule now (a signal no longer scored).
    """
    from curate.dashboard.explorer import Settings
    from curate.recipes import rule_reasons

    cols = ["reason", "family", "first", "alone", "fails"]
    if not _has(con, "decisions", "slices"):
        return pd.DataFrame(columns=cols)
    first = dict(con.execute("SELECT reason, count(*) FROM decisions WHERE slice_id = ? AND NOT kept "
                             "GROUP BY 1", [slice_id]).fetchall())
    recipe = slice_recipe(con, slice_id)
    order = Settings.from_recipe(recipe).reason_order() if recipe else ["not_scored"]
    counts: dict[str, tuple[int | None, int | None]] = {}
    present = store.signal_columns(con) if _has(con, "signals") else set()
    if recipe is not None and all(r.signal in present for r in recipe.rules):
        flags, params, codes = [], [], []
        for rule in recipe.rules:
            for cond, code, values in rule_reasons(rule):
                flags.append(f"coalesce({cond}, false)")
                params.extend(values)
                codes.append(code)
        joins, join_params = "", []
        if recipe.dedup.exact:
            quality = "s2.quality" if "quality" in present else "NULL"
            joins += (" LEFT JOIN (SELECT d2.doc_id, row_number() OVER (PARTITION BY d2.text_hash ORDER BY "
                      f"{store.best_copy_order(quality, 'd2.n_bytes', 'd2.doc_id')}) AS copy_rank "
                      "FROM documents d2 LEFT JOIN signals s2 USING (doc_id)) e ON e.doc_id = d.doc_id")
            flags.append("coalesce(e.copy_rank > 1, false)")
            codes.append("exact_duplicate")
        if recipe.dedup.near_threshold is not None:
            joins += " LEFT JOIN dup_clusters c ON c.doc_id = d.doc_id AND c.threshold = ?"
            join_params.append(recipe.dedup.near_threshold)
            flags.append("coalesce(c.is_representative = false, false)")
            codes.append("near_duplicate")
        names = [f"f{i}" for i in range(len(flags))]
        n_fail = " + ".join(f"{n}::INTEGER" for n in names) if names else "0"
        aggs = ["count(*) FILTER (WHERE NOT scored)"]
        for n in names:
            aggs += [f"count(*) FILTER (WHERE scored AND {n} AND n_fail = 1)",
                     f"count(*) FILTER (WHERE scored AND {n})"]
        flag_list = "".join(f", {f} AS {n}" for f, n in zip(flags, names))
        row = con.execute(
            # MATERIALIZED: inlined, the sum of every flag would be computed again in each FILTER
            f"""WITH flags AS MATERIALIZED (
                    SELECT s.doc_id IS NOT NULL AS scored{flag_list}
                    FROM decisions k JOIN documents d ON d.doc_id = k.doc_id
                    LEFT JOIN signals s ON s.doc_id = d.doc_id{joins}
                    WHERE k.slice_id = ?),
                counted AS MATERIALIZED (SELECT *, {n_fail} AS n_fail FROM flags)
                SELECT {', '.join(aggs)} FROM counted""", [*params, *join_params, slice_id]).fetchone()
        counts["not_scored"] = (int(row[0]), int(row[0]))
        for i, code in enumerate(codes):
            counts[code] = (int(row[1 + 2 * i]), int(row[2 + 2 * i]))
    reasons = order + sorted(set(first) - set(order))
    out = [{"reason": r, "family": reason_family(r), "first": int(first.get(r, 0)),
            "alone": counts.get(r, (None, None))[0], "fails": counts.get(r, (None, None))[1]} for r in reasons]
    frame = pd.DataFrame(out, columns=cols).astype({"alone": "Int64", "fails": "Int64"})
    return frame[(frame["first"] > 0) | (frame["fails"].fillna(0) > 0) | (frame.reason != "not_scored")]\
        .reset_index(drop=True)


def grouped_reasons(rules: pd.DataFrame, top: int = TOP_REASONS) -> pd.DataFrame:
    """A slice's drop reasons for the chart: the `top` reasons by first-failing count one bar each; the
    rest one bar per family ("gopher_repetition: 5 more rules", a family of one rule by the rule's name),
    and families whose rest holds under OTHER_SHARE of the drops one bar "other" — but never language,
    quality or a dedup step, the reasons a reader looks for first. `alone` adds up (no document is
    dropped alone by two rules); `fails` does not, so a grouped bar has none."""
    cols = ["label", "family", "first", "alone", "fails", "rules"]
    dropped = rules[rules["first"] > 0].sort_values(["first", "reason"], ascending=[False, True])
    if dropped.empty:
        return pd.DataFrame(columns=cols)

    def one(r) -> dict:
        return {"label": r.reason, "family": r.family, "first": int(r.first), "alone": r.alone, "fails": r.fails,
                "rules": 1}

    rows = [one(r) for r in dropped.head(top).itertuples()]
    rest = dropped.iloc[top:]
    total = int(dropped["first"].sum())
    other = {"label": "other", "family": "other", "first": 0, "alone": 0, "fails": None, "rules": 0}
    for family, part in sorted(rest.groupby("family"), key=lambda kv: -int(kv[1]["first"].sum())):
        n = int(part["first"].sum())
        alone = None if part["alone"].isna().any() else int(part["alone"].sum())
        if family != "other" and (n >= OTHER_SHARE * total or family in KEY_FAMILIES):
            rows.append(one(next(part.itertuples())) if len(part) == 1 else
                        {"label": f"{family}: {len(part)} more rules", "family": family, "first": n,
                         "alone": alone, "fails": None, "rules": len(part)})
        else:
            other["first"] += n
            other["alone"] = None if alone is None or other["alone"] is None else other["alone"] + alone
            other["rules"] += len(part)
    if other["rules"]:
        other["label"] = f"other: {other['rules']} rule{'s' * (other['rules'] != 1)}"
        rows.append(other)
    return pd.DataFrame(rows, columns=cols)


def latest_slices(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The latest slice of every recipe (the one a name resolves to), most dropped first."""
    if not _has(con, "slices"):
        return pd.DataFrame(columns=["slice_id", "name", "n_documents", "n_kept", "n_dropped"])
    return _df(con, """SELECT slice_id, name, n_documents, n_kept, n_dropped FROM slices
                       QUALIFY row_number() OVER (PARTITION BY name ORDER BY built_at DESC, slice_id) = 1
                       ORDER BY n_dropped DESC, name""")


def rule_drops_all(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """`rule_drops` of the latest slice of every recipe, one frame (slice, slice_id first)."""
    frames = []
    for slice_id, name in latest_slices(con)[["slice_id", "name"]].itertuples(index=False):
        part = rule_drops(con, slice_id)
        if not part.empty:
            frames.append(part.assign(slice=name, slice_id=slice_id))
    if not frames:
        return pd.DataFrame(columns=["slice", "slice_id", "reason", "family", "first", "alone", "fails"])
    out = pd.concat(frames, ignore_index=True)
    return out[["slice", "slice_id", "reason", "family", "first", "alone", "fails"]]


def examples(con: duckdb.DuckDBPyConnection, slice_id: str, reason: str | None = None,
             limit: int = 5) -> list[dict]:
    """Dropped documents of a slice (optionally for one reason) with their full text and the file
    they came from."""
    if not _has(con, "decisions"):
        return []
    where, params = ("AND k.reason = ?", [reason]) if reason else ("", [])
    rows = con.execute(
        f"""SELECT d.doc_id, d.external_id, k.reason, d.text, s.uri, d.record_no
            FROM decisions k JOIN documents d USING (doc_id) LEFT JOIN sources s USING (source_id)
            WHERE k.slice_id = ? AND NOT k.kept {where} ORDER BY hash(d.doc_id), d.doc_id LIMIT ?""",
        [slice_id, *params, int(limit)],
    ).fetchall()
    return [dict(zip(("doc_id", "external_id", "reason", "text", "source", "record_no"), r)) for r in rows]


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
