"""Where scoring's time goes: every stage of `score_texts`, one core, against one str.split() pass.

    python bench/profile_signals.py                          # the multilingual sample (all formats)
    python sample_data/build.py --docs 20000 --out /tmp/prof18/corpus   # a bigger corpus, then
    python bench/profile_signals.py --corpus /tmp/prof18/corpus/corpus [--docs N] [--profile]

The texts are read with curate's own ingest readers (every file of the corpus folder: JSONL,
zstd JSONL, Parquet, CSV, text pages), so they are the texts `curate score` would score. They
are scored in batches of the local engine's size (`--batch`, default SCORE_BATCH), as
`curate score` scores them, in one process pinned to one core with one thread
(POLARS_MAX_THREADS, OMP/MKL/OpenBLAS threads = 1; fastText's predict is single-threaded).

Each timing is the best of `--reps` repetitions (default 3, in round robin) over all the texts,
in CPU seconds of the process (time.process_time: on a shared machine it leaves out the time the
scheduler gives other jobs; the wall times of the reference and of the whole are printed too):

- `str.split()`: one `text.split()` per text, the reference every row is divided by;
- `score_texts` whole, as the engine calls it;
- its parts, in the order score_texts runs them: language ID (fastText input preparation and
  the predict calls, timed separately), `Batch(...)` itself, each of the Batch's cached units
  (text_nl, char_count, index, tokens, words, lines, paragraphs: built explicitly first, so the
  shared tokenization is charged to the units, not to the first family that touches them),
  each family's compute function on that prebuilt Batch, and the final concat + cast.

The parts are timed in a separate pass from the whole, so "sum of parts / whole" says how well
the decomposition accounts for the real call. `--profile` adds cProfile's top functions of
`score_texts` (by cumulative and by own time) and its time by source line of curate/signals
(cProfile puts every polars query under one `collect`; the line table names the query).
"""
from __future__ import annotations

import os

for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"  # before polars/numpy are imported: their pools are sized at import

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.engines.local import SCORE_BATCH  # noqa: E402
from curate.ingest import expand_inputs, read_records  # noqa: E402
from curate.signals import REGISTRY, langid, polars_schema, score_texts  # noqa: E402
from curate.signals.batch import Batch  # noqa: E402

DEFAULT_CORPUS = ROOT / "sample_data" / "corpus"
# The Batch's cached units, in dependency order (words reads tokens; lines/paragraphs text_nl).
UNITS = ("text_nl", "char_count", "index", "char_classes", "tokens", "words", "lines", "paragraphs")


def load_texts(corpus: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """Texts of every readable record under `corpus` (a folder, a file or a glob), in file order."""
    texts: list[str] = []
    used: dict[str, list[int]] = {}  # file, or folder of .txt pages -> [files, texts]
    for path in expand_inputs([str(corpus)]):
        n = 0
        for rec in read_records(path):
            if rec.error_kind is None and rec.text is not None:
                texts.append(rec.text)
                n += 1
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        key = f"{shown.parent}/*.txt" if path.suffix == ".txt" else str(shown)
        used.setdefault(key, [0, 0])
        used[key][0] += 1
        used[key][1] += n
    if limit is not None:
        if limit > len(texts):
            texts = (texts * (limit // max(len(texts), 1) + 1))
        texts = texts[:limit]
    return texts, [f"{k} ({f} files, {n} texts)" if f > 1 else f"{k} ({n} texts)" for k, (f, n) in used.items()]


def chunks(texts: list[str], size: int) -> list[list[str]]:
    size = size or len(texts)
    return [texts[i : i + size] for i in range(0, len(texts), size)]


# CPU time of this process (one thread does all the work): on a shared machine it leaves out
# the time the scheduler gives other jobs, which wall time counts. Wall time is printed beside it.
clock = time.process_time


def best(fn: Callable[[], object], reps: int, walls: list[float] | None = None) -> float:
    out = []
    for _ in range(reps):
        gc.collect()
        w0, t0 = time.perf_counter(), clock()
        fn()
        out.append(clock() - t0)
        if walls is not None:
            walls.append(time.perf_counter() - w0)
    return min(out)


def split_pass(texts: list[str]) -> None:
    for t in texts:
        t.split()


def whole_pass(batches: list[list[str]], quality_model) -> None:
    for texts in batches:
        score_texts(texts, quality_model=quality_model)


def parts_pass(batches: list[list[str]], quality_model) -> dict[str, float]:
    """One pass over all batches, score_texts taken apart; seconds per stage, summed over batches."""
    tick = clock
    acc: dict[str, float] = {}

    def add(key: str, t0: float) -> float:
        now = tick()
        acc[key] = acc.get(key, 0.0) + now - t0
        return now

    model = langid.load_model()
    schema = polars_schema()
    for texts in batches:
        t = tick()
        # langid.predict_languages, in its two halves (the same calls it makes).
        clean = langid.fasttext_input(texts)
        t = add("langid: input prep (polars slice + \\s+ replace)", t)
        langs = [langid.UNDETERMINED] * len(texts)
        scores = np.zeros(len(texts))
        rows = [i for i, x in enumerate(clean) if x.strip()]
        for i, pred in zip(rows, langid.fasttext_predict(model, [clean[i] for i in rows], k=1)):
            if pred:
                scores[i], label = pred[0]
                langs[i] = label.removeprefix("__label__")
        scores = np.clip(scores, 0.0, 1.0)
        t = add("langid: fastText predict (one call per text)", t)
        b = Batch(texts, langs, detected=(langs, scores), quality_model=quality_model)
        t = add("Batch(): text Series + languages", t)
        for unit in UNITS:
            getattr(b, unit)
            t = add(f"Batch.{unit}", t)
        frames = []
        for family in REGISTRY.families:
            frames.append(family.compute(b))
            t = add(f"family {family.name}", t)
        pl.concat(frames, how="horizontal").cast(schema)
        add("concat + cast", t)
    return acc


def profile_text(fn: Callable[[], object], sort: str, top: int) -> str:
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    buf = io.StringIO()
    stats = pstats.Stats(pr, stream=buf)
    stats.sort_stats(sort).print_stats(top)
    lines = buf.getvalue().splitlines()
    # Drop pstats' preamble up to the column header; shorten absolute paths.
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(ln.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
                     for ln in lines[start:] if ln.strip())


def by_source_line(fn: Callable[[], object]) -> tuple[dict[tuple[str, int, str], float], float]:
    """Seconds charged to each source line of curate/signals/ (file, line, function).

    A profile hook (call/return events, C calls included) charges the time since the last
    event to the innermost curate/signals frame's current line, so a line that runs one polars
    query, a numpy pass or a fastText call gets that call's whole time: cProfile, by contrast,
    puts every polars query under one `PyLazyFrame.collect`. The hook's own cost is left out
    of the charges, but a line of many small Python calls (a generator resumes with a call event
    each time) is inflated several times over: read those lines against cProfile's own time.
    Wall-clock seconds: process_time would cost a system call per event.
    """
    prefix = str(ROOT / "curate" / "signals")
    acc: dict[tuple[str, int, str], float] = {}
    tick = time.perf_counter  # not process_time: a system call per event would swamp small calls
    state: list = [tick(), None]
    ours: dict[object, bool] = {}

    def hook(frame, event, arg) -> None:
        now = tick()
        if state[1] is not None:
            acc[state[1]] = acc.get(state[1], 0.0) + now - state[0]
        f = frame
        while f is not None:
            code = f.f_code
            mine = ours.get(code)
            if mine is None:
                mine = ours[code] = code.co_filename.startswith(prefix)
            if mine:
                break
            f = f.f_back
        state[1] = (f.f_code.co_filename, f.f_lineno, f.f_code.co_name) if f is not None else None
        state[0] = tick()

    t0 = tick()
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return acc, tick() - t0


def print_lines(acc: dict[tuple[str, int, str], float], wall: float, top: int) -> None:
    import linecache

    print("| wall s | share | where | source line |")
    print("|---:|---:|---|---|")
    for (path, line, func), secs in sorted(acc.items(), key=lambda kv: -kv[1])[:top]:
        src = linecache.getline(path, line).strip().replace("|", "\\|")
        src = src if len(src) <= 90 else src[:87] + "..."
        where = f"{Path(path).relative_to(ROOT)}:{line} {func}"
        print(f"| {secs:.3f} | {secs / wall:.1%} | {where} | `{src}` |")


def regex_passes() -> list[tuple[str, str, str]]:
    """(where, what, pattern) of the document-level regex passes, as the modules define them;
    shape.py writes its patterns inline, copied here as they stand."""
    from curate.signals import encoding, pii, text

    return [
        ("batch.tokens", "extract_all TOKEN_RE", text.TOKEN_RE),
        ("shape", r"\p{L}", r"\p{L}"), ("shape", r"\p{Nd}", r"\p{Nd}"), ("shape", r"\p{Lu}", r"\p{Lu}"),
        ("shape", r"\s", r"\s"), ("shape", r"\p{P}", r"\p{P}"), ("shape", r"[^\x00-\x7F]", r"[^\x00-\x7F]"),
        ("gopher_quality", "CJK_CHAR", text.CJK_CHAR),
        ("gopher_quality", r"\S+ (the family runs it with CJK removed)", r"\S+"),
        ("gopher_quality", r"\S*\p{L}\S*", r"\S*\p{L}\S*"),
        ("gopher_quality", "ellipses", r"\.\.\.+|…+"),
        ("encoding", "ftfy BADNESS", encoding.BADNESS_PATTERN),
        ("encoding", "control chars", encoding._CONTROL),
        ("pii", "EMAIL_RE", pii.EMAIL_RE), ("pii", "PHONE_RE", pii.PHONE_RE),
        ("pii", "IP_RE", pii.IP_RE), ("pii", "CARD_RE", pii.CARD_RE),
        ("pii", "IP_RE, its IPv6 alternatives", pii._IPV6),
        ("pii", "IP_RE, its IPv4 with the optional version-word prefix", pii._VERSION_WORD + r"\b" + pii._IPV4 + r"\b"),
        ("pii", "IPv4 alone (no prefix)", r"\b" + pii._IPV4 + r"\b"),
        ("gopher_quality", "literal '#' (the cheapest pass)", "#"),
    ]


def print_regex_passes(texts: list[str], reps: int, t_split: float) -> None:
    series = pl.Series("t", texts)
    print("| family | pattern | CPU s | x str.split |")
    print("|---|---|---:|---:|")
    for where, what, pattern in regex_passes():
        if what.startswith("extract_all"):
            secs = best(lambda p=pattern: series.str.extract_all(p), reps)
        else:
            secs = best(lambda p=pattern: series.str.count_matches(p), reps)
        print(f"| {where} | `{what}` | {secs:.3f} | {secs / t_split:,.1f} |")


def print_fasttext_lengths(texts: list[str], reps: int, t_split: float) -> None:
    """fastText's predict time against the input length it is given (today MAX_CHARS), and how
    often the language it finds agrees with today's; a one-word input gives the per-call floor."""
    from curate.signals.text import to_series

    model = langid.load_model()

    def prepared(n: int) -> list[str]:
        out = to_series(texts).str.slice(0, n).str.replace_all(r"\s+", " ").to_list()
        return [x for x in out if x.strip()]

    def labels(lines: list[str]) -> list[str]:
        return [p[0][1] if p else "" for p in langid.fasttext_predict(model, lines, k=1)]

    today = labels(prepared(langid.MAX_CHARS))
    print("| input given to fastText | chars | CPU s | x str.split | same language as today |")
    print("|---|---:|---:|---:|---:|")
    for n in (langid.MAX_CHARS, 2000, 1000, 500):
        lines = prepared(n)
        secs = best(lambda lines=lines: labels(lines), reps)
        same = sum(a == b for a, b in zip(labels(lines), today)) / max(len(today), 1)
        tag = " (today: MAX_CHARS)" if n == langid.MAX_CHARS else ""
        print(f"| first {n} characters{tag} | {sum(map(len, lines)):,} | {secs:.3f} | "
              f"{secs / t_split:,.1f} | {same:.2%} |")
    one = ["word"] * len(today)
    secs = best(lambda: labels(one), reps)
    print(f"| one word per text (the per-call floor) | {4 * len(one):,} | {secs:.3f} | {secs / t_split:,.1f} | - |")


def machine() -> str:
    model = "unknown CPU"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{model}; {os.cpu_count()} cores visible, pinned to core {sorted(os.sched_getaffinity(0))}; "
            f"load average {load}; Python {platform.python_version()}, polars {pl.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="a corpus folder, file or glob (default: the multilingual sample, every format)")
    ap.add_argument("--docs", type=int, default=None, help="first N texts (repeated if the corpus has fewer)")
    ap.add_argument("--batch", type=int, default=SCORE_BATCH,
                    help=f"texts per score_texts call (default {SCORE_BATCH}, the local engine's; 0 = one call)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the first allowed one)")
    ap.add_argument("--quality-model", type=Path, default=None,
                    help="a trained quality model (curate's .bin), so the quality family does real work")
    ap.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None, help="write the timings here too")
    args = ap.parse_args()

    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    texts, files = load_texts(args.corpus, args.docs)
    if not texts:
        raise SystemExit(f"no texts under {args.corpus}")
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    batches = chunks(texts, args.batch)
    qm = None
    if args.quality_model is not None:
        from curate.signals.quality import load_quality_model

        qm = load_quality_model(args.quality_model)

    # Warm-up outside every timing: the fastText model load and polars' first calls.
    score_texts(texts[:50], quality_model=qm)

    # Round robin (split, whole, parts) per repetition, so that the three see the same load.
    splits, wholes, runs, split_walls, whole_walls = [], [], [], [], []
    for _ in range(args.reps):
        splits.append(best(lambda: split_pass(texts), 1, split_walls))
        wholes.append(best(lambda: whole_pass(batches, qm), 1, whole_walls))
        gc.collect()
        runs.append(parts_pass(batches, qm))
    t_split, t_whole = min(splits), min(wholes)
    stages = list(runs[0])
    t_parts = {k: min(r[k] for r in runs) for k in stages}
    sum_best = sum(t_parts.values())
    sum_per_run = [sum(r.values()) for r in runs]

    print(f"corpus: {args.corpus} -> {len(texts):,} texts, {mb:.1f} MB (UTF-8), "
          f"{len(batches)} score_texts call(s) of <= {args.batch or len(texts)} texts")
    print("files: " + "; ".join(files))
    print(f"machine: {machine()}")
    print(f"best of {args.reps}, CPU seconds of this process; quality model: "
          f"{args.quality_model or 'none (quality is null)'}\n")
    print("| stage | CPU s | MB/s per core | share of score_texts | x str.split |")
    print("|---|---:|---:|---:|---:|")

    def row(name: str, secs: float, bold: bool = False) -> None:
        cells = [name, f"{secs:.3f}", f"{mb / secs:,.1f}" if secs > 0 else "-",
                 f"{secs / t_whole:.1%}", f"{secs / t_split:,.1f}"]
        if bold:
            cells = [f"**{c}**" for c in cells]
        print("| " + " | ".join(cells) + " |")

    row("str.split() pass (reference)", t_split)
    row("score_texts, whole", t_whole, bold=True)
    for k in stages:
        row(k, t_parts[k])
    row("sum of the parts (best of each)", sum_best)
    row("sum of the parts (best pass)", min(sum_per_run))
    groups = {
        "language ID (both halves)": [k for k in stages if k.startswith("langid")],
        "Batch units (tokenization, lines, paragraphs)": [k for k in stages if k.startswith("Batch")],
        "families' own work": [k for k in stages if k.startswith("family")],
    }
    print("\n| group | CPU s | share of score_texts | x str.split |")
    print("|---|---:|---:|---:|")
    for name, keys in groups.items():
        s = sum(t_parts[k] for k in keys)
        print(f"| {name} | {s:.3f} | {s / t_whole:.1%} | {s / t_split:,.1f} |")
    print(f"\nsum of parts: best-of-each {sum_best:.3f} s = {sum_best / t_whole:.1%} of the whole; "
          f"per repetition (CPU s): split {', '.join(f'{s:.3f}' for s in splits)}; "
          f"whole {', '.join(f'{s:.3f}' for s in wholes)}; parts {', '.join(f'{s:.3f}' for s in sum_per_run)}")
    print(f"wall s per repetition: split {', '.join(f'{s:.3f}' for s in split_walls)}; "
          f"whole {', '.join(f'{s:.3f}' for s in whole_walls)} "
          f"(whole / split on wall time, best of each: {min(whole_walls) / min(split_walls):.1f}x)")

    if args.json:
        args.json.write_text(json.dumps({
            "corpus": str(args.corpus), "docs": len(texts), "mb": mb, "batch": args.batch,
            "reps": args.reps, "machine": machine(), "split_s": t_split, "whole_s": t_whole,
            "split_per_run_s": splits, "whole_per_run_s": wholes, "clock": "process_time",
            "split_wall_s": split_walls, "whole_wall_s": whole_walls,
            "parts_s": t_parts, "parts_per_run_s": runs,
        }, indent=2))

    if args.profile:
        print(f"\n### cProfile of score_texts over all {len(texts):,} texts: top {args.top} by cumulative time\n")
        print("```\n" + profile_text(lambda: whole_pass(batches, qm), "cumulative", args.top) + "\n```")
        print(f"\n### cProfile of score_texts: top {args.top} by own time\n")
        print("```\n" + profile_text(lambda: whole_pass(batches, qm), "tottime", args.top) + "\n```")
        print(f"\n### score_texts by source line of curate/signals (profile hook), top {args.top}\n")
        acc, wall = by_source_line(lambda: whole_pass(batches, qm))
        print(f"traced wall time {wall:.3f} s; charged to curate/signals lines: {sum(acc.values()):.3f} s\n")
        print_lines(acc, wall, args.top)
        by_module: dict[str, float] = {}
        for (path, _, _), secs in acc.items():
            by_module[path] = by_module.get(path, 0.0) + secs
        for path in sorted(by_module, key=by_module.get, reverse=True)[:5]:
            print(f"\n{Path(path).relative_to(ROOT)}: {by_module[path]:.3f} s in all; its top lines\n")
            print_lines({k: v for k, v in acc.items() if k[0] == path}, wall, 6)
        print(f"\n### single regex passes over all {len(texts):,} texts (one Series, no batches), "
              f"best of {args.reps}\n")
        print_regex_passes(texts, args.reps, t_split)
        print(f"\n### fastText predict against input length, best of {args.reps}\n")
        print_fasttext_lengths(texts, args.reps, t_split)

if __name__ == "__main__":
    main()
