"""`curate explain`: every signal of one document and the decision a slice made about it."""
from __future__ import annotations

import duckdb

from curate.console import format_table
from curate.errors import UsageError
from curate.recipes import parse_recipe, resolve_slice, rule_reasons
from curate.store import ident, table_exists


def find_document(con: duckdb.DuckDBPyConnection, key: str) -> tuple[str, str | None, str]:
    row = con.execute(
        "SELECT doc_id, external_id, text FROM documents WHERE doc_id = ? OR external_id = ? ORDER BY doc_id LIMIT 1",
        [key, key],
    ).fetchone()
    if row is None:
        raise UsageError(f"no document with doc_id or external id {key!r}")
    return row


def explain_document(con: duckdb.DuckDBPyConnection, key: str, slice_name: str | None) -> str:
    from curate.signals import signals

    doc_id, external_id, text = find_document(con, key)
    out = [f"document {doc_id}" + (f" (id {external_id})" if external_id else ""),
           "text: " + text[:300].replace("\n", " ⏎ ") + ("…" if len(text) > 300 else ""), ""]
    values: dict = {}
    if table_exists(con, "signals"):
        cols = [s.name for s in signals()]
        present = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'signals'").fetchall()}
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
        kept, reason = con.execute(
            "SELECT kept, reason FROM decisions WHERE slice_id = ? AND doc_id = ?", [sid, doc_id]
        ).fetchone()
        recipe_yaml = con.execute(
            "SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?", [sid]
        ).fetchone()[0]
        recipe = parse_recipe(recipe_yaml, origin=f"slice {sid}")
        for rule in recipe.rules:
            codes = [code for _, code, _ in rule_reasons(rule)]
            bound = (f"allow {list(rule.allow)}" if rule.allow is not None else
                     f"{'' if rule.min is None else rule.min} .. {'' if rule.max is None else rule.max}")
            rule_status[rule.signal] = ("FAIL " if reason in codes else "ok   ") + bound
        decision = f"slice {sid}: " + ("KEPT" if kept else f"DROPPED — first failing rule: {reason}")
    rows = [[s.name, s.family, values.get(s.name), rule_status.get(s.name, "")] for s in signals()]
    out.append(format_table(["signal", "family", "value", "rule in slice"], rows))
    if decision:
        out.extend(["", decision])
    return "\n".join(out)
