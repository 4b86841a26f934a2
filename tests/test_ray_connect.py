"""`--engine ray --address A` joins the cluster before the store is locked, and an address
that accepts no connection fails within seconds (exit 1) instead of retrying for minutes
while every other command on the store exits 3. No Ray is started here: the addresses are
local ports nothing listens on."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray")

from curate import store  # noqa: E402
from curate.cli import main  # noqa: E402
from curate.errors import CurateError, ExitCode  # noqa: E402


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curate(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.perf_counter() - t0


@pytest.mark.parametrize("command", [["score"], pytest.param(["dedup"], marks=pytest.mark.slow),
                                     pytest.param(["run", "raw", "--input", "in"], marks=pytest.mark.slow)])
def test_unreachable_address_fails_fast_without_a_traceback(tmp_path, monkeypatch, command):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    db = tmp_path / "x.duckdb"
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path)
    proc, seconds = _curate(*command, "--engine", "ray", "--address", f"127.0.0.1:{_unused_port()}",
                            "--db", str(db))
    assert proc.returncode == int(ExitCode.FAILED), proc.stderr
    assert seconds < 30
    assert "cannot reach the Ray cluster at 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    # the store was never locked, so another writer runs at once
    with store.writer_lock(db):
        pass
    (tmp_path / "a.jsonl").write_text('{"text": "A short page about the weather in the hills."}\n')
    assert main(["ingest", "--db", str(db), "--quiet", str(tmp_path / "a.jsonl")]) == 0


def test_the_cluster_is_joined_before_the_writer_lock(tmp_path, monkeypatch):
    """Whatever joining the cluster costs, the store is not locked meanwhile."""
    from curate.engines import ray_session as ray_engine

    db = tmp_path / "x.duckdb"
    seen = []

    def joining(address=None):
        with store.writer_lock(db):  # raises StoreLockedError if the command already holds it
            seen.append(address)
        raise CurateError("no cluster here")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_engine, "ensure_ray", joining)
    port = _unused_port()
    for command in ("score", "dedup"):
        assert main([command, "--engine", "ray", "--address", f"127.0.0.1:{port}", "--db", str(db)]) == 1
    assert seen == [f"127.0.0.1:{port}"] * 2


def test_endpoints_follow_rays_rules(monkeypatch):
    from curate.engines.ray_session import cluster_endpoint
    from curate.errors import UsageError

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert cluster_endpoint("ray://head.example") == ("head.example", 10001)
    assert cluster_endpoint("ray://head.example:20001") == ("head.example", 20001)
    assert cluster_endpoint("10.1.2.3:6379") == ("10.1.2.3", 6379)
    assert cluster_endpoint("local") is None
    monkeypatch.setenv("RAY_ADDRESS", "ray://other:10001")  # Ray lets RAY_ADDRESS win
    assert cluster_endpoint(None) == ("other", 10001)
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(UsageError):
        cluster_endpoint("not an address")
