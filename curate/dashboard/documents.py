"""The document browser's reads: a page of documents for a search and filters, one document
with every rule of a slice's recipe and its duplicates, and the ids the CLI accepts.

Every read is a function of an open read-only connection (the dashboard's `Store.read`
caches it on the store's fingerprint); values are bound parameters and identifiers come from
the signal registry. Every query is bounded: a page is LIMIT/OFFSET, a cluster's or a text's
copies are listed up to MAX_MEMBERS, a search pattern up to params.MAX_PATTERN characters.

A text search is a literal, case-insensitive substring of the text, or a doc_id or external
id given whole. The pattern is matched as an RE2 expression with every ASCII punctuation
character escaped (`literal_pattern`: `%`, `_`, `.`, `*` match themselves) under the `i`
flag, which folds Unicode case (Ä finds ä). Not ILIKE: on 200k documents (400 MB of text, two
cores) ILIKE takes 2.0 s a scan and RE2 0.5 s, about what reading the text column costs.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import duckdb
import numpy as np
import pandas as pd

from curate import store
from curate.dashboard.highlight import signal_of
from curate.dashboard.params import PAGE_SIZE
from curate.dashboard.queries import signal_columns
from curate.errors import UsageError
from curate.recipes import Recipe, parse_recipe, resolve_slice, rule_reasons
from curate.store import ident, table_exists

URL_PATH = "documents"
# Shown beside every document in the list; the first that the store holds. The signal a
# drop reason names is shown as well, in the "why" column.
KEY_SIGNALS = ("quality", "gopher_word_count", "gopher_alpha_word_frac", "gopher_dup_line_frac", "lang_score")
MAX_MEMBERS = 50  # copies, near-duplicates listed per document
MAX_SOURCES = 1000  # files offered as a filter (the most documents first)
PREVIEW_CHARS = 160
_PUNCT = frozenset(string.punctuation)


def _has(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    return all(table_exists(con, t) for t in tables)


def literal_pattern(text: str) -> str:
    """`text` as an RE2 expression that matches exactly its characters (RE2 takes a backslash
    before any ASCII punctuation as that character; nothing else in RE2 syntax is special)."""
    return "".join("\\" + ch if ch in _PUNCT else ch for ch in text)


def doc_link(doc_id: str, slice_key: str | None = None) -> str:
    """The browser's address of one document (in a slice): `documents?doc=ID&slice=KEY`, every
    value URL-encoded. Relative, so it works under any base path and from any page."""
    query = {"doc": doc_id, **({"slice": slice_key} if slice_key else {})}
    return f"{URL_PATH}?{urlencode(query, quote_via=quote, safe='')}"


# --- what the URL may name ---------------------------------------------------------------------


def resolve_slice_key(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A slice id, or a recipe name (its latest slice), as the --slice of `curate explain` takes it."""
    if not _has(con, "slices"):
        return None
    try:
        return resolve_slice(con, key)[0]
    except UsageError:
        return None


def resolve_document(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A doc_id, or an external id (its smallest doc_id), as `curate explain` takes it."""
    from curate.explain import find_document

    if not _has(con, "documents"):
        return None
    try:
        return find_document(con, key)[0]
    except UsageError:
        return None


def document_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM documents").fetchone()[0]) if _has(con, "documents") else 0


def slice_choices(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every slice: id, recipe name, whether it is its recipe's latest (what the name resolves
    to), counts. The latest first within a name, names in order."""
    cols = ["slice_id", "name", "latest", "n_documents", "n_kept", "n_dropped", "built_at"]
    if not _has(con, "slices"):
        return pd.DataFrame(columns=cols)
    return con.execute(
        """SELECT slice_id, name, row_number() OVER (PARTITION BY name ORDER BY built_at DESC, slice_id) = 1
                  AS latest, n_documents, n_kept, n_dropped, built_at
           FROM slices ORDER BY name, latest DESC, built_at DESC, slice_id""").df()


def slice_key(choices: pd.DataFrame, slice_id: str) -> str:
    """What a link names a slice by: its recipe's name while it is that recipe's latest slice
    (the link then survives a rebuild, as `curate explain --slice NAME` does), else its id."""
    row = choices[choices["slice_id"] == slice_id]
    if len(row) and bool(row["latest"].iloc[0]):
        return str(row["name"].iloc[0])
    return slice_id


@dataclass(frozen=True)
class Options:
    reasons: tuple[tuple[str, int], ...]  # the slice's drop reasons, most documents first
    langs: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, str, int], ...]  # (source_id, file, documents), most documents first


def filter_options(con: duckdb.DuckDBPyConnection, slice_id: str | None) -> Options:
    reasons: list = []
    if slice_id and _has(con, "decisions"):
        reasons = con.execute("""SELECT reason, count(*) FROM decisions WHERE slice_id = ? AND NOT kept
                                 GROUP BY 1 ORDER BY 2 DESC, 1""", [slice_id]).fetchall()
    langs: list = []
    if "lang" in signal_columns(con):
        langs = con.execute("""SELECT lang, count(*) FROM signals WHERE lang IS NOT NULL
                               GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall()
    sources: list = []
    if _has(con, "sources", "documents"):
        sources = con.execute(
            """SELECT d.source_id, any_value(f.uri), count(*) FROM documents d
               JOIN (SELECT source_id, min(uri) AS uri FROM sources GROUP BY 1) f USING (source_id)
               GROUP BY 1 ORDER BY 3 DESC, 2 LIMIT ?""", [MAX_SOURCES]).fetchall()
    return Options(tuple(map(tuple, reasons)), tuple(map(tuple, langs)), tuple(map(tuple, sources)))


# --- a page of documents -----------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    q: str = ""
    slice_id: str | None = None
    decision: str | None = None  # "kept" | "dropped"; needs a slice
    reason: str | None = None  # needs a slice
    lang: str | None = None
    source: str | None = None  # a source_id
    offset: int = 0
    limit: int = PAGE_SIZE


@dataclass(frozen=True)
class Hits:
    rows: pd.DataFrame  # doc_id, external_id, decision, reason, why, text, source, lang, bytes, key signals
    total: int  # documents matching, on every page
    key_signals: tuple[str, ...]


def search(con: duckdb.DuckDBPyConnection, query: Search) -> Hits:
    """One page of the documents that match, in doc_id order (a doc_id or external id equal to
    the search first), with how many match in all.

    Two queries: the first finds the page's documents and the count, reading only the columns
    the filters need (the text only for a search); the second reads what the page shows of
    those fifty, by row id. One query with every column would compute them for every match
    before the LIMIT: 3.6 s instead of 0.1 s for the first page of 200k documents.
    """
    present = signal_columns(con)
    keys = tuple(k for k in KEY_SIGNALS if k in present)
    columns = ["doc_id", "external_id", "decision", "reason", "why", "text", "source", "lang", "bytes", *keys]
    if not _has(con, "documents"):
        return Hits(pd.DataFrame(columns=columns), 0, keys)
    in_slice = bool(query.slice_id) and _has(con, "decisions")
    joins, params = [], []
    if query.lang and "lang" in present:
        joins.append("JOIN signals s ON s.doc_id = d.doc_id")
    if in_slice and (query.decision or query.reason):
        joins.append("JOIN decisions k ON k.doc_id = d.doc_id AND k.slice_id = ?")
        params.append(query.slice_id)
    where, order = _conditions(query, in_slice, "lang" in present, params)
    source = f"FROM documents d {' '.join(joins)}" + (f" WHERE {' AND '.join(where)}" if where else "")
    page = con.execute(f"SELECT d.rowid, d.doc_id, count(*) OVER () {source} ORDER BY {order} LIMIT ? OFFSET ?",
                       [*params, int(query.limit), int(query.offset)]).fetchall()
    if page:
        total = int(page[0][2])
    elif query.offset:  # past the end: the count alone (without the ORDER BY's values)
        total = int(con.execute(f"SELECT count(*) {source}", params[: len(params) - (2 if query.q else 0)]
                                ).fetchone()[0])
    else:
        total = 0
    if not page:
        return Hits(pd.DataFrame(columns=columns), total, keys)
    ids = [r[1] for r in page]
    src = ("LEFT JOIN (SELECT source_id, min(uri) AS uri FROM sources GROUP BY 1) f ON f.source_id = d.source_id"
           if _has(con, "sources") else "")
    df = con.execute(
        f"""SELECT d.doc_id, d.external_id, {'f.uri' if src else 'NULL'} AS source, d.n_bytes AS bytes,
                   regexp_replace(left(d.text, {PREVIEW_CHARS}), '\\s+', ' ', 'g') AS text
            FROM documents d {src} WHERE d.rowid IN (SELECT unnest(?))""", [[r[0] for r in page]]).df()
    wanted = [c for c in ("lang", *keys) if c in present]
    sig = (con.execute(f"SELECT doc_id, {', '.join(ident(c) for c in wanted)} FROM signals"
                       " WHERE doc_id IN (SELECT unnest(?))", [ids]).df() if wanted else pd.DataFrame({"doc_id": ids}))
    dec = (con.execute("""SELECT doc_id, CASE WHEN kept THEN 'kept' ELSE 'dropped' END AS decision, reason
                          FROM decisions WHERE slice_id = ? AND doc_id IN (SELECT unnest(?))""",
                       [query.slice_id, ids]).df() if in_slice else pd.DataFrame({"doc_id": ids}))
    df = pd.DataFrame({"doc_id": ids}).merge(df, on="doc_id", how="left").merge(sig, on="doc_id", how="left") \
        .merge(dec, on="doc_id", how="left")
    why = reasons_why(con, query.slice_id, tuple(ids)) if in_slice else {}
    df["why"] = [why.get(d, "") for d in ids]
    for c in columns:
        if c not in df:
            df[c] = None
    return Hits(df[columns], total, keys)


def _conditions(query: Search, in_slice: bool, has_lang: bool, params: list) -> tuple[list[str], str]:
    """WHERE terms (their values appended to `params`) and the ORDER BY, for `search`."""
    where: list[str] = []
    if query.q:
        where.append("(regexp_matches(d.text, ?, 'i') OR d.doc_id = ? OR d.external_id IS NOT DISTINCT FROM ?)")
        params.extend([literal_pattern(query.q), query.q, query.q])
    if in_slice and query.decision in ("kept", "dropped"):
        where.append("k.kept" if query.decision == "kept" else "NOT k.kept")
    if in_slice and query.reason:
        where.append("k.reason = ?")
        params.append(query.reason)
    if query.lang:
        where.append("s.lang = ?" if has_lang else "false")
        if has_lang:
            params.append(query.lang)
    if query.source:
        where.append("d.source_id = ?")
        params.append(query.source)
    order = "d.doc_id"
    if query.q:
        order = "(d.doc_id = ? OR d.external_id IS NOT DISTINCT FROM ?) DESC, d.doc_id"
        params.extend([query.q, query.q])
    return where, order


# --- why a slice dropped a document ------------------------------------------------------------


def slice_recipe(con: duckdb.DuckDBPyConnection, slice_id: str) -> Recipe | None:
    """The recipe a slice was built from, as stored with it."""
    if not _has(con, "slices", "recipes"):
        return None
    row = con.execute("SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?",
                      [slice_id]).fetchone()
    return None if row is None else parse_recipe(row[0], origin=f"slice {slice_id}")


def fmt(value) -> str:
    """A signal's value as a table shows it: 4 significant digits, an integer whole."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "no value"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def bound_text(rule) -> str:
    """A rule's bound as the page shows it: `min 20`, `max 0.3`, `min 0.1, max 10`, `one of en, de`."""
    if rule.allow is not None:
        return f"one of {', '.join(rule.allow)}"
    return ", ".join(f"{name} {fmt(v)}" for name, v in (("min", rule.min), ("max", rule.max)) if v is not None)


def against_bound(code: str, rule, value) -> str:
    """The failing value beside the bound it fails: `12 < min 50`, `de not in [en]`."""
    if code.endswith("_not_allowed"):
        return f"{fmt(value)} not in [{', '.join(rule.allow)}]"
    if value is None:
        return f"no value (min {fmt(rule.min)})" if code.endswith("_below_min") else f"no value (max {fmt(rule.max)})"
    if code.endswith("_below_min"):
        return f"{fmt(value)} < min {fmt(rule.min)}"
    return f"{fmt(value)} > max {fmt(rule.max)}"


def reasons_why(con: duckdb.DuckDBPyConnection, slice_id: str, doc_ids: tuple[str, ...]) -> dict[str, str]:
    """For the dropped documents among `doc_ids` (at most a page of them), what their reason
    means for them: the failing value against its bound, or the copy a duplicate was dropped for."""
    recipe = slice_recipe(con, slice_id)
    if recipe is None or not doc_ids:
        return {}
    dropped = con.execute("SELECT doc_id, reason FROM decisions WHERE slice_id = ? AND NOT kept"
                          " AND doc_id IN (SELECT unnest(?))", [slice_id, list(doc_ids)]).fetchall()
    rules = {code: rule for rule in recipe.rules for _, code, _ in rule_reasons(rule)}
    present = signal_columns(con)
    out: dict[str, str] = {}
    needed = sorted({signal_of(r) for _, r in dropped if r in rules} & set(present))
    values: dict[str, dict] = {}
    if needed:
        for row in con.execute(f"SELECT doc_id, {', '.join(ident(n) for n in needed)} FROM signals"
                               " WHERE doc_id IN (SELECT unnest(?))", [[d for d, _ in dropped]]).fetchall():
            values[row[0]] = dict(zip(needed, row[1:]))
    for doc_id, reason in dropped:
        if reason in rules:
            out[doc_id] = against_bound(reason, rules[reason], values.get(doc_id, {}).get(signal_of(reason)))
        elif reason == "not_scored":
            out[doc_id] = "no signals: ingested after the last `curate score`"
    exact = [d for d, r in dropped if r == "exact_duplicate"]
    if exact:
        for doc_id, best in _best_copies(con, exact, "quality" in present):
            out[doc_id] = f"copy of {best}"
    near = [d for d, r in dropped if r == "near_duplicate"]
    if near and recipe.dedup.near_threshold is not None and _has(con, "dup_clusters"):
        for doc_id, rep, size in con.execute(
                "SELECT doc_id, cluster_id, cluster_size FROM dup_clusters WHERE threshold = ?"
                " AND doc_id IN (SELECT unnest(?))", [recipe.dedup.near_threshold, near]).fetchall():
            out[doc_id] = f"near-duplicate of {rep} ({size} in cluster at {recipe.dedup.near_threshold:g})"
    return out


def _best_copies(con: duckdb.DuckDBPyConnection, doc_ids: list[str], has_quality: bool) -> list[tuple[str, str]]:
    """(doc_id, the copy exact dedup keeps of its text): the order recipes.compile_decisions uses."""
    order = store.best_copy_order("s.quality" if has_quality else "NULL", "d.n_bytes", "d.doc_id")
    join = "LEFT JOIN signals s USING (doc_id)" if has_quality else ""
    return con.execute(
        f"""WITH h AS (SELECT doc_id, text_hash FROM documents WHERE doc_id IN (SELECT unnest(?))),
                 best AS (SELECT d.text_hash, d.doc_id FROM documents d {join}
                          WHERE d.text_hash IN (SELECT text_hash FROM h)
                          QUALIFY row_number() OVER (PARTITION BY d.text_hash ORDER BY {order}) = 1)
            SELECT h.doc_id, best.doc_id FROM h JOIN best USING (text_hash)""", [doc_ids]).fetchall()


# --- one document ------------------------------------------------------------------------------


def document_view(con: duckdb.DuckDBPyConnection, doc_id: str, slice_id: str | None) -> dict | None:
    """One document: its text, where it came from, its metadata, every signal, and in the slice
    (if any) its decision with every rule of the recipe (value, bound, pass or fail)."""
    if not _has(con, "documents"):
        return None
    row = con.execute("""SELECT doc_id, external_id, source_id, record_no, text, text_hash, n_bytes, metadata, run_id
                         FROM documents WHERE doc_id = ?""", [doc_id]).fetchone()
    if row is None:
        return None
    doc = dict(zip(("doc_id", "external_id", "source_id", "record_no", "text", "text_hash", "n_bytes", "metadata",
                    "run_id"), row))
    try:
        doc["metadata"] = json.loads(doc["metadata"]) if doc["metadata"] else None
    except ValueError:
        pass  # shown as the text it is
    doc["files"] = ([r[0] for r in con.execute("SELECT DISTINCT uri FROM sources WHERE source_id = ? ORDER BY 1",
                                               [doc["source_id"]]).fetchall()] if _has(con, "sources") else [])
    present = signal_columns(con)
    doc["signals"] = {}
    if present:
        vals = con.execute(f"SELECT {', '.join(ident(c) for c in present)} FROM signals WHERE doc_id = ?",
                           [doc_id]).fetchone()
        doc["signals"] = dict(zip(present, vals)) if vals else {}
    doc["slice"] = _in_slice(con, doc, slice_id) if slice_id else None
    return doc


def _in_slice(con: duckdb.DuckDBPyConnection, doc: dict, slice_id: str) -> dict:
    """The slice's decision and every rule of its recipe against the document, in the recipe's
    order; the same conditions the slice's SQL uses (explain.rule_failures)."""
    from curate.explain import rule_failures

    out: dict = {"slice_id": slice_id, "decided": False, "kept": None, "reason": None, "rules": [], "note": None}
    row = con.execute("SELECT kept, reason FROM decisions WHERE slice_id = ? AND doc_id = ?",
                      [slice_id, doc["doc_id"]]).fetchone() if _has(con, "decisions") else None
    recipe = slice_recipe(con, slice_id)
    if recipe is None:
        return out
    out["name"] = recipe.name
    if row is not None:
        out.update(decided=True, kept=bool(row[0]), reason=row[1])
    failing = rule_failures(con, recipe.rules, doc["doc_id"])
    first_now = None
    for i, rule in enumerate(recipe.rules, 1):
        codes = [code for _, code, _ in rule_reasons(rule)]
        fails = failing.get(rule.signal)
        value = doc["signals"].get(rule.signal)
        result = "not scored" if fails is None else "FAIL" if fails else "pass"
        if fails and first_now is None:
            first_now = fails[0]
        out["rules"].append({"#": i, "rule": rule.signal, "value": fmt(value), "bound": bound_text(rule),
                             "result": result, "failing": against_bound(fails[0], rule, value) if fails else "",
                             "recorded": out["reason"] in codes})
    n = len(recipe.rules)
    for step, code in _dedup_steps(con, doc, recipe):
        n += 1
        step.update({"#": n, "recorded": out["reason"] == code})
        out["rules"].append(step)
        if step["result"] == "FAIL" and first_now is None:
            first_now = code
    recorded = out["reason"]
    scored = any(v is not None for v in failing.values()) or not recipe.rules
    if out["decided"] and scored and recorded != "not_scored" and recorded != first_now:
        out["note"] = (f"by the stored signals now the first failing rule is {first_now or 'none'}, not "
                       f"{recorded or 'none (kept)'}: they changed after the slice was built "
                       f"(`curate slice {recipe.name}` builds it again)")
    return out


def _dedup_steps(con: duckdb.DuckDBPyConnection, doc: dict, recipe: Recipe) -> list[tuple[dict, str]]:
    """The recipe's dedup steps, after its filters (recipes.compile_decisions): exact, then near."""
    steps = []
    present = signal_columns(con)
    if recipe.dedup.exact:
        n_copies = con.execute("SELECT count(*) FROM documents WHERE text_hash = ?", [doc["text_hash"]]).fetchone()[0]
        best = dict(_best_copies(con, [doc["doc_id"]], "quality" in present)).get(doc["doc_id"], doc["doc_id"])
        first = best == doc["doc_id"]
        steps.append(({"rule": "exact dedup", "value": f"{n_copies:,} cop{'y' if n_copies == 1 else 'ies'} of the text",
                       "bound": "keep the best copy (quality, then length, then doc_id)",
                       "result": "pass" if first else "FAIL", "failing": "" if first else f"copy of {best}"},
                      "exact_duplicate"))
    t = recipe.dedup.near_threshold
    if t is not None:
        row = (con.execute("SELECT cluster_id, is_representative, cluster_size FROM dup_clusters"
                           " WHERE threshold = ? AND doc_id = ?", [t, doc["doc_id"]]).fetchone()
               if _has(con, "dup_clusters") else None)
        if row is None:
            step = {"rule": f"near dedup at {t:g}", "value": "in no cluster", "result": "pass", "failing": ""}
        else:
            rep, is_rep, size = row
            step = {"rule": f"near dedup at {t:g}", "value": f"cluster of {size:,}",
                    "result": "pass" if is_rep else "FAIL", "failing": "" if is_rep else f"near-duplicate of {rep}"}
        step["bound"] = "keep the cluster's representative"
        steps.append((step, "near_duplicate"))
    return steps


def duplicates(con: duckdb.DuckDBPyConnection, doc_id: str, slice_id: str | None) -> dict:
    """The document's exact copies (same text_hash) and, per dedup threshold, its near-duplicate
    cluster: up to MAX_MEMBERS members each, the one dedup keeps first, each with its decision in
    the slice and, for near-duplicates, the Jaccard similarity to this document — exact where
    dedup verified the pair, else estimated from the two MinHash signatures."""
    from curate.dedup import lsh

    out: dict = {"exact": None, "exact_total": 0, "near": []}
    row = con.execute("SELECT text_hash FROM documents WHERE doc_id = ?", [doc_id]).fetchone() if _has(
        con, "documents") else None
    if row is None:
        return out
    present = signal_columns(con)
    has_quality = "quality" in present
    decided = bool(slice_id) and _has(con, "decisions")
    decision = ("CASE WHEN k.kept THEN 'kept' WHEN NOT k.kept THEN 'dropped' END AS decision, k.reason"
                if decided else "NULL AS decision, NULL AS reason")
    k_join = "LEFT JOIN decisions k ON k.doc_id = d.doc_id AND k.slice_id = ?" if decided else ""
    k_params = [slice_id] if decided else []
    src = ("LEFT JOIN (SELECT source_id, min(uri) AS uri FROM sources GROUP BY 1) f ON f.source_id = d.source_id"
           if _has(con, "sources") else "")
    uri = "f.uri" if src else "NULL"
    order = store.best_copy_order("s.quality" if has_quality else "NULL", "d.n_bytes", "d.doc_id")
    s_join = "LEFT JOIN signals s ON s.doc_id = d.doc_id" if has_quality else ""
    out["exact_total"] = con.execute("SELECT count(*) FROM documents WHERE text_hash = ?", [row[0]]).fetchone()[0]
    if out["exact_total"] > 1:
        out["exact"] = con.execute(
            f"""SELECT d.doc_id, d.external_id, {uri} AS source, d.n_bytes AS bytes, {decision},
                       d.doc_id = ? AS this
                FROM documents d {s_join} {src} {k_join}
                WHERE d.text_hash = ? ORDER BY {order} LIMIT ?""",
            [doc_id, *k_params, row[0], MAX_MEMBERS]).df()
    if not _has(con, "dup_clusters"):
        return out
    spec = lsh.stored_spec(con) if _has(con, "meta") else None
    for threshold in lsh.dedup_thresholds(con):
        hit = con.execute("SELECT cluster_id, cluster_size FROM dup_clusters WHERE threshold = ? AND doc_id = ?",
                          [threshold, doc_id]).fetchone()
        if hit is None:
            out["near"].append({"threshold": threshold, "size": 0, "members": None})
            continue
        members = con.execute(
            f"""SELECT c.doc_id, d.external_id, {uri} AS source, d.n_bytes AS bytes,
                       c.is_representative AS kept_by_dedup, p.jaccard, p.est_jaccard, {decision}, c.doc_id = ? AS this
                FROM dup_clusters c JOIN documents d ON d.doc_id = c.doc_id {src} {k_join}
                LEFT JOIN dup_pairs p ON p.a = least(c.doc_id, ?) AND p.b = greatest(c.doc_id, ?)
                WHERE c.threshold = ? AND c.cluster_id = ?
                ORDER BY c.is_representative DESC, c.doc_id = ? DESC, c.doc_id LIMIT ?""",
            [doc_id, *k_params, doc_id, doc_id, threshold, hit[0], doc_id, MAX_MEMBERS]).df()
        if spec is not None and _has(con, "minhash"):
            sigs = lsh.load_signatures(con, [doc_id, *members["doc_id"]], spec.num_perm)
            base = sigs.get(doc_id)
            missing = members["est_jaccard"].isna()
            members.loc[missing, "est_jaccard"] = [
                float((sigs[m] == base).mean()) if base is not None and m in sigs else None
                for m in members.loc[missing, "doc_id"]]
        members.loc[members["this"], ["jaccard", "est_jaccard"]] = 1.0
        out["near"].append({"threshold": threshold, "size": int(hit[1]), "cluster_id": hit[0], "members": members})
    return out
