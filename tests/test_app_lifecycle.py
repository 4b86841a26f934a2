"""`curate app` takes its server with it: on SIGTERM, and on SIGKILL (Linux: the kernel's
parent-death signal), no streamlit process outlives the command that started it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from curate.dashboard.launch import free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                     reason="parent-death signal is Linux only")]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _start_app(tmp_path) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", "app", "--db", str(tmp_path / "s.duckdb"),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    url = f"http://localhost:{port}/_stcore/health"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"the dashboard did not start: {proc.stderr.read()[-2000:]}")
    (server,) = _children(proc.pid)
    return proc, server, url


def _gone(pid: int, within_s: float = 20) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_server_stops_with_curate_app(tmp_path, sig):
    proc, server, url = _start_app(tmp_path)
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        assert _gone(server), f"streamlit (pid {server}) outlived `curate app` after {sig.name}"
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)
    finally:
        for pid in (proc.pid, server):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
