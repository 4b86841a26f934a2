"""Train one model per slice at an equal token budget and record what each slice did.

This is the bridge between the store and train/: it streams a slice's kept documents
into the trainer, evaluates the model (bits-per-byte on clean validation text, generation
quality, memorization) and writes `train_runs` and `generations`.
"""
from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate import store
from curate.comparison import BY_KEY, Run, judge, pick_baseline, unigram_bpb_of_ids
from curate.errors import UsageError
from curate.recipes import evaluate_frame, load_recipe, resolve_slice
from train.evaluate import generate_samples, generation_metrics, memorization_rate, split_document
from train.tokenizer import load_tokenizer
from train.trainer import TrainConfig, load_checkpoint, train

MEMO_TOKENS = 32  # Lee et al. 2022: verbatim continuation of >= 32 tokens counts as memorized


def slice_texts(con: duckdb.DuckDBPyConnection, slice_id: str) -> Callable[[], Iterator[str]]:
    """A re-iterable stream of the slice's kept texts, in a fixed order, fetched in batches."""

    def gen() -> Iterator[str]:
        cur = con.cursor()
        try:
            cur.execute(
                """SELECT d.text FROM decisions k JOIN documents d USING (doc_id)
                   WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""",
                [slice_id],
            )
            while True:
                rows = cur.fetchmany(1024)
                if not rows:
                    return
                for (t,) in rows:
                    yield t
        finally:
            cur.close()

    return gen


def _read_text_file(path: Path, label: str) -> tuple[bytes, Path]:
    """The bytes of a file given as `label` (an option name or a description), or a UsageError."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{label} {path}: no such file")
    if path.is_dir():
        raise UsageError(f"{label} {path}: is a folder, not a file")
    try:
        return path.read_bytes(), path
    except OSError as exc:
        raise UsageError(f"{label} {path}: cannot read it ({exc.strerror or exc})") from exc


def load_val_text(path: Path, label: str = "validation text") -> str:
    """The clean text bits-per-byte is measured on: UTF-8 text, not empty.

    A NUL byte or bytes that are not UTF-8 mean the file is not text (a checkpoint or an
    archive passed by mistake): its bits-per-byte would measure nothing, so it is refused
    rather than decoded with replacement characters.
    """
    data, path = _read_text_file(path, label)
    nul = data.find(b"\0")
    if nul >= 0:
        raise UsageError(f"{label} {path}: NUL byte at offset {nul}: a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{label} {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc
    if not text.strip():
        raise UsageError(f"{label} {path}: the validation text is empty")
    return text


def load_prompts(path: Path, label: str = "prompts") -> list[dict]:
    """One JSON object with a string `prompt` per line; blank lines are skipped, none is an error."""
    data, path = _read_text_file(path, label)
    prompts = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{label} {path} line {n}: not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc
        if line.strip():
            try:
                p = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{label} {path} line {n}: not JSON: {exc}") from exc
            if not isinstance(p, dict) or not isinstance(p.get("prompt"), str):
                raise UsageError(f"{label} {path} line {n}: expected an object with a string `prompt`")
            prompts.append(p)
    if not prompts:
        raise UsageError(f"{label} {path}: no prompts (one JSON object with a string `prompt` per line)")
    return prompts


# A sample of 64 tokens cannot pass rules about a whole document's length, and its language
# follows its prompt's: the junk rate asks only whether the text itself is junk.
JUNK_SKIP_FAMILIES = ("quality", "language")
JUNK_SKIP_SIGNALS = ("gopher_word_count", "c4_sentence_count")


def junk_flags(texts: list[str]) -> list[bool]:
    """Would the `strict` recipe's content filters drop this text?

    Quality is its own metric; language and document-length rules are left out (see above).
    """
    from curate.signals import score_texts

    if not texts:
        return []
    frame = score_texts(texts)
    reasons = evaluate_frame(load_recipe("strict"), frame.to_arrow(),
                             skip_families=JUNK_SKIP_FAMILIES, skip_signals=JUNK_SKIP_SIGNALS)
    return [r is not None for r in reasons]


def memorization_probes(con: duckdb.DuckDBPyConnection, prompts: list[dict], tokenizer) -> list[tuple[str, str]]:
    """(prompt, true continuation) for prompts taken from duplicated training documents."""
    probes = []
    for p in prompts:
        if p.get("kind") != "dup" or not p.get("doc_id"):
            continue
        row = con.execute(
            "SELECT text FROM documents WHERE external_id = ? ORDER BY doc_id LIMIT 1", [str(p["doc_id"])]
        ).fetchone()
        if row is None:
            continue
        prompt, cont = split_document(row[0], tokenizer, prompt_tokens=MEMO_TOKENS)
        if len(tokenizer.encode(cont)) >= MEMO_TOKENS:
            probes.append((prompt, cont))
    return probes


@dataclass(frozen=True)
class TrainPlan:
    tokens: int
    seeds: tuple[int, ...] = (0,)
    preset: str = "small"
    device: str = "auto"
    compile: bool = False
    batch_size: int = 16
    max_new_tokens: int = 64


def check_plan(plan: TrainPlan) -> None:
    """Refuse a plan that cannot train, before anything is read or written (names the CLI options)."""
    from train.model import PRESETS
    from train.trainer import pick_device

    if plan.preset not in PRESETS:
        raise UsageError(f"--preset {plan.preset!r}: unknown model size; known: {', '.join(sorted(PRESETS))}")
    if not plan.seeds:
        raise UsageError("--seeds: at least one seed is needed")
    if plan.batch_size < 1:
        raise UsageError(f"--batch-size {plan.batch_size}: must be at least 1")
    block = PRESETS[plan.preset]["block_size"]
    one_batch = plan.batch_size * block
    if plan.tokens < one_batch:
        raise UsageError(
            f"--tokens {plan.tokens:,} is below one batch of the {plan.preset} preset "
            f"(--batch-size {plan.batch_size} x {block} tokens = {one_batch:,} tokens)"
        )
    try:
        pick_device(plan.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device {plan.device}: {exc}") from exc


def train_slices(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    slices: list[str],
    plan: TrainPlan,
    *,
    val_text_path: Path,
    prompts_path: Path | None,
    quality_model=None,
    on_log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train every (slice, seed) with the same budget; returns one summary row per run."""
    say = on_log or (lambda m: None)
    check_plan(plan)
    val_text = load_val_text(val_text_path)
    prompts = load_prompts(prompts_path) if prompts_path else []
    # every slice is resolved before the first model trains: a typo in the last one costs nothing
    targets = []
    for name in slices:
        slice_id, slice_name = resolve_slice(con, name)
        n_kept = con.execute("SELECT n_kept FROM slices WHERE slice_id = ?", [slice_id]).fetchone()[0]
        if n_kept == 0:
            raise UsageError(f"slice {slice_id} keeps no documents: nothing to train on")
        targets.append((slice_id, slice_name, n_kept))
    tokenizer = load_tokenizer()
    # the best a unigram model of the validation text could do: below it a model has learned
    # nothing but token frequencies (curate/comparison.py judges "too small" by it)
    unigram_bpb = unigram_bpb_of_ids(tokenizer.encode(val_text), len(val_text.encode("utf-8")))
    probes = memorization_probes(con, prompts, tokenizer)
    gen_prompts = [p["prompt"] for p in prompts]
    quality_fn = quality_model.predict_proba if quality_model is not None else None
    ckpt_root = store.checkpoints_dir(db)
    rows = []
    for slice_id, slice_name, n_kept in targets:
        for seed in plan.seeds:
            cfg = TrainConfig(preset=plan.preset, token_budget=plan.tokens, seed=seed, device=plan.device,
                              compile=plan.compile, batch_size=plan.batch_size)
            run_id = f"{slice_id}-{plan.preset}-t{plan.tokens}-s{seed}"
            say(f"train {run_id}")
            res = train(slice_texts(con, slice_id), cfg, ckpt_root / run_id, tokenizer=tokenizer, val_text=val_text)
            ckpt = load_checkpoint(res.checkpoint, res.device.split(" ")[0], tokenizer=tokenizer.name)
            model = ckpt.model
            samples = generate_samples(model, tokenizer, gen_prompts, max_new_tokens=plan.max_new_tokens, seed=seed)
            flags = junk_flags(samples)
            metrics = generation_metrics(samples, quality_fn=quality_fn, junk_fn=lambda s, flags=flags: flags)
            metrics["memorization"] = (
                memorization_rate(model, tokenizer, probes, n_tokens=MEMO_TOKENS) if probes else None
            )
            metrics["memorization_probes"] = len(probes)
            metrics["epochs_over_data"] = res.epochs_over_data
            metrics["unigram_bpb"] = unigram_bpb
            q = quality_fn(samples) if quality_fn and samples else None
            with store.transaction(con):
                if prompts_path:
                    # no prompts: nothing replaces the run's earlier generations, so they stay
                    con.execute("DELETE FROM generations WHERE train_run_id = ?", [run_id])
                con.execute("DELETE FROM train_runs WHERE train_run_id = ?", [run_id])
                store.insert(con, "train_runs", {
                    "train_run_id": run_id, "slice_id": slice_id, "slice_name": slice_name, "seed": seed,
                    "config": json.dumps({**res.train_config, "model": res.model_config}),
                    "tokens": res.tokens_seen, "epochs": res.epochs_over_data, "bpb": res.val_bpb,
                    "val_text": str(val_text_path), "loss_curve": json.dumps(res.losses),
                    "tokens_per_s": res.tokens_per_s, "device": res.device, "wall_s": res.wall_s,
                    "n_params": res.n_params, "mfu": res.mfu, "metrics": json.dumps(metrics),
                    "checkpoint": str(res.checkpoint), "created_at": store.now()})
                for i, (p, s) in enumerate(zip(prompts, samples)):
                    store.insert(con, "generations", {
                        "train_run_id": run_id, "prompt_no": i, "kind": p.get("kind"), "prompt": p["prompt"],
                        "sample": s, "quality": None if q is None else float(q[i]), "junk": flags[i]})
            rows.append({"train_run_id": run_id, "slice": slice_name, "slice_id": slice_id, "seed": seed,
                         "documents": n_kept, "tokens": res.tokens_seen, "bpb": res.val_bpb, "n_params": res.n_params,
                         "tokens_per_s": res.tokens_per_s, "device": res.device, "mfu": res.mfu, **metrics})
    return rows


def comparison(rows: list[dict]) -> list[list]:
    """slice -> documents, tokens, seeds, epochs, bits/byte mean ± sd, its difference to `raw` with the
    95% interval over seeds and the verdict in words, generation metrics (means).

    The statistics and the verdicts are curate/comparison.py's, as the dashboard's are, so the
    two say the same thing. A row may carry `n_params` and `unigram_bpb` (the too-small-to-judge checks
    that need them are skipped without).
    """
    by_slice: dict[str, list[dict]] = {}
    for r in rows:
        by_slice.setdefault(r["slice"], []).append(r)
    runs = [Run(r["slice"], r["seed"], r.get("tokens"), r.get("n_params"), {k: r.get(k) for k in BY_KEY})
            for r in rows]
    baseline, _ = pick_baseline({name: rs[0].get("documents") for name, rs in by_slice.items()}) if rows else ("", None)
    unigram = next((r["unigram_bpb"] for r in rows if r.get("unigram_bpb")), None)
    bpb_vs = {j.slice: j for j in judge(runs, baseline, metrics=("bpb",), unigram_bpb=unigram)}
    out = []
    for name, rs in by_slice.items():
        bpbs = [r["bpb"] for r in rs if r["bpb"] is not None]
        spread = statistics.stdev(bpbs) if len(bpbs) > 1 else None

        def mean(key: str, rs=rs):
            vals = [r[key] for r in rs if r.get(key) is not None]
            return round(statistics.fmean(vals), 4) if vals else None

        j = bpb_vs.get(name)
        d = j.difference if j else None
        if name == baseline:
            vs, verdict = "-", f"baseline ({baseline})"
        elif d is None:
            vs, verdict = "-", "not measured"
        else:
            vs = f"{d.diff:+.4f}" + ("" if d.half_width is None else f" ± {d.half_width:.4f}")
            verdict = j.verdict
        out.append([
            name, rs[0]["documents"], rs[0]["tokens"], len(rs), mean("epochs_over_data"),
            "-" if not bpbs else f"{statistics.fmean(bpbs):.4f}" + ("" if spread is None else f" ± {spread:.4f}"),
            vs, verdict, mean("quality_mean"), mean("junk_rate"), mean("repetition_4gram"), mean("memorization"),
        ])
    return out


COMPARISON_HEADERS = ["slice", "documents", "tokens trained", "seeds", "epochs", "bits/byte (mean ± sd)",
                      "vs baseline (95%)", "verdict", "gen. quality", "gen. junk rate", "repetition", "memorization"]


def train_rows_from_store(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = []
    for run_id, slice_id, name, seed, tokens, bpb, n_params, metrics, n_kept in con.execute(
        """SELECT t.train_run_id, t.slice_id, t.slice_name, t.seed, t.tokens, t.bpb, t.n_params, t.metrics, s.n_kept
           FROM train_runs t LEFT JOIN slices s USING (slice_id) ORDER BY t.slice_name, t.seed"""
    ).fetchall():
        rows.append({"train_run_id": run_id, "slice": name, "slice_id": slice_id, "seed": seed, "documents": n_kept,
                     "tokens": tokens, "bpb": bpb, "n_params": n_params, **json.loads(metrics or "{}")})
    return rows
