"""The README's cron, systemd and Airflow command lines, taken from README.md and run as written
(with their paths moved into a temporary folder) on a small corpus."""
from __future__ import annotations

import ast
import configparser
import gzip
import io
import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from curate import store

README = Path(__file__).resolve().parent.parent / "README.md"
IDLE_FLAG = "--exit-5-when-idle"
N_DOCS = 300


def _blocks(lang: str) -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Scheduled cleaning jobs", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"^```{lang}\n(.*?)^```", section, flags=re.S | re.M)


def _cron() -> dict:
    (block,) = _blocks("cron")
    (line,) = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    *schedule, command = line.split(None, 5)
    assert len(schedule) == 5, line
    return {"command": command, "shell": True, "cwd": None, "idle_ok": set()}


def _systemd() -> dict:
    (block,) = _blocks("ini")
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str
    unit.read_string(block)
    service = unit["Service"]
    ok = {int(c) for c in service.get("SuccessExitStatus", "").split()}
    return {"command": service["ExecStart"], "shell": False, "cwd": service["WorkingDirectory"], "idle_ok": ok}


def _airflow() -> dict:
    (block,) = _blocks("python")
    (call,) = [n for n in ast.walk(ast.parse(block))
               if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "BashOperator"]
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    skip = kw.get("skip_on_exit_code")
    return {"command": kw["bash_command"], "shell": True, "cwd": None,
            "idle_ok": {skip} if isinstance(skip, int) else set(skip or ())}


SCHEDULERS = {"cron": _cron, "systemd": _systemd, "airflow": _airflow}


def _curate_executable() -> str:
    exe = Path(sys.executable).with_name("curate")
    return str(exe) if exe.exists() else f"{sys.executable} -m curate.cli"


def _localize(text: str, root: Path) -> str:
    subs = {
        "/srv/curate/.venv/bin/curate": _curate_executable(),
        "/srv/corpus": str(root / "corpus"),
        "/data/incoming": str(root / "incoming"),
        "/data/clean": str(root / "clean"),
        "/var/log/curate.log": str(root / "curate.log"),
    }
    for path, here in subs.items():
        text = text.replace(path, here)
    if text.startswith("curate "):  # Airflow's task finds `curate` on its PATH
        text = _curate_executable() + text[len("curate"):]
    assert "/srv/" not in text and "/data/" not in text and "/var/" not in text, text
    return text


def _with_idle_flag(command: str, on: bool) -> str:
    command = command.replace(f" {IDLE_FLAG}", "")
    return command.replace("run strict ", f"run strict {IDLE_FLAG} ", 1) if on else command


def _run(job: dict, command: str, root: Path) -> subprocess.CompletedProcess:
    cwd = _localize(job["cwd"], root) if job["cwd"] else str(root)
    args = _localize(command, root)
    argv = ["bash", "-c", args] if job["shell"] else shlex.split(args)
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)


def _write_corpus(incoming: Path) -> None:
    import zstandard

    with gzip.open(Path(__file__).resolve().parent.parent / "sample_data/corpus/web-000.jsonl.gz", "rt",
                   encoding="utf-8") as fh:
        lines = list(itertools.islice(fh, N_DOCS))
    for k, part in enumerate((lines[: N_DOCS // 2], lines[N_DOCS // 2:])):
        buf = io.BytesIO()
        with zstandard.ZstdCompressor().stream_writer(buf, closefd=False) as zw:
            zw.write("".join(part).encode("utf-8"))
        (incoming / f"web-{k:03d}.jsonl.zst").write_bytes(buf.getvalue())


def _exports(clean: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(clean.glob("*"))} if clean.exists() else {}


def test_readme_commands_are_the_documented_ones():
    jobs = {name: parse() for name, parse in SCHEDULERS.items()}
    for name, job in jobs.items():
        cmd = job["command"]
        assert " run strict " in f" {cmd} " and "--db /srv/corpus/curate.duckdb" in cmd, name
        assert "/data/incoming" in cmd and "--out /data/clean" in cmd, name
        # a scheduler told that 5 means "nothing to do" must be given a command that exits 5 then
        assert (5 in job["idle_ok"]) == (IDLE_FLAG in cmd), name
    assert "'/data/incoming/*.jsonl.zst'" in jobs["cron"]["command"]
    assert jobs["systemd"]["command"].startswith("/srv/curate/.venv/bin/curate ")


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_readme_schedule_runs_as_written(tmp_path, scheduler):
    job = SCHEDULERS[scheduler]()
    root = tmp_path
    assert " " not in str(root)
    (root / "corpus").mkdir()
    (root / "incoming").mkdir()
    clean = root / "clean"
    command = job["command"]
    flagged = IDLE_FLAG in command
    idle = 5 if flagged else 0

    # nothing has arrived yet: an empty inbox is nothing to do, not a usage error
    res = _run(job, command, root)
    assert res.returncode == idle, res.stdout + res.stderr
    assert _exports(clean) == {}

    _write_corpus(root / "incoming")
    res = _run(job, command, root)
    assert res.returncode == 0, res.stdout + res.stderr
    first = _exports(clean)
    assert len(first) == 1 and re.fullmatch(r"strict-[0-9a-f]{12}\.parquet", next(iter(first))), first

    # the same files again: nothing to do, exit 5 with the flag and 0 without, nothing rewritten
    for on in (flagged, not flagged):
        res = _run(job, _with_idle_flag(command, on), root)
        assert res.returncode == (5 if on else 0), res.stdout + res.stderr
    assert _exports(clean) == first
    if scheduler == "cron":
        assert "nothing to do" in (root / "curate.log").read_text()
    result = subprocess.run([*shlex.split(_curate_executable()), "check", "--db", str(root / "corpus/curate.duckdb")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    with store.open_store(root / "corpus/curate.duckdb", read_only=True) as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY run_id").fetchall()]
    assert statuses == ["nothing_to_do", "ok", "nothing_to_do", "nothing_to_do"]
