"""Dashboard states through AppTest: empty store, no store, a job holding the lock, hostile URLs."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import store  # noqa: E402
from curate.dashboard.synthetic import build_store  # noqa: E402
from tests.dashboard_helpers import Holder, metric, run_app, texts  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("states") / "store.duckdb", 80, seed=5, train=True)


@pytest.mark.parametrize("page", ["audit", "explorer", "compare", "validation", "runs"])
def test_empty_store(monkeypatch, tmp_path, page):
    db = tmp_path / "empty.duckdb"
    store.connect(db).close()
    at = run_app(monkeypatch, db, page=page)
    assert at.info, "an empty store must say what to do"


def test_no_store_at_all(monkeypatch, tmp_path):
    at = run_app(monkeypatch, tmp_path / "missing.duckdb")
    assert "curate demo" in texts(at.info)


@pytest.mark.parametrize("query, message", [
    ({"threshold": "abc", "page": "explorer"}, "threshold"),
    ({"threshold": "0.8'; DROP TABLE documents; --", "page": "explorer"}, "threshold"),
    ({"slice": "x' OR 1=1 --", "page": "validation"}, "no slice"),
    ({"doc": "'; SELECT * FROM read_csv('/etc/passwd') --"}, "no document"),
    ({"page": "../../etc/passwd"}, "unknown page"),
])
def test_hostile_query_params(monkeypatch, trained, query, message):
    at = run_app(monkeypatch, trained, **query)
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]


def test_locked_store_shows_the_snapshot(monkeypatch, tmp_path):
    db = build_store(tmp_path / "s.duckdb", 60)
    store.publish_snapshot(db)
    with Holder(db, new_run=77):
        at = run_app(monkeypatch, db)
        assert "a job is running; showing data as of run 4" in texts(at.warning)
        assert metric(at, "documents") == "60"
