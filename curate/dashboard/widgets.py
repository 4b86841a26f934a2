"""Small helpers the dashboard pages share: widget state seeded from the URL, and the URL kept
in step with the widgets, so that a link opens the page as its sender saw it."""
from __future__ import annotations

import streamlit as st

from curate.signals import REGISTRY


def init(key: str, value) -> None:
    """Seed a widget's state once (from the URL), then let the widget own it."""
    if key not in st.session_state and value is not None:
        st.session_state[key] = value


def set_param(key: str, value) -> None:
    if value is None:
        st.query_params.pop(key, None)
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)


def signal_label(name: str) -> str:
    return f"{name} — {REGISTRY.get(name).meaning}" if name in REGISTRY else name
