"""Runs: every command that wrote to the store, and how it ended."""
from __future__ import annotations

import streamlit as st

from curate.dashboard import params as qp
from curate.dashboard.queries import runs
from curate.dashboard.reads import Store

TITLE = "Runs"
URL_PATH = "runs"


def render(s: Store, p: qp.Params) -> None:
    st.header("Runs")
    table = s.read(runs)
    if table.empty:
        st.info("No runs recorded yet.")
        return
    by_status = table["status"].value_counts()
    cols = st.columns(max(1, len(by_status)))
    for col, (status, n) in zip(cols, by_status.items()):
        col.metric(status, int(n))
    st.dataframe(table, hide_index=True, width="stretch")
