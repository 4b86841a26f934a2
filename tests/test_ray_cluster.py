"""Ray for real (issue 18): `curate run --engine ray --address` on a two-node Ray cluster.

Two Ray nodes are started on this machine with `ray start` (a head and a worker, one CPU
each, each with its own --temp-dir, so each node's logs are its own), the curate driver
joins the head by its address, and the Ray engine runs a recipe on part of the sample corpus
with a --work-dir both nodes see. The local engine runs the same recipe on a copy of the same
files into another store, and every row of signals, minhash, lsh_bands, dup_pairs,
dup_clusters and the slice's decisions must be identical.

That both nodes did curate's work is read from Ray's own records: the same two node ids are
alive before and after the run (ray.nodes()), and each node's worker logs (Ray writes a
`:task_name:` / `:actor_name:` line there when a task or actor starts) name curate's stage
functions on both nodes. The state API (ray.util.state) would say it more directly, but it
needs the dashboard, which ray[data] does not install.

The cluster uses token authentication with a token of its own (RAY_AUTH_MODE=token,
RAY_AUTH_TOKEN_PATH): `ray start --head` turns token mode on by itself when
~/.ray/auth_token exists, and then a worker or driver that joins by an explicit address is
refused unless it sets RAY_AUTH_MODE=token too (Ray 2.60). It is stopped in a `finally` by
killing exactly the processes it started (their process groups, and the workers its raylets
forked), never with `ray stop`, which would stop every Ray on the machine. Every subprocess
has a timeout.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="needs Ray: pip install 'curate[distributed]'")
pytest.importorskip("ray.data", reason="needs Ray Data: pip install 'curate[distributed]'")
if not sys.platform.startswith("linux"):
    pytest.skip("stops the cluster's processes through /proc (Linux only)", allow_module_level=True)

from tests.test_ray_engine import _same  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "sample_data" / "corpus"
INPUTS = ("web-000.jsonl.gz", "web-001.jsonl.zst")  # 2,456 documents, two formats
# The strict recipe without the quality classifier (which `curate run` would train on each
# store separately): language, Gopher, C4 lorem ipsum, common lines, exact and near dedup.
RECIPE = """\
name: cluster-check
filters:
  lang: {allow: [en]}
  lang_score: {min: 0.65}
  mojibake_count: default
  gopher_word_count: default
  gopher_mean_word_len: default
  gopher_alpha_word_frac: default
  gopher_stop_word_count: default
  gopher_dup_line_frac: default
  gopher_top_2gram_char_frac: default
  c4_lorem_ipsum_count: default
  common_line_char_frac: {max: 0.3}
dedup: {exact: true, near_threshold: 0.7}
"""
# curate's functions that Ray Data runs on the workers (curate/engines/ray_data.py)
STAGE_FUNCTIONS = ("_score_shard", "_signature_batch", "_band_batch", "_with_part", "_pairs_of_part",
                   "_estimate_batch", "_exact_batch")
RAY_START_TIMEOUT_S = 120
PROBE_TIMEOUT_S = 90
RUN_TIMEOUT_S = 480

# Connects to the cluster, waits until `want` nodes are alive, prints {node_id: CPUs} of the alive ones.
PROBE = """\
import json, sys, time
import ray
ray.init(address=sys.argv[1], include_dashboard=False, logging_level="ERROR", log_to_driver=False)
want, deadline = int(sys.argv[2]), time.monotonic() + 60
while True:
    alive = {n["NodeID"]: n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]}
    if len(alive) >= want or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps(alive))
"""


def _ray_env(token_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path), RAY_USAGE_STATS_ENABLED="0")
    return env


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) of every process, from /proc."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            out[int(d.name)] = (int(fields[1]), int(fields[2]))
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cluster_pids(pgids: set[int], temp_root: Path) -> set[int]:
    """The processes this test's `ray start`s left running: those in their process groups whose
    command line names this test's temp dirs (GCS, raylets, monitors), and all their
    descendants (the raylets' workers and actors put themselves in groups of their own)."""
    table = _proc_table()
    pids = {p for p, (_, g) in table.items() if g in pgids and str(temp_root) in _cmdline(p)}
    grew = True
    while grew:
        more = {p for p, (pp, _) in table.items() if pp in pids} - pids
        pids |= more
        grew = bool(more)
    return pids


def _stop_cluster(pgids: set[int], temp_root: Path) -> None:
    pids = _cluster_pids(pgids, temp_root)
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pids = {p for p in pids if _running(p)}
            if not pids:
                return
            time.sleep(0.2)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie waits for its parent; a killed one's parent is init)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return not stat[stat.rindex(")") + 2:].startswith("Z")


def _ray_start(args: list[str], env: dict[str, str], pgids: set[int]) -> None:
    # A session of its own: the daemons `ray start` leaves behind stay in this process group.
    proc = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", *args, "--disable-usage-stats"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    pgids.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=RAY_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"ray start {' '.join(args)} took over {RAY_START_TIMEOUT_S} s:\n{out[-3000:]}")
    assert proc.returncode == 0, f"ray start {' '.join(args)} failed:\n{out[-3000:]}"


def _probe(address: str, want: int, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", PROBE, address, str(want)], env=env, capture_output=True,
                          text=True, timeout=PROBE_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _curate(args: list[str], env: dict[str, str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curate.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"curate {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-4000:]}"
    return proc, time.perf_counter() - t0


def _node_id(temp_dir: Path) -> str:
    text = "".join(p.read_text(errors="replace") for p in temp_dir.glob("session_*/logs/raylet.out"))
    ids = set(re.findall(r"Setting node ID node_id=([0-9a-f]+)", text))
    assert len(ids) == 1, f"no single node id in the raylet log under {temp_dir}: {ids}"
    return ids.pop()


def _stages_run(temp_dir: Path) -> dict[str, int]:
    """How many tasks/actors of each curate stage function started on the node whose
    --temp-dir is `temp_dir` (Ray's `:task_name:` / `:actor_name:` lines in its worker logs;
    the logs of exited workers are moved to logs/old/)."""
    seen: dict[str, int] = {}
    for log in temp_dir.glob("session_*/logs/**/worker-*.out"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith((":task_name:", ":actor_name:")):
                for fn in STAGE_FUNCTIONS:
                    if re.search(rf"\b{fn}\b", line):
                        seen[fn] = seen.get(fn, 0) + 1
    return seen


def test_two_node_cluster_run_matches_the_local_engine(tmp_path):
    # Ray's unix sockets live under --temp-dir and must stay under ~107 bytes: a short root.
    temp_root = Path(tempfile.mkdtemp(prefix="curate-ray-"))
    head_tmp, worker_tmp = temp_root / "head", temp_root / "worker"
    token = temp_root / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = _ray_env(token)
    shared = tmp_path / "shared-work"  # the --work-dir both nodes (and the driver) see
    shared.mkdir()
    ray_in, local_in = tmp_path / "in-ray", tmp_path / "in-local"
    for d in (ray_in, local_in):
        d.mkdir()
        for name in INPUTS:
            shutil.copyfile(CORPUS / name, d / name)
    recipe = tmp_path / "cluster-check.yaml"
    recipe.write_text(RECIPE)
    ray_db, local_db = tmp_path / "ray.duckdb", tmp_path / "local.duckdb"
    common = [str(recipe), "--no-validate", "--quiet"]

    pgids: set[int] = set()
    t0 = time.perf_counter()
    try:
        store_mem = str(300 * 1024 * 1024)  # small object stores: the sample needs little
        _ray_start(["--head", "--port=0", "--num-cpus=1", f"--temp-dir={head_tmp}", "--include-dashboard=false",
                    f"--object-store-memory={store_mem}"], env, pgids)
        address = (head_tmp / "ray_current_cluster").read_text().strip()
        _ray_start([f"--address={address}", "--num-cpus=1", f"--temp-dir={worker_tmp}",
                    f"--object-store-memory={store_mem}"], env, pgids)
        before = _probe(address, 2, env)
        assert len(before) == 2 and all(cpus == 1 for cpus in before.values()), before
        assert set(before) == {_node_id(head_tmp), _node_id(worker_tmp)}
        started = time.perf_counter() - t0

        ray_run, ray_s = _curate(["run", *common, "--engine", "ray", "--address", address, "--work-dir", str(shared),
                                  "--db", str(ray_db), *[a for n in INPUTS for a in ("-i", str(ray_in / n))]],
                                 env, RUN_TIMEOUT_S)
        after = _probe(address, 2, env)
        # The same two nodes alive after the run as before it: neither died during it.
        assert after == before
        stages = {"head": _stages_run(head_tmp), "worker": _stages_run(worker_tmp)}
        print(f"\ncluster started in {started:.1f} s; curate run --engine ray took {ray_s:.1f} s; "
              f"stage tasks/actors started per node: {stages}")
        for node, seen in stages.items():
            assert seen, f"the {node} node ran none of curate's stages: {stages}"
        # the score stage and the dedup stage both ran on the cluster
        assert "_score_shard" in stages["head"].keys() | stages["worker"].keys()
        assert "_signature_batch" in stages["head"].keys() | stages["worker"].keys()
        assert not any(shared.iterdir()), "each stage deletes its folder in --work-dir"
    finally:
        _stop_cluster(pgids, temp_root)
        shutil.rmtree(temp_root, ignore_errors=True)
    assert not {p for p in _cluster_pids(pgids, temp_root) if _running(p)}, "the cluster outlived its test"

    local_run, local_s = _curate(["run", *common, "--engine", "local", "--workers", "2", "--db", str(local_db),
                                  *[a for n in INPUTS for a in ("-i", str(local_in / n))]], env, RUN_TIMEOUT_S)
    print(f"curate run --engine local took {local_s:.1f} s")

    stores = (local_db, ray_db, None)
    sig = _same(stores, "SELECT * FROM signals ORDER BY doc_id")
    assert sig.height == 2456
    _same(stores, "SELECT doc_id, has_sig, signature, run_id FROM minhash ORDER BY doc_id")
    _same(stores, "SELECT * FROM lsh_bands ORDER BY setting, band, doc_id")
    _same(stores, "SELECT * FROM dup_pairs ORDER BY a, b")
    _same(stores, "SELECT * FROM dup_clusters ORDER BY threshold, doc_id")
    slices = _same(stores, "SELECT slice_id, name, n_documents, n_kept, n_dropped, kept_bytes, signals_version "
                           "FROM slices ORDER BY slice_id")
    assert slices.height == 1
    decisions = _same(stores, "SELECT slice_id, doc_id, kept, reason FROM decisions ORDER BY slice_id, doc_id")
    assert decisions.height == 2456 and 0 < decisions["kept"].sum() < 2456
    reasons = set(decisions["reason"].drop_nulls().to_list())
    assert {"exact_duplicate", "near_duplicate"} <= reasons  # dedup decided something in both


# A Ray of one CPU: the score stage's actor must not hold the only CPU. Ray Data lists the
# input files and writes the output in tasks of their own, so before the fix an actor asking
# for that CPU starved them and `curate score --engine ray` hung forever on a one-core machine
# or a one-CPU node. Run in a subprocess: a Ray of its own, whatever this process has started.
ONE_CPU = """\
import json, shutil, sys
from pathlib import Path
import ray
from curate import pipeline, store
from curate.dedup import lsh, minhash
from curate.engines import LocalEngine
from curate.engines.ray_data import dedup_ray, score_ray
from curate.engines.ray_session import RayOptions
d = Path(sys.argv[1])
local, dist = d / "local.duckdb", d / "ray.duckdb"
pipeline.ingest(local, [sys.argv[2]])
shutil.copyfile(local, dist)
spec = minhash.SignatureSpec()
with store.open_store(local) as con:
    LocalEngine(1).score(con, local)
    want = lsh.dedup(con, 0.8, spec, 1)
ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
with store.open_store(dist) as con:
    scored = score_ray(con, dist, opts=RayOptions()).scored
    got = dedup_ray(con, 0.8, spec, 1, db=dist, opts=RayOptions())
print(json.dumps({"scored": scored, "same": got == want, "pairs": got.candidate_pairs}))
"""


def test_one_cpu_ray_does_not_hang(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        proc = subprocess.run([sys.executable, "-c", ONE_CPU, str(tmp_path), str(CORPUS / INPUTS[0])], env=env,
                              capture_output=True, text=True, timeout=240, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"score/dedup on a one-CPU Ray did not finish in {exc.timeout} s (the actor starving the reads?)")
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["scored"] == 1414 and out["same"] and out["pairs"] > 0, out
