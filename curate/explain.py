"""`curate explain`: every signal of one document and the decision a slice made about it."""
from __future__ import annotations

import duckdb

from curate import store
from curate.console import format_table
from curate.errors import UsageError
from curate.recipes import doc_rule_reasons, parse_recipe, resolve_slice, rule_reasons
from curate.store import ident, table_exists


def find_document(con: duckdb.DuckDBPyConnection, key: str) -> tuple[str, str | None, str]:
    row = con.execute(
        "SELECT doc_id, external_id, text FROM documents WHERE doc_id = ? OR external_id = ? ORDER BY doc_id LIMIT 1",
        [key, key],
    ).fetchone()
    if row is None:
        raise UsageError(f"no document with doc_id or external id {key!r}")
    return row


def _bound(rule) -> str:
    if rule.allow is not None:
        return f"allow {list(rule.allow)}"
    return f"{'' if rule.min is None else rule.min} .. {'' if rule.max is None else rule.max}"


def rule_failures(con: duckdb.DuckDBPyConnection, rules, doc_id: str) -> dict[str, list[str] | None]:
    """For each rule's signal, the reason codes the document's stored value fails (empty: passes).

    The same conditions the slice's SQL uses (recipes.rule_reasons), so NULL fails a bound and
    NaN compares as DuckDB compares it. None where the document or the column is not scored.
    """
    present = store.signal_columns(con)
    checks, params, owners = [], [], []
    for rule in rules:
        if rule.signal not in present:
            continue
        for cond, code, values in rule_reasons(rule):
            checks.append(f"coalesce({cond}, true)")
            params.extend(values)
            owners.append((rule.signal, code))
    out: dict[str, list[str] | None] = {r.signal: None for r in rules}
    if not checks:
        return out
    row = con.execute(f"SELECT {', '.join(checks)} FROM signals s WHERE s.doc_id = ?", [*params, doc_id]).fetchone()
    if row is None:
        return out
    for (signal, code), failed in zip(owners, row):
        out[signal] = out[signal] or []
        if failed:
            out[signal].append(code)
    return out


def explain_document(con: duckdb.DuckDBPyConnection, key: str, slice_name: str | None) -> str:
    from curate.signals import signals

    doc_id, external_id, text = find_document(con, key)
    out = [f"document {doc_id}" + (f" (id {external_id})" if external_id else ""),
           "text: " + text[:300].replace("\n", " ⏎ ") + ("…" if len(text) > 300 else ""), ""]
    values: dict = {}
    if table_exists(con, "signals"):
        cols = [s.name for s in signals()]
        present = store.signal_columns(con)
        cols = [c for c in cols if c in present]
        row = con.execute(
            f"SELECT {', '.join(ident(c) for c in cols)} FROM signals WHERE doc_id = ?", [doc_id]
        ).fetchone()
        if row is not None:
            values = dict(zip(cols, row))
    rule_status: dict[str, str] = {}
    decision = None
    if slice_name:
        sid, name = resolve_slice(con, slice_name)
        row = con.execute(
            "SELECT kept, reason FROM decisions WHERE slice_id = ? AND doc_id = ?", [sid, doc_id]
        ).fetchone()
        if row is None:
            raise UsageError(f"slice {sid} has no decision for {doc_id}: it was ingested after the slice "
                             f"was built; `curate slice {name}` builds it again")
        kept, reason = row
        recipe_yaml = con.execute(
            "SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?", [sid]
        ).fetchone()[0]
        recipe = parse_recipe(recipe_yaml, origin=f"slice {sid}")
        failing = rule_failures(con, recipe.rules, doc_id)
        first_now = next((code for rule in recipe.rules for code in failing.get(rule.signal) or ()), None)
        for rule in recipe.rules:
            codes = [code for _, code, _ in rule_reasons(rule)]
            status = ("not scored" if failing.get(rule.signal) is None else
                      "FAIL" if failing[rule.signal] else "ok")
            rule_status[rule.signal] = f"{status:<4} {_bound(rule)}" + (
                "  <- the slice's drop reason" if reason in codes else "")
        decision = f"slice {sid}: " + ("KEPT" if kept else f"DROPPED — first failing rule: {reason}")
        recorded = reason if any(reason in [c for _, c, _ in rule_reasons(r)] for r in recipe.rules) else None
        scored = any(v is not None for v in failing.values())
        # a URL list or a benchmark dropped it: no stored signal to compare with
        by_doc_rule = reason in {c for dr in recipe.doc_rules for _, c, _ in doc_rule_reasons(dr)}
        if scored and reason != "not_scored" and not by_doc_rule and recorded != first_now:
            decision += (f"\nnote: by the stored signals now, the first failing rule is {first_now or 'none'}; "
                         "the signals changed after the slice was built (`curate slice` builds it again)")
    rows = [[s.name, s.family, values.get(s.name), rule_status.get(s.name, "")] for s in signals()]
    out.append(format_table(["signal", "family", "value", "rule in slice"], rows))
    if decision:
        out.extend(["", "rule in slice: ok or FAIL is this document's value against each rule's bound; "
                        "the slice records the first failing rule, in the recipe's order", decision])
    return "\n".join(out)
