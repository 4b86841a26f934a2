"""Each store file has its own artifacts folder, '<file name>.artifacts/', so two stores with
one stem in one folder ('c.duckdb', 'c.db') never share suites, models or snapshots; a
store's older '<stem>.artifacts/' is moved to the new name once, when it is surely its own."""
from __future__ import annotations

from pathlib import Path

from curate import store
from curate.dashboard.source import read_store
from tests.dashboard_helpers import Holder


def _make(db: Path, marker: str) -> Path:
    with store.open_store(db) as con:
        store.set_meta(con, "marker", marker)
    return db


def _marker(path: Path) -> str:
    with store.open_store(path, read_only=True) as con:
        return store.get_meta(con, "marker")


def test_two_stores_with_one_stem_keep_their_own_artifacts(tmp_path):
    a, b = _make(tmp_path / "c.duckdb", "duckdb"), _make(tmp_path / "c.db", "db")
    assert store.artifacts_dir(a) == tmp_path / "c.duckdb.artifacts"
    assert store.artifacts_dir(b) == tmp_path / "c.db.artifacts"
    store.publish_snapshot(a)
    store.publish_snapshot(b)
    assert store.snapshot_path(a) != store.snapshot_path(b)
    assert _marker(store.snapshot_path(a)) == "duckdb" and _marker(store.snapshot_path(b)) == "db"
    assert store.suite_path(a, "strict").parent != store.suite_path(b, "strict").parent
    # the dashboard of each, while a job holds it, shows that store's own snapshot
    for db, marker in ((a, "duckdb"), (b, "db")):
        with Holder(db):
            with read_store(db, expect=store.snapshot_path(db)) as (con, view):
                assert view.is_snapshot
                assert con.execute("SELECT value FROM meta WHERE key = 'marker'").fetchone()[0] == marker


def test_a_stores_old_artifacts_folder_moves_to_the_new_name_once(tmp_path):
    db = _make(tmp_path / "c.duckdb", "mine")
    old = tmp_path / "c.artifacts"
    (old / "suites").mkdir(parents=True)
    (old / "suites" / "strict.json").write_text("{}")
    (old / "quality.bin").write_bytes(b"model")
    store.publish_snapshot(db)  # a first writer command after the upgrade
    new = tmp_path / "c.duckdb.artifacts"
    assert not old.exists()
    assert (new / "suites" / "strict.json").read_text() == "{}"
    assert (new / "quality.bin").read_bytes() == b"model"
    assert store.snapshot_path(db) == new / "snapshot.duckdb" and _marker(store.snapshot_path(db)) == "mine"


def test_before_the_move_readers_find_the_old_folder_without_moving_it(tmp_path):
    db = _make(tmp_path / "c.duckdb", "mine")
    old = tmp_path / "c.artifacts"
    old.mkdir()
    (old / "snapshot.duckdb").write_bytes(db.read_bytes())
    assert store.snapshot_path(db) == old / "snapshot.duckdb"
    assert old.is_dir() and not (tmp_path / "c.duckdb.artifacts").exists()


def test_an_old_folder_two_stores_could_own_is_left_alone(tmp_path, capsys):
    a, b = _make(tmp_path / "c.duckdb", "duckdb"), _make(tmp_path / "c.db", "db")
    old = tmp_path / "c.artifacts"
    old.mkdir()
    (old / "quality.bin").write_bytes(b"whose?")
    assert store.snapshot_path(a) == tmp_path / "c.duckdb.artifacts" / "snapshot.duckdb"
    assert store.artifacts_dir(a) == tmp_path / "c.duckdb.artifacts"
    assert store.artifacts_dir(b) == tmp_path / "c.db.artifacts"
    assert (old / "quality.bin").read_bytes() == b"whose?"
    assert "c.artifacts/ may belong to another store" in capsys.readouterr().err


def test_a_file_that_is_not_a_store_does_not_block_the_move(tmp_path):
    db = _make(tmp_path / "c.duckdb", "mine")
    (tmp_path / "c.txt").write_text("notes")
    (tmp_path / "c.artifacts").mkdir()
    assert store.artifacts_dir(db) == tmp_path / "c.duckdb.artifacts"
    assert not (tmp_path / "c.artifacts").exists()


def test_a_store_without_a_suffix(tmp_path):
    db = _make(tmp_path / "corpus", "plain")
    assert store.artifacts_dir(db) == tmp_path / "corpus.artifacts"
    assert store.snapshot_path(db) == tmp_path / "corpus.artifacts" / "snapshot.duckdb"


def test_the_ray_work_folder_is_in_the_same_artifacts_folder(tmp_path):
    from curate.engines.ray_data import _work_dir
    from curate.engines.ray_session import RayOptions

    db = tmp_path / "c.duckdb"
    work = _work_dir(db, RayOptions(), "score")
    assert work.parent == tmp_path / "c.duckdb.artifacts" / "ray-work"
