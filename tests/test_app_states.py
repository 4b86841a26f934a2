"""Dashboard states through AppTest: empty store, no store, a job holding the lock, hostile URLs."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import store  # noqa: E402
from curate.dashboard.page import PROBE_TTL_S  # noqa: E402
from curate.dashboard.synthetic import build_store  # noqa: E402
from curate.dashboard.views import PAGES  # noqa: E402
from tests.dashboard_helpers import Holder, metric, run_app, texts  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("states") / "store.duckdb", 80, seed=5, train=True)


@pytest.mark.parametrize("page", [v.URL_PATH for v in PAGES])
def test_empty_store(monkeypatch, tmp_path, page):
    db = tmp_path / "empty.duckdb"
    store.connect(db).close()
    at = run_app(monkeypatch, db, page=page)
    assert at.info, "an empty store must say what to do"

NOTICE = "a job is running"


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


def _add_document(db: Path, doc_id: str) -> None:
    """What a later ingest + score does to the store: one more (scored) document."""
    with store.open_store(db) as con:
        con.execute("INSERT INTO documents SELECT ?, source_id, record_no + 100000, NULL, text, ?, n_bytes, NULL, "
                    "run_id FROM documents LIMIT 1", [doc_id, f"h-{doc_id}"])
        con.execute("INSERT INTO signals (doc_id, signals_version) VALUES (?, 'test')", [doc_id])


def test_a_changed_store_shows_at_the_next_rerun(monkeypatch, tmp_path):
    db = build_store(tmp_path / "s.duckdb", 60)
    at = run_app(monkeypatch, db)
    assert metric(at, "documents") == "60"
    _add_document(db, "added-1")
    at.run()
    assert metric(at, "documents") == "61"
    at = run_app(monkeypatch, db, page="explorer")
    at.multiselect(key="ex_signals").set_value([]).run()
    assert metric(at, "surviving documents") == "61"
    _add_document(db, "added-2")
    at.run()
    assert metric(at, "surviving documents") == "62"


def test_a_job_that_writes_shows_its_notice_at_the_next_rerun(monkeypatch, tmp_path):
    db = build_store(tmp_path / "s.duckdb", 60)
    store.publish_snapshot(db)
    at = run_app(monkeypatch, db)
    assert NOTICE not in texts(at.warning)  # the audit page may warn of its own findings
    with Holder(db, new_run=77):
        at.run()
        assert "a job is running; showing data as of run 4" in texts(at.warning)
    at.run()
    assert NOTICE not in texts(at.warning)  # the audit page may warn of its own findings


def test_a_job_that_has_not_written_yet(monkeypatch, tmp_path):
    """No file stat shows the lock: a read the cache lacks finds it at once, the probe after PROBE_TTL_S."""
    db = build_store(tmp_path / "s.duckdb", 60)
    store.publish_snapshot(db)
    at = run_app(monkeypatch, db)
    box = at.selectbox(key="audit_signal")
    other = next(o for o in box.options if o != box.value)  # a histogram this session has not read
    with Holder(db):
        box.set_value(other).run()
        assert not at.exception
        assert "a job is running; showing data as of run 4" in texts(at.warning)
    # The job ended without writing: no file stat changed, so the last probe (which saw it) is
    # trusted until PROBE_TTL_S has passed; then the store itself is read again.
    time.sleep(PROBE_TTL_S)
    at = run_app(monkeypatch, db)
    assert NOTICE not in texts(at.warning)  # the audit page may warn of its own findings
    with Holder(db):
        at.run()  # the probe is trusted, every read cached: the store's own numbers, unchanged by the job
        assert metric(at, "documents") == "60" and NOTICE not in texts(at.warning)
        time.sleep(PROBE_TTL_S)
        at.run()
        assert "a job is running; showing data as of run 4" in texts(at.warning)
        assert metric(at, "documents") == "60"
