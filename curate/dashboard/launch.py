"""`curate app`: start the Streamlit dashboard on a store."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().with_name("page.py")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(db: Path, port: int | None = None, *, address: str = "localhost", script: Path = APP) -> list[str]:
    """The `streamlit run` command line: headless, no usage stats, bound to `address`.

    `script` is the page by default; the benchmark passes the repository's app.py instead.
    """
    return [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(port or 8501),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--", "--db", str(Path(db).resolve()),
    ]


def _die_with_parent(parent: int) -> None:
    """In the server's process, before streamlit starts: on Linux ask the kernel to send it
    SIGTERM when curate dies, even by SIGKILL, so no server outlives the command that
    started it (elsewhere only a normal exit or a signal curate handles stops it)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # curate died before the request was made
        os._exit(0)


def _start(cmd: list[str], **kwargs) -> subprocess.Popen:
    parent = os.getpid()
    return subprocess.Popen(cmd, preexec_fn=lambda: _die_with_parent(parent), **kwargs)


def stop(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM (streamlit shuts down cleanly on it), then SIGKILL after `grace_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(db: Path, *, script: Path = APP, timeout_s: float = 60) -> tuple[subprocess.Popen, str]:
    """Start the dashboard on a free localhost port and wait until it answers its health check;
    (the server process, its URL). The caller terminates the process. RuntimeError with the
    server's last output if it exits or does not answer within ``timeout_s``."""
    port = free_port()
    proc = _start(command(db, port, address="127.0.0.1", script=script), stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start: {proc.stdout.read()[-2000:]}")
        time.sleep(0.3)


def launch(db: Path, port: int | None = None) -> int:
    """Run the dashboard until interrupted; returns streamlit's exit code."""
    if not APP.is_file():
        print(f"curate app: {APP} is missing (a broken install?)", file=sys.stderr)
        return 1
    if not Path(db).exists():
        print(f"curate app: no store at {db} yet; the dashboard will say how to make one", file=sys.stderr)
    proc = _start(command(db, port))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:  # Ctrl-C, SIGTERM (raised as cli.Terminated) or any error: the server goes too
        stop(proc)
