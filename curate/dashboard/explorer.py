"""The settings explorer: slider values -> a recipe -> surviving documents, bytes, tokens.

One slider move is one parameterized aggregate whose conditions are the recipe compiler's
own (`curate.recipes.reason_case`, first failing rule in order, then exact and near dedup as
`compile_decisions` orders them), so the explorer and `curate slice` agree on what a setting
drops; `explore_reference` runs `compile_decisions` itself and the tests hold the two equal.
Tokens are estimated as bytes / 4 (the usual rule of thumb for BPE tokenizers on English
text); the store keeps no token counts before training.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from curate import store
from curate.recipes import DedupSetting, Recipe, Rule, compile_decisions, parse_recipe, reason_case, rule_reasons
from curate.store import BYTES_PER_TOKEN, ident, table_exists

RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DUP_REASONS = ("exact_duplicate", "near_duplicate")
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Settings:
    """What the explorer's widgets say: ordered rules plus a dedup setting."""

    rules: tuple[Rule, ...] = ()
    exact_dedup: bool = False
    near_threshold: float | None = None

    def to_recipe(self, name: str = "explorer", description: str = "") -> Recipe:
        return Recipe(name=name, rules=self.rules, description=description,
                      dedup=DedupSetting(exact=self.exact_dedup, near_threshold=self.near_threshold))

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> Settings:
        return cls(recipe.rules, recipe.dedup.exact, recipe.dedup.near_threshold)

    def reason_order(self) -> list[str]:
        """Drop reasons in the order the recipe tests them: the waterfall's order."""
        codes = ["not_scored"]
        for rule in self.rules:
            codes.extend(code for _, code, _ in rule_reasons(rule))
        if self.exact_dedup:
            codes.append("exact_duplicate")
        if self.near_threshold is not None:
            codes.append("near_duplicate")
        return codes


@dataclass(frozen=True)
class Step:
    reason: str
    dropped: int
    dropped_bytes: int
    remaining: int  # documents still kept after this step
    alone: int = 0  # documents no other rule of the settings drops: kept without this one


@dataclass(frozen=True)
class Outcome:
    n_documents: int
    total_bytes: int
    n_kept: int
    kept_bytes: int
    waterfall: tuple[Step, ...] = field(default=())

    @property
    def kept_tokens(self) -> int:
        return self.kept_bytes // BYTES_PER_TOKEN

    @property
    def total_tokens(self) -> int:
        return self.total_bytes // BYTES_PER_TOKEN

    @property
    def n_dropped(self) -> int:
        return self.n_documents - self.n_kept


def explore_reference(con: duckdb.DuckDBPyConnection, settings: Settings) -> Outcome:
    """The same answer as `ExplorerFrame.explore`, straight from `compile_decisions` on the store.

    Slower (it joins documents, signals and clusters per call); the tests hold the fast path to it.
    """
    if not table_exists(con, "documents"):
        return Outcome(0, 0, 0, 0)
    if not table_exists(con, "signals"):
        n, b = con.execute("SELECT count(*), coalesce(sum(n_bytes), 0) FROM documents").fetchone()
        return _outcome({"not_scored": (int(n), int(b), int(n))} if n else {}, settings)
    sql, params = compile_decisions(settings.to_recipe())
    rows = con.execute(
        f"SELECT q.reason, count(*), coalesce(sum(d.n_bytes), 0) FROM ({sql}) q "
        "JOIN documents d ON d.doc_id = q.doc_id GROUP BY ALL",
        params,
    ).fetchall()
    alone = _alone_reference(con, settings, sql, params)
    return _outcome({r: (int(n), int(b), alone.get(r, 0)) for r, n, b in rows}, settings)


def _without(settings: Settings, code: str) -> Settings:
    """The settings less the rule (or dedup step) that gives drop reason `code`."""
    if code == "exact_duplicate":
        return Settings(settings.rules, False, settings.near_threshold)
    if code == "near_duplicate":
        return Settings(settings.rules, settings.exact_dedup, None)
    rules = tuple(r for r in settings.rules if code not in [c for _, c, _ in rule_reasons(r)])
    return Settings(rules, settings.exact_dedup, settings.near_threshold)


def _alone_reference(con: duckdb.DuckDBPyConnection, settings: Settings, sql: str, params: list) -> dict[str, int]:
    """Per reason, the documents it drops alone, by definition: dropped for it by the settings, kept by
    the same settings without its rule (one `compile_decisions` per rule; a document not scored has
    no other rule to blame)."""
    out: dict[str, int] = {}
    for code in settings.reason_order():
        if code == "not_scored":
            out[code] = con.execute(f"SELECT count(*) FROM ({sql}) WHERE reason = 'not_scored'", params).fetchone()[0]
            continue
        other_sql, other_params = compile_decisions(_without(settings, code).to_recipe())
        out[code] = con.execute(
            f"SELECT count(*) FROM ({sql}) f JOIN ({other_sql}) w ON w.doc_id = f.doc_id "
            "WHERE f.reason = ? AND w.reason IS NULL", [*params, *other_params, code]).fetchone()[0]
    return out


def _outcome(by_reason: dict[str | None, tuple[int, int, int]], settings: Settings) -> Outcome:
    n_docs = sum(n for n, _, _ in by_reason.values())
    total_bytes = sum(b for _, b, _ in by_reason.values())
    n_kept, kept_bytes, _ = by_reason.get(None, (0, 0, 0))
    remaining = n_docs
    steps = []
    for code in settings.reason_order():
        n, b, alone = by_reason.get(code, (0, 0, 0))
        remaining -= n
        steps.append(Step(code, n, b, remaining, alone))
    return Outcome(n_docs, total_bytes, n_kept, kept_bytes, tuple(steps))


class ExplorerFrame:
    """Everything a slider move needs, copied once into an in-memory DuckDB table.

    Per document: doc_id, bytes, the text's first EXCERPT_CHARS characters (for the preview,
    so a move never reopens the store), whether it was scored, every registry signal, its rank among
    exact copies, and whether it is a non-representative cluster member at each dedup
    threshold. A slider move is then one scan of one table: no joins, no window, no file
    (the store itself is closed as soon as the copy is made). The conditions are the recipe
    compiler's own (`reason_case`), so the answer equals `compile_decisions`.

    The rows are stored in hash order of doc_id, the order `pick` samples in, so a sample is the
    first rows that match and the scan stops there instead of sorting the whole corpus per move.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        from curate.signals import REGISTRY

        self.thresholds: tuple[float, ...] = ()
        self.signals: tuple[str, ...] = ()
        self._mem = duckdb.connect(":memory:", config={"enable_external_access": False})
        self._mem.execute("SET threads = 2")
        self._mem.execute("SET preserve_insertion_order = true")  # `pick` relies on it
        if not table_exists(con, "documents"):
            self.n_documents = 0
            self._empty = True
            return
        self._empty = False
        scored = table_exists(con, "signals")
        cols: list[str] = []
        if scored:
            present = store.signal_columns(con)
            cols = [n for n in REGISTRY.names() if n in present]
        self.signals = tuple(cols)
        self.thresholds = tuple(dup_thresholds(con))
        sig_select = "".join(f", s.{ident(c)}" for c in cols)
        order = ("s.quality DESC NULLS LAST, " if "quality" in cols else "") + "d.n_bytes DESC, d.doc_id"
        near_select, near_join, near_params = "", "", []
        if self.thresholds:
            parts = []
            for i, t in enumerate(self.thresholds):
                parts.append(f"bool_or(threshold = ? AND NOT is_representative) AS near_dup_{i}")
                near_params.append(t)
            near_join = (f" LEFT JOIN (SELECT doc_id, {', '.join(parts)} FROM dup_clusters GROUP BY doc_id) n"
                         " ON n.doc_id = d.doc_id")
            near_select = "".join(f", coalesce(n.near_dup_{i}, false) AS near_dup_{i}"
                                  for i in range(len(self.thresholds)))
        sql = (
            f"SELECT d.doc_id, d.n_bytes, left(d.text, ?) AS excerpt, "
            f"{'s.doc_id IS NOT NULL' if scored else 'false'} AS scored{sig_select}, "
            f"row_number() OVER (PARTITION BY d.text_hash ORDER BY {order}) AS copy_rank{near_select} "
            f"FROM documents d{' LEFT JOIN signals s ON s.doc_id = d.doc_id' if scored else ''}{near_join}"
        )
        cur = con.cursor()  # a fresh cursor: `sql()` refuses to run beside an unfinished fetchone()
        table = cur.sql(sql, params=[EXCERPT_CHARS, *near_params]).to_arrow_table()
        cur.close()
        self._mem.register("frame_in", table)
        self._mem.execute("CREATE TABLE frame AS SELECT * FROM frame_in ORDER BY hash(doc_id), doc_id")
        self._mem.unregister("frame_in")
        self.n_documents = table.num_rows

    def _reason_sql(self, settings: Settings) -> tuple[str, list]:
        missing = [r.signal for r in settings.rules if r.signal not in self.signals]
        if missing:
            raise ValueError(f"signals not in this store: {', '.join(missing)}")
        case_sql, params = reason_case(settings.rules)
        dup_whens = []
        if settings.exact_dedup:
            dup_whens.append("WHEN s.copy_rank > 1 THEN 'exact_duplicate'")
        if settings.near_threshold is not None:
            if settings.near_threshold not in self.thresholds:
                raise ValueError(f"no dedup clusters at threshold {settings.near_threshold}; "
                                 f"available: {', '.join(map(str, self.thresholds)) or 'none'}")
            i = self.thresholds.index(settings.near_threshold)
            dup_whens.append(f"WHEN s.near_dup_{i} THEN 'near_duplicate'")
        dup_sql = "CASE " + " ".join(dup_whens) + " ELSE NULL END" if dup_whens else "NULL"
        return f"CASE WHEN NOT s.scored THEN 'not_scored' ELSE coalesce({case_sql}, {dup_sql}) END", params

    def _failing_sql(self, settings: Settings) -> tuple[str, list]:
        """How many of the settings' rules (and dedup steps) a document fails; 1 for one not scored."""
        terms, params = [], []
        for rule in settings.rules:
            for cond, _, values in rule_reasons(rule):
                terms.append(f"coalesce({cond}, false)::INTEGER")
                params.extend(values)
        if settings.exact_dedup:
            terms.append("(s.copy_rank > 1)::INTEGER")
        if settings.near_threshold is not None:
            terms.append(f"s.near_dup_{self.thresholds.index(settings.near_threshold)}::INTEGER")
        return f"CASE WHEN NOT s.scored THEN 1 ELSE {' + '.join(terms) or '0'} END", params

    def explore(self, settings: Settings) -> Outcome:
        """Counts per first failing reason; `alone` per reason: of its documents, those failing no
        other rule (a document failing one rule only has that rule for its first)."""
        if self._empty:
            return Outcome(0, 0, 0, 0)
        reason, params = self._reason_sql(settings)
        failing, failing_params = self._failing_sql(settings)
        rows = self._mem.cursor().execute(
            f"SELECT {reason} AS reason, count(*), coalesce(sum(s.n_bytes), 0), "
            f"count(*) FILTER (WHERE {failing} = 1) FROM frame s GROUP BY ALL", [*params, *failing_params]
        ).fetchall()
        return _outcome({r: (int(n), int(b), int(a)) for r, n, b, a in rows}, settings)

    def pick(self, settings: Settings, *, kept: bool, limit: int = 5,
             reason: str | None = None) -> list[tuple[str, str | None, str]]:
        """A few (doc_id, reason, excerpt) the settings keep or drop, spread over the corpus (hash order).

        No ORDER BY: the frame is stored in that order, and DuckDB keeps a table's order in a
        result without one, so LIMIT ends the scan at the first matches.
        """
        if self._empty:
            return []
        case, params = self._reason_sql(settings)
        where = "reason IS NULL" if kept else "reason IS NOT NULL"
        extra: list = []
        if reason is not None and not kept:
            where += " AND reason = ?"
            extra.append(reason)
        return self._mem.cursor().execute(
            f"SELECT doc_id, reason, excerpt FROM (SELECT s.doc_id, s.excerpt, {case} AS reason FROM frame s) "
            f"WHERE {where} LIMIT ?",
            [*params, *extra, int(limit)],
        ).fetchall()

    def close(self) -> None:
        self._mem.close()


def dup_thresholds(con: duckdb.DuckDBPyConnection) -> list[float]:
    """Dedup thresholds with stored clusters (meta `dup_thresholds`, else the clusters table)."""
    import json

    raw = None
    if table_exists(con, "meta"):
        row = con.execute("SELECT value FROM meta WHERE key = 'dup_thresholds'").fetchone()
        raw = row[0] if row else None
    values: list[float] = []
    if raw:
        try:
            values = [float(v) for v in json.loads(raw) if isinstance(v, (int, float))]
        except (ValueError, TypeError):
            values = []
    if not values and table_exists(con, "dup_clusters"):
        values = [float(r[0]) for r in con.execute("SELECT DISTINCT threshold FROM dup_clusters").fetchall()]
    return sorted(set(values))



@dataclass(frozen=True)
class SignalRange:
    name: str
    dtype: str
    lo: float
    hi: float
    n_null: int


def signal_ranges(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, SignalRange]:
    """Observed min/max of the numeric signals that exist in the store (the sliders' ends)."""
    from curate.signals import REGISTRY

    if not names or not table_exists(con, "signals"):
        return {}
    present = store.signal_columns(con)
    numeric = [n for n in names if n in REGISTRY and n in present and REGISTRY.get(n).dtype != "VARCHAR"]
    if not numeric:
        return {}
    exprs = ", ".join(f"min({ident(n)}), max({ident(n)}), count(*) - count({ident(n)})" for n in numeric)
    row = con.execute(f"SELECT {exprs} FROM signals").fetchone()
    out = {}
    for i, n in enumerate(numeric):
        lo, hi, n_null = row[3 * i: 3 * i + 3]
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            continue
        out[n] = SignalRange(n, REGISTRY.get(n).dtype, float(lo), float(hi), int(n_null))
    return out


def categories(con: duckdb.DuckDBPyConnection, name: str, limit: int = 200) -> list[tuple[str, int]]:
    """Values of a text signal (e.g. `lang`) with their document counts, most common first."""
    from curate.signals import REGISTRY

    if name not in REGISTRY or REGISTRY.get(name).dtype != "VARCHAR" or not table_exists(con, "signals"):
        return []
    col = ident(name)
    return con.execute(
        f"SELECT {col}, count(*) FROM signals WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [limit],
    ).fetchall()


def rule_from_range(name: str, lo: float, hi: float, rng: SignalRange) -> Rule | None:
    """A slider pulled in from an end becomes a bound; a slider at both ends is no rule.

    Leaving the ends open keeps documents whose value is missing (a recipe bound fails on
    NULL), so an untouched slider changes nothing.
    """
    lo_b = None if lo <= rng.lo else float(lo)
    hi_b = None if hi >= rng.hi else float(hi)
    if lo_b is None and hi_b is None:
        return None
    return Rule(name, lo_b, hi_b)


def save_recipe(settings: Settings, name: str, data_dir: Path, *, overwrite: bool = False) -> Path:
    """Write the settings as `<data_dir>/recipes/<name>.yaml`; nothing outside `data_dir`.

    The name is the only thing a person types; it must be a plain file stem, and the resolved
    path must stay inside the data folder (no `..`, no absolute path, no symlink out).
    """
    if not RECIPE_NAME.match(name or ""):
        raise ValueError("a recipe name is 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    root = Path(data_dir).resolve()
    folder = root / "recipes"
    target = (folder / f"{name}.yaml").resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"refusing to write outside the data folder {root}")
    text = settings.to_recipe(name, description="saved from the settings explorer").to_yaml()
    parse_recipe(text, origin=str(target))  # what we write must load back as the same recipe
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another name or allow overwriting")
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.resolve().is_relative_to(root):
        raise ValueError(f"refusing to write outside the data folder {root}")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
