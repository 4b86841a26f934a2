"""Validation: the Great Expectations results of each built slice (`?slice=` picks the slice)."""
from __future__ import annotations

import streamlit as st

from curate.dashboard import params as qp
from curate.dashboard.highlight import md_code
from curate.dashboard.queries import validation_checks, validations
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init, set_param

TITLE = "Validation"
URL_PATH = "validation"


def render(s: Store, p: qp.Params) -> None:
    st.header("Validation (Great Expectations)")
    vals = s.read(validations)
    if vals.empty:
        st.info("No validation results yet: `curate run RECIPE` (and `curate demo`) validate the slices they build.")
        return
    st.dataframe(vals, hide_index=True, width="stretch")
    ids = list(dict.fromkeys(vals["slice_id"]))
    init("slice", p.slice_id if p.slice_id in ids else None)
    slice_id = st.selectbox("Slice", ids, key="slice")
    set_param("slice", slice_id)
    checks = s.read(validation_checks, slice_id)
    failed = int((checks["success"] == False).sum()) if not checks.empty else 0  # noqa: E712
    (st.error if failed else st.success)(f"{slice_id}: {failed} failed check(s) of {len(checks)}")
    st.dataframe(checks, hide_index=True, width="stretch")
    docs = vals.loc[vals.slice_id == slice_id, "docs_path"].dropna()
    if not docs.empty:
        st.caption(f"Data Docs: {md_code(docs.iloc[0])}")
