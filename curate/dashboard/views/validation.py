"""Validation: each built slice's checks, every bound beside its observed value (`?slice=` picks the slice)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from curate.dashboard import params as qp
from curate.dashboard.highlight import md_code, md_literal
from curate.dashboard.queries import validations
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init, set_param
from curate.validate import validation_report

TITLE = "Validation"
URL_PATH = "validation"

RESULT = {False: "✗ failed", True: "✓ passed", None: "– skipped"}
COLUMNS = ["expectation", "bound", "observed", "result", "note", "check"]


def checks_table(report: dict) -> pd.DataFrame:
    """One row per check, failures first: expectation | bound | observed | result | note (the
    reference a drift bound comes from, or why the check did not run) | check id."""
    rows = [{"expectation": c["expectation"], "bound": c["bound"], "observed": c["observed"],
             "result": RESULT[c["success"]], "note": c["note"], "check": c["check"]} for c in report["checks"]]
    return pd.DataFrame(rows, columns=COLUMNS)


def overview(vals: pd.DataFrame) -> pd.DataFrame:
    """The latest validation of each slice: result and checks passed at a glance."""
    latest = vals.drop_duplicates("slice_id")  # ordered newest first
    return pd.DataFrame({
        "slice": latest["name"].fillna(latest["slice_id"]),
        "result": [RESULT[bool(x)] if pd.notna(x) else RESULT[None] for x in latest["success"]],
        "checks passed": [f"{ok} of {n}" if pd.notna(n) else "-"
                          for ok, n in zip(latest["successful"], latest["evaluated"])],
        "kept documents": latest["rows"],
        "validated at": latest["validated_at"],
        "slice_id": latest["slice_id"],
    })


def _result_style(value: str) -> str:
    return ("color: #d93025; font-weight: 600" if value.startswith("✗")
            else "color: #1e8e3e" if value.startswith("✓") else "color: #5f6368")


def render(s: Store, p: qp.Params) -> None:
    st.header("Validation (Great Expectations)")
    vals = s.read(validations)
    if vals.empty:
        st.info("No validation results yet: `curate run RECIPE` (and `curate demo`) validate the slices they build.")
        return
    st.dataframe(overview(vals), hide_index=True, width="stretch")
    ids = list(dict.fromkeys(vals["slice_id"]))
    init("slice", p.slice_id if p.slice_id in ids else None)
    slice_id = st.selectbox("Slice", ids, key="slice")
    set_param("slice", slice_id)
    report = s.read(validation_report, slice_id)
    if report is None:
        st.warning(f"No stored result for {md_literal(slice_id)}.")
        return
    table = checks_table(report)
    failed = int((table["result"] == RESULT[False]).sum())
    skipped = int((table["result"] == RESULT[None]).sum())
    ran = len(table) - skipped
    summary = f"{md_literal(slice_id)}: {failed} of {ran} check(s) failed" + (f", {skipped} skipped" if skipped else "")
    (st.error if failed else st.success)(summary)
    if report["compared_with"]:
        st.caption(f"Drift checks compare with {md_literal(report['compared_with'])}.")
    # Tall enough for every check: the failures are on top, the passes must not hide in a scroll box.
    st.dataframe(table.style.map(_result_style, subset=["result"]), hide_index=True, width="stretch",
                 height=min(38 + 35 * len(table), 1600),
                 column_config={"note": st.column_config.TextColumn(
                     "note", help="what a drift bound compares with, or why a check did not run")})
    if report["docs_path"]:
        st.caption(f"Data Docs (open in a browser; they work offline): {md_code(report['docs_path'])}")
    elif report["docs_error"]:
        st.caption(f"Data Docs: {md_literal(report['docs_error'])}")
