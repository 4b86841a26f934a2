"""Threshold sweeps: one recipe, one rule's bound moved over values, one slice per value, and the
curve of what the models trained on those slices did.

Users of every curation tool ask how to choose a threshold (RedPajama-Data #92, datatrove #225):
here the answer is measured. A sweep takes a recipe and one of its rules, say `quality: {min:
0.02}`, and a list of values for that bound; each value makes a derived recipe (the base recipe
with the bound set to it, named `<recipe>.<signal>.<bound>.<value>`), so the same settings always
give the same recipe id and the same slice. `train/sweep.py` builds the slices and trains one
model per slice and seed at one token budget (DCLM and FineWeb's ablations: fixed model, equal
tokens, several seeds); this module owns what engine and dashboard share: deriving the recipes,
the sweep's identity, its rows in `sweeps` and `sweep_runs`, and the curve read back from them.

A sweep's models are rows of `train_runs` like any other; `sweep_runs` only tags them with the
sweep and the value. The sweep id covers what makes two models comparable (the base recipe, the
signal and side, the token budget, the model preset and batch size), not the values or seeds: a
rerun with more values or seeds extends the same curve, and one that finds a (slice, seed) already
trained alike trains nothing for it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from dataclasses import dataclass

import duckdb

from curate import store
from curate.errors import UsageError
from curate.recipes import Recipe, Rule

# Muennighoff et al. 2023 ("Scaling Data-Constrained Language Models"): up to about 4 epochs,
# repeated tokens are worth almost as much as new ones; beyond, their value decays fast. A slice
# the budget reads more often than this measures the repetition as much as the filter.
EPOCH_LIMIT = 4.0
BOUNDS = ("min", "max")
# Recorded in a model's metrics but not measures of the model: counts and reference figures.
NOT_METRICS = frozenset({"memorization_probes", "epochs_over_data", "unigram_bpb"})
_COUNT_SUFFIXES = ("_probes", "_count", "_docs", "_documents", "_n")


class NoSuchRule(UsageError):
    """The signal has no rule to sweep in the recipe; `known` are the names a hint may suggest."""

    def __init__(self, message: str, known: list[str]) -> None:
        super().__init__(message)
        self.known = known


def sweep_rule(recipe: Recipe, signal: str, bound: str | None = None) -> tuple[Rule, str]:
    """The recipe's rule on `signal` and the side (min or max) a sweep of it sets.

    The side is the one the rule has; a rule with both needs `bound`. UsageError, naming the
    recipe and the signal, when there is nothing to sweep.
    """
    from curate.signals import REGISTRY

    where = f"recipe {recipe.name!r} ({recipe.origin})"
    rules = {r.signal: r for r in recipe.rules}
    if signal not in rules:
        try:
            REGISTRY.get(signal)
        except KeyError:
            raise NoSuchRule(f"--signal {signal!r}: no such signal (`curate signals` lists them)",
                             [s.name for s in list(REGISTRY)]) from None
        raise NoSuchRule(f"{where} has no rule on {signal!r}: a sweep moves a bound the recipe has "
                         f"(its rules: {', '.join(rules) or 'none'})", list(rules))
    rule = rules[signal]
    if rule.allow is not None:
        raise UsageError(f"{where}: the rule on {signal!r} allows a list of values ({', '.join(rule.allow)}), "
                         "it has no min or max to sweep")
    if bound is not None:
        if bound not in BOUNDS:
            raise UsageError(f"--bound {bound!r}: min or max")
        return rule, bound
    if rule.min is not None and rule.max is not None:
        raise UsageError(f"{where}: the rule on {signal!r} has both min {rule.min:g} and max {rule.max:g}; "
                         "say which one the values set with --bound min or --bound max")
    return rule, "min" if rule.min is not None else "max"


def value_text(value: float) -> str:
    """A value as a recipe name shows it: 0.02, 50, 1e-05."""
    return format(float(value), "g").replace("+", "")


def derive(recipe: Recipe, signal: str, bound: str, value: float) -> Recipe:
    """The recipe with the rule on `signal` set to `value` on side `bound`, under its own name.

    The name is part of the recipe id, so the derived slices never take the base recipe's name
    (which `curate slice`, the dashboard and `raw`/`strict` comparisons resolve to its latest
    slice) and the same value always makes the same recipe.
    """
    if not math.isfinite(value):
        raise UsageError(f"--values {value}: a bound must be a finite number")
    from curate.signals import REGISTRY

    sig = REGISTRY.get(signal)
    if (sig.lo is not None and value < sig.lo) or (sig.hi is not None and value > sig.hi):
        lo = "-inf" if sig.lo is None else f"{sig.lo:g}"
        hi = "inf" if sig.hi is None else f"{sig.hi:g}"
        raise UsageError(f"--values {value_text(value)}: {signal} lies in {lo}..{hi}")
    rules = []
    for r in recipe.rules:
        if r.signal == signal:
            r = dataclasses.replace(r, **{bound: float(value)})
            if r.min is not None and r.max is not None and r.min > r.max:
                raise UsageError(f"recipe {recipe.name!r}: {signal} {bound} {value_text(value)} would make "
                                 f"min {r.min:g} > max {r.max:g}")
        rules.append(r)
    name = f"{recipe.name}.{signal}.{bound}.{value_text(value)}"
    if not store.RECIPE_NAME.fullmatch(name):  # too long: a short name that still says whose it is
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{recipe.name[:40]}.sweep.{digest}"
    description = f"{recipe.name} with {signal} {bound} {value_text(value)} (a threshold sweep)"
    return dataclasses.replace(recipe, name=name, rules=tuple(rules), description=description)


@dataclass(frozen=True)
class SweepKey:
    """What makes the models of a sweep comparable; its hash is the sweep id."""

    recipe: Recipe
    signal: str
    bound: str
    token_budget: int
    preset: str
    batch_size: int

    @property
    def sweep_id(self) -> str:
        canon = {"recipe_id": self.recipe.recipe_id, "signal": self.signal, "bound": self.bound,
                 "token_budget": self.token_budget, "preset": self.preset, "batch_size": self.batch_size}
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:16]


def record_sweep(con: duckdb.DuckDBPyConnection, key: SweepKey, config: dict) -> str:
    """Insert or update the sweep's row; returns its id."""
    sid = key.sweep_id
    created = con.execute("SELECT created_at FROM sweeps WHERE sweep_id = ?", [sid]).fetchone()
    with store.transaction(con):
        store.insert(con, "sweeps", {
            "sweep_id": sid, "recipe_name": key.recipe.name, "recipe_id": key.recipe.recipe_id,
            "signal": key.signal, "bound": key.bound, "token_budget": key.token_budget, "preset": key.preset,
            "config": json.dumps(config, default=str), "created_at": created[0] if created else store.now(),
            "updated_at": store.now()}, replace=True)
    return sid


def recorded_model(con: duckdb.DuckDBPyConnection, sweep_id: str, slice_id: str, seed: int) -> str | None:
    """The model the sweep already has for this slice and seed (tagged, and still in train_runs)."""
    row = con.execute(
        """SELECT r.train_run_id FROM sweep_runs r JOIN train_runs t USING (train_run_id)
           WHERE r.sweep_id = ? AND r.slice_id = ? AND r.seed = ? LIMIT 1""", [sweep_id, slice_id, seed]).fetchone()
    return row[0] if row else None


def model_trained_alike(con: duckdb.DuckDBPyConnection, key: SweepKey, slice_id: str, seed: int,
                        val_text: str) -> str | None:
    """A model of this slice and seed trained with the sweep's setup (by the sweep before it was
    killed, or by `curate train`), measured on the same validation text; None if there is none."""
    row = con.execute(
        """SELECT train_run_id FROM train_runs
           WHERE slice_id = ? AND seed = ? AND val_text = ?
             AND CAST(json_extract(config, '$.token_budget') AS BIGINT) = ?
             AND json_extract_string(config, '$.preset') = ?
             AND CAST(json_extract(config, '$.batch_size') AS BIGINT) = ?
           ORDER BY created_at DESC LIMIT 1""",
        [slice_id, seed, val_text, key.token_budget, key.preset, key.batch_size]).fetchone()
    return row[0] if row else None


def tag_model(con: duckdb.DuckDBPyConnection, sweep_id: str, value: float, slice_id: str, seed: int,
              train_run_id: str) -> None:
    """Record the model as the sweep's point (value, seed). A point of this value from another
    slice (the corpus or its scores changed since) is dropped: the curve shows the slice the value
    makes now."""
    with store.transaction(con):
        con.execute("DELETE FROM sweep_runs WHERE sweep_id = ? AND value = ? AND (slice_id <> ? OR seed = ?)",
                    [sweep_id, float(value), slice_id, seed])
        store.insert(con, "sweep_runs", {"sweep_id": sweep_id, "value": float(value), "slice_id": slice_id,
                                         "seed": seed, "train_run_id": train_run_id, "recorded_at": store.now()})


# --- reading the curve back: the CLI and the dashboard ---------------------------------------


def _has_sweeps(con: duckdb.DuckDBPyConnection) -> bool:
    # a version-1 store opened read-only has no sweep tables (see store.SCHEMA_VERSION)
    return store.table_exists(con, "sweeps") and store.table_exists(con, "sweep_runs")


def sweep_list(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every sweep, the latest updated first, with how many values and models it has."""
    if not _has_sweeps(con):
        return []
    cur = con.execute(
        """SELECT w.sweep_id, w.recipe_name, w.signal, w.bound, w.token_budget, w.preset, w.updated_at,
                  count(DISTINCT r.value) AS n_values, count(t.train_run_id) AS n_models
           FROM sweeps w LEFT JOIN sweep_runs r USING (sweep_id) LEFT JOIN train_runs t USING (train_run_id)
           GROUP BY ALL ORDER BY w.updated_at DESC, w.sweep_id""")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def find_sweep(con: duckdb.DuckDBPyConnection, sweep_id: str) -> dict | None:
    return next((s for s in sweep_list(con) if s["sweep_id"] == sweep_id), None)


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """The numeric measures of a model's metrics JSON, nested objects as `outer.inner`; counts
    and reference figures (NOT_METRICS, `*_probes`, `*_count`, ...) left out. Every metric
    `train` records thus appears in a sweep's curve without being named here."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        name = f"{prefix}{k}"
        if k in NOT_METRICS or k.startswith("n_") or k.endswith(_COUNT_SUFFIXES):
            continue
        if isinstance(v, dict):
            out.update(flat_metrics(v, f"{name}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[name] = float(v)
    return out


def sweep_points(con: duckdb.DuckDBPyConnection, sweep_id: str) -> list[dict]:
    """One row per model of the sweep: its value, slice, seed and every recorded metric."""
    if not _has_sweeps(con):
        return []
    rows = con.execute(
        """SELECT r.value, r.slice_id, r.seed, r.train_run_id, s.n_documents, s.n_kept, s.kept_bytes,
                  t.tokens, t.epochs, t.bpb, t.metrics
           FROM sweep_runs r JOIN train_runs t USING (train_run_id) LEFT JOIN slices s ON s.slice_id = r.slice_id
           WHERE r.sweep_id = ? ORDER BY r.value, r.seed""", [sweep_id]).fetchall()
    out = []
    for value, slice_id, seed, run_id, n_docs, n_kept, kept_bytes, tokens, epochs, bpb, metrics in rows:
        measured = {} if bpb is None else {"bpb": float(bpb)}
        measured.update(flat_metrics(json.loads(metrics or "{}")))
        out.append({"value": value, "slice_id": slice_id, "seed": seed, "train_run_id": run_id,
                    "n_documents": n_docs, "n_kept": n_kept, "kept_bytes": kept_bytes, "tokens": tokens,
                    "epochs": epochs, "metrics": measured})
    return out


def metric_names(points: list[dict]) -> list[str]:
    """The metrics the sweep's models recorded, bits/byte first, then in the order first seen."""
    names = dict.fromkeys(k for p in points for k in p["metrics"])
    return sorted(names, key=lambda k: (k != "bpb", list(names).index(k)))


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def curve(points: list[dict], token_budget: int) -> list[dict]:
    """One row per value: kept share, documents, slice tokens, epochs over the slice, seeds, and
    every metric's mean and standard deviation over the seeds (`<metric>_mean`, `<metric>_sd`).

    Epochs are the trainer's count (tokens trained / tokens in one pass) where every model read
    the slice through once; otherwise the slice holds more tokens than the budget and the epochs
    are estimated from its bytes (store.BYTES_PER_TOKEN). `data_constrained`: more than
    EPOCH_LIMIT epochs.
    """
    from curate.comparison import difference

    by_value: dict[float, list[dict]] = {}
    for p in points:
        by_value.setdefault(p["value"], []).append(p)
    names = metric_names(points)
    rows = []
    for value, ps in sorted(by_value.items()):
        first = ps[0]
        est_tokens = (first["kept_bytes"] or 0) / store.BYTES_PER_TOKEN
        measured = [p["epochs"] for p in ps if p["epochs"] is not None]
        if measured and len(measured) == len(ps):
            epochs = statistics.fmean(measured)
            slice_tokens = statistics.fmean(p["tokens"] / p["epochs"] for p in ps if p["epochs"])
            source = "measured"
        else:
            epochs = token_budget / est_tokens if est_tokens else None
            slice_tokens = est_tokens
            source = "estimated"
        row = {"value": value, "slice_id": first["slice_id"], "documents": first["n_kept"],
               "kept_share": (first["n_kept"] / first["n_documents"]) if first["n_documents"] else None,
               "slice_tokens": round(slice_tokens) if slice_tokens is not None else None,
               "tokens_trained": round(statistics.fmean(p["tokens"] for p in ps)),
               "epochs": epochs, "epochs_from": source,
               "data_constrained": bool(epochs is not None and epochs > EPOCH_LIMIT), "seeds": len(ps)}
        for name in names:
            row[f"{name}_mean"], row[f"{name}_sd"] = _mean_sd([p["metrics"][name] for p in ps if name in p["metrics"]])
        rows.append(row)
    # every metric against the value that keeps the most (the loosest): which way, and whether
    # beyond the seeds' spread; bits/byte also as its own columns (the main table's)
    if rows:
        ref = max(rows, key=lambda r: (r["documents"] or 0, -abs(r["value"])))
        for name in names:
            ref_values = [p["metrics"][name] for p in by_value[ref["value"]] if name in p["metrics"]]
            for row in rows:
                if row is ref:
                    row[f"{name}_verdict"] = "reference"
                    continue
                d = difference([p["metrics"][name] for p in by_value[row["value"]] if name in p["metrics"]],
                               ref_values)
                row[f"{name}_vs_loosest"] = None if d is None else d.diff
                row[f"{name}_vs_loosest_half_width"] = None if d is None else d.half_width
                row[f"{name}_verdict"] = "not measured" if d is None else _verdict(d, name)
    return rows


def _verdict(d, metric: str = "bpb") -> str:
    """In words, which way and whether beyond the seeds' spread: better/worse for a metric with
    a better side (comparison.BY_KEY; bits/byte: lower), lower/higher for one without."""
    from curate.comparison import BEYOND, BY_KEY

    known = BY_KEY.get(metric)
    lower_better = True if metric == "bpb" else (known.lower_is_better if known is not None else None)
    if d.diff == 0:
        way = "equal"
    elif lower_better is None:
        way = "lower" if d.diff < 0 else "higher"
    else:
        way = "better" if (d.diff < 0) == lower_better else "worse"
    if d.noise == BEYOND:
        return f"{way}, beyond noise"
    return f"{way}, {d.noise}" if way != "equal" else d.noise


def sweep_curve(con: duckdb.DuckDBPyConnection, sweep_id: str) -> list[dict]:
    """The curve of a stored sweep (see `curve`)."""
    sweep = find_sweep(con, sweep_id)
    if sweep is None:
        return []
    return curve(sweep_points(con, sweep_id), int(sweep["token_budget"]))


def _pm(mean: float | None, sd: float | None, digits: int = 4) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")


def curve_keys(rows: list[dict]) -> list[str]:
    """The columns of the curve for --format json/csv, every metric's included."""
    return list(dict.fromkeys(k for r in rows for k in r))


def curve_tables(rows: list[dict], signal: str, bound: str) -> list[tuple[list[str], list[list]]]:
    """The curve as two tables (headers, rows): the slices with bits/byte, then every metric by value."""
    value_head = f"{signal} {bound}"
    main = []
    for r in rows:
        vs = "-"
        if r.get("bpb_verdict") == "reference":
            vs = "reference (keeps most)"
        elif r.get("bpb_vs_loosest") is not None:
            hw = r.get("bpb_vs_loosest_half_width")
            vs = f"{r['bpb_vs_loosest']:+.4f}" + ("" if hw is None else f" ± {hw:.4f}") + f" ({r['bpb_verdict']})"
        epochs = "-" if r["epochs"] is None else f"{r['epochs']:.2f}" + ("" if r["epochs_from"] == "measured" else "*")
        main.append([value_text(r["value"]), f"{r['kept_share']:.1%}" if r["kept_share"] is not None else "-",
                     r["documents"], r["slice_tokens"], r["tokens_trained"], epochs, r["seeds"],
                     _pm(r.get("bpb_mean"), r.get("bpb_sd")), vs,
                     f"data-constrained (> {EPOCH_LIMIT:g} epochs)" if r["data_constrained"] else ""])
    first = (["value", "kept share", "documents", "slice tokens", "tokens trained", "epochs", "seeds",
              "bits/byte (mean ± sd)", "vs loosest (95%)", "note"], main)
    first[0][0] = value_head
    names = [k[: -len("_mean")] for k in curve_keys(rows) if k.endswith("_mean")]
    by_metric = [[name, *(_pm(r.get(f"{name}_mean"), r.get(f"{name}_sd")) + _verdict_suffix(r.get(f"{name}_verdict"))
                          for r in rows)] for name in names]
    second = (["metric (mean ± sd; against the loosest value)",
               *(f"{value_head} {value_text(r['value'])}" for r in rows)], by_metric)
    return [first, second]


def _verdict_suffix(verdict: str | None) -> str:
    """' (worse, beyond noise)' for a table cell; nothing for the reference or no verdict."""
    return "" if verdict in (None, "reference") else f" ({verdict})"


def constrained_note(rows: list[dict]) -> str | None:
    """Where the budget reads the slice more than EPOCH_LIMIT times, in words; None if nowhere."""
    over = [r for r in rows if r["data_constrained"]]
    if not over:
        return None
    shown = ", ".join(f"{value_text(r['value'])} ({r['epochs']:.1f} epochs)" for r in over)
    return (f"data-constrained: {shown}. Past about {EPOCH_LIMIT:g} epochs repeated tokens are worth less than "
            "new ones (Muennighoff et al. 2023): there the curve measures the repetition as much as the filter; "
            "a larger corpus or a smaller --tokens keeps these values comparable.")
