"""End to end: `curate run strict` on a generated corpus, against datatrove's closest pipeline.

    .venv/bin/python bench/bench_pipeline.py --docs 100000 300000 [--work-dir DIR]
        [--datatrove-docs N] [--skip-datatrove] [--keep]

For each --docs N: sample_data/build.py --docs N writes the corpus under --work-dir (a
temporary folder by default, never inside the repository; a corpus already there with the
same size and seed is reused, its build is not timed). Then, in the same run:

- curate: `curate run strict --input CORPUS --out EXPORT` on a fresh store, every stage
  (ingest, score, quality, dedup, slice, validate, export) in the one process the command
  starts; the stages are told apart by its `stage: ...` lines on stderr. A sampler reads the
  resident memory of that process and of every process below it (the scoring pool) from
  /proc every 0.2 s: "peak RSS" is the largest sum over the tree seen during a stage (shared
  pages of forked workers count once per process, so it over-states), "largest process" the
  largest single one, "CPU s" the user + system seconds of the tree during the stage (on a
  machine shared with other jobs the steadier figure).
- datatrove 0.10.1 (extra [bench]): its readers (JSONL for the two web files, Parquet, CSV)
  -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter (no terminal-punctuation
  rule, as FineWeb runs it) -> FineWebQualityFilter -> JsonlWriter, then MinHash stages 1-4
  (signatures, buckets, clusters, filter + JsonlWriter) with its default MinhashConfig (5-gram
  shingles, 14 buckets x 8 hashes), each stage a LocalPipelineExecutor over all cores (fork),
  in its own child process under the same sampler. It has no language ID here (its
  LanguageFilter downloads a model) and no classifier, validation or store: curate does more.
  The 150 .txt pages and broken.jsonl (a few dozen records) are curate's only; datatrove
  reads the other files. With --datatrove-docs K < N, datatrove runs on the corpus built with
  --docs K (same generator and seed) and the ratio compares documents per second.

Prints one markdown table per size and writes every figure to WORK_DIR/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY_S = 0.2


@dataclass
class Stage:
    name: str
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0  # largest sum over the process tree
    largest_process_mb: float = 0.0
    cpu_s: float = 0.0  # user + system seconds of the tree (workers reaped count in their parent)


@dataclass
class Run:
    who: str
    docs: int
    rc: int = 0
    stages: list[Stage] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return sum(s.wall_s for s in self.stages)

    @property
    def peak_rss_mb(self) -> float:
        return max((s.peak_rss_mb for s in self.stages), default=0.0)

    @property
    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.stages)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        except (OSError, IndexError, ValueError):  # gone, or going, while it was read
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of one process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_s(root: int) -> float:
    kids, todo, total = _children(), [root], 0.0
    while todo:
        pid = todo.pop()
        total += _cpu_s(pid)
        todo.extend(kids.get(pid, ()))
    return total


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_rss_mb(root: int) -> tuple[float, float]:
    """(sum of the resident memory of `root` and every process below it, the largest one), MB."""
    kids, todo, sizes = _children(), [root], []
    while todo:
        pid = todo.pop()
        sizes.append(_rss_kb(pid))
        todo.extend(kids.get(pid, ()))
    return sum(sizes) / 1024, max(sizes, default=0) / 1024


class Sampler:
    """Tracks the current stage's wall time and the process tree's peak memory."""

    def __init__(self, pid: int, first: str):
        self.pid, self.stages, self._stop = pid, [Stage(first)], threading.Event()
        self._t = time.perf_counter()
        self._cpu = self._first_cpu = tree_cpu_s(pid)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            total, largest = tree_rss_mb(self.pid)
            with self._lock:
                cur = self.stages[-1]
                cur.peak_rss_mb = max(cur.peak_rss_mb, total)
                cur.largest_process_mb = max(cur.largest_process_mb, largest)

    def next_stage(self, name: str) -> None:
        with self._lock:
            now = time.perf_counter()
            cpu = tree_cpu_s(self.pid)
            done = self.stages[-1]
            done.wall_s, self._t = now - self._t, now
            done.cpu_s, self._cpu = cpu - self._cpu, cpu
            self.stages.append(Stage(name))
        print(f"  {done.name}: {done.wall_s:.1f} s, {done.cpu_s:.1f} CPU s, peak RSS {done.peak_rss_mb:,.0f} MB",
              file=sys.stderr, flush=True)

    def stop(self, total_cpu_s: float | None = None) -> list[Stage]:
        """After the process has been waited for: `total_cpu_s`, its whole CPU time (from
        wait4), gives the last stage the part not counted yet."""
        self._stop.set()
        self._thread.join()
        last = self.stages[-1]
        last.wall_s = time.perf_counter() - self._t
        if total_cpu_s is not None:
            last.cpu_s = max(0.0, total_cpu_s - sum(s.cpu_s for s in self.stages[:-1]) - self._first_cpu)
        return self.stages


def wait_cpu(proc: subprocess.Popen) -> tuple[int, float]:
    """(exit code, CPU seconds of the process and every process it waited for)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def build_corpus(n: int, work: Path, seed: int = 0) -> Path:
    out = work / f"corpus-{n}"
    stats = out / "stats.json"
    if stats.exists():
        s = json.loads(stats.read_text())
        if s.get("docs") == n and s.get("seed") == seed:
            return out
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "sample_data" / "build.py"), "--docs", str(n), "--seed", str(seed),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    print(f"built {out} ({n:,} documents) in {time.perf_counter() - t0:.0f} s (not timed below)", file=sys.stderr)
    return out


def run_curate(corpus: Path, work: Path, n: int) -> Run:
    folder = work / f"curate-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-m", "curate.cli", "run", "strict", "--db", str(folder / "store.duckdb"),
           "--input", str(corpus / "corpus"), "--out", str(folder / "export")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    sampler = Sampler(proc.pid, "start-up")
    tail: list[str] = []
    for line in proc.stderr:
        tail = (tail + [line])[-40:]
        if line.startswith("stage: "):  # "stage: quality (no model yet: ...)" is the quality stage
            name = line[len("stage: "):].split()[0].rstrip(":")
            if name != sampler.stages[-1].name:
                sampler.next_stage(name)
    rc, cpu = wait_cpu(proc)
    run = Run("curate", n, rc, sampler.stop(cpu))
    if rc not in (0, 4):  # 4: the slice failed its suite, every stage still ran
        raise SystemExit(f"curate run failed (exit {rc}):\n{''.join(tail)}")
    shutil.rmtree(folder, ignore_errors=True)
    return run


DATATROVE_STAGES = ("filters", "minhash 1 signatures", "minhash 2 buckets", "minhash 3 clusters",
                    "minhash 4 filter + write")


def datatrove_stage(stage: str, corpus: Path, folder: Path) -> None:
    """One stage of datatrove's pipeline, in this process (and its LocalPipelineExecutor's pool)."""
    os.environ["TQDM_DISABLE"] = "1"
    import xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import CSVReader, JsonlReader, ParquetReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove hands str to xxhash, which xxhash>=4 refuses: the same hash of the UTF-8 bytes
    dt_xxhash.xxhash64 = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8") if isinstance(s, str) else s)
    dt_xxhash.xxhash32 = lambda s: xxhash.xxh32_intdigest(s.encode("utf-8") if isinstance(s, str) else s)
    cores = os.cpu_count() or 1
    config = MinhashConfig()
    src = str(corpus / "corpus")
    filtered, sigs, buckets, remove, out = (str(folder / x) for x in ("filtered", "sigs", "buckets", "remove", "out"))
    if stage == "filters":
        pipeline = [JsonlReader(src, glob_pattern="web-*.jsonl.*"), ParquetReader(src, glob_pattern="*.parquet"),
                    CSVReader(src, glob_pattern="*.csv"),
                    GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
                    FineWebQualityFilter(), JsonlWriter(filtered)]
        tasks = cores
    elif stage == "minhash 1 signatures":
        pipeline, tasks = [JsonlReader(filtered), MinhashDedupSignature(output_folder=sigs, config=config)], cores
    elif stage == "minhash 2 buckets":
        pipeline = [MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config)]
        tasks = config.num_buckets
    elif stage == "minhash 3 clusters":
        pipeline, tasks = [MinhashDedupCluster(input_folder=buckets, output_folder=remove, config=config)], 1
    else:
        pipeline = [JsonlReader(filtered), MinhashDedupFilter(input_folder=remove), JsonlWriter(out)]
        tasks = cores
    LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(tasks, cores), start_method="fork",
                          logging_dir=str(folder / "logs" / stage.replace(" ", "_")), skip_completed=False).run()


def run_datatrove(corpus: Path, work: Path, n: int) -> Run:
    folder = work / f"datatrove-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stages = []
    for stage in DATATROVE_STAGES:
        cmd = [sys.executable, __file__, "--datatrove-stage", stage, "--corpus", str(corpus),
               "--dt-folder", str(folder)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sampler = Sampler(proc.pid, stage)
        err = proc.stderr.read()
        rc, cpu = wait_cpu(proc)
        stages += sampler.stop(cpu)
        if rc:
            raise SystemExit(f"datatrove stage {stage!r} failed (exit {rc}):\n{err[-3000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return Run("datatrove", n, 0, stages)


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, Python {platform.python_version()}, load average {load}"


def table(ours: Run, peer: Run | None) -> str:
    rows = ["| stage | wall s | CPU s | peak RSS MB (tree) | largest process MB |", "|---|---:|---:|---:|---:|"]
    for run in (ours, peer):
        if run is None:
            continue
        for s in run.stages:
            rows.append(f"| {run.who}: {s.name} | {s.wall_s:.1f} | {s.cpu_s:.1f} | {s.peak_rss_mb:,.0f} | "
                        f"{s.largest_process_mb:,.0f} |")
        rows.append(f"| **{run.who} total, {run.docs:,} docs** | **{run.wall_s:.1f}** | **{run.cpu_s:.1f}** | "
                    f"**{run.peak_rss_mb:,.0f}** | "
                    f"{max(s.largest_process_mb for s in run.stages):,.0f} |")
    if peer is not None:
        ratio = (peer.wall_s / peer.docs) / (ours.wall_s / ours.docs)
        cpu_ratio = (peer.cpu_s / peer.docs) / (ours.cpu_s / ours.docs)
        rows.append(f"\ndatatrove / curate, per document: {ratio:.2f}x wall seconds, {cpu_ratio:.2f}x CPU seconds")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000])
    ap.add_argument("--work-dir", type=Path, default=None, help="corpora and stores (default: a temporary folder)")
    ap.add_argument("--datatrove-docs", type=int, default=None,
                    help="run datatrove on a corpus of this many documents (default: the same corpus)")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--datatrove-stage", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dt-folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datatrove_stage:
        datatrove_stage(args.datatrove_stage, args.corpus, args.dt_folder)
        return
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    if ROOT in work.resolve().parents or work.resolve() == ROOT:
        ap.error(f"--work-dir {work} is inside the repository: the corpora are hundreds of MB")
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\n")
    results = []
    try:
        for n in args.docs:
            corpus = build_corpus(n, work)
            ours = run_curate(corpus, work, n)
            peer = None
            if not args.skip_datatrove:
                k = min(n, args.datatrove_docs or n)
                peer = run_datatrove(corpus if k == n else build_corpus(k, work), work, k)
            print(f"### {n:,} documents (curate exit code {ours.rc})\n\n{table(ours, peer)}\n", flush=True)
            results.append({"docs": n, "curate": asdict(ours), "datatrove": asdict(peer) if peer else None})
            (work / "results.json").write_text(json.dumps({"machine": machine(), "runs": results}, indent=1))
    finally:
        if args.work_dir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
