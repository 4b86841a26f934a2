"""`curate app`: start the Streamlit dashboard on a store."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("page.py")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(db: Path, port: int | None = None, *, address: str = "localhost") -> list[str]:
    """The `streamlit run` command line: headless, no usage stats, bound to `address`."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(port or 8501),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--", "--db", str(Path(db).resolve()),
    ]


def launch(db: Path, port: int | None = None) -> int:
    """Run the dashboard until interrupted; returns streamlit's exit code."""
    if not APP.is_file():
        print(f"curate app: {APP} is missing (a broken install?)", file=sys.stderr)
        return 1
    if not Path(db).exists():
        print(f"curate app: no store at {db} yet; the dashboard will say how to make one", file=sys.stderr)
    try:
        return subprocess.call(command(db, port))
    except KeyboardInterrupt:
        return 0
