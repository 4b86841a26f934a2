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


def load_prompts(path: Path) -> list[dict]:
    prompts = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    p = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path} line {n}: not JSON: {exc}") from exc
                if not isinstance(p, dict) or not isinstance(p.get("prompt"), str):
                    raise UsageError(f"{path} line {n}: expected an object with a string `prompt`")
                prompts.append(p)
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
    val_text = Path(val_text_path).read_text(encoding="utf-8")
    if not val_text.strip():
        raise UsageError(f"{val_text_path}: the validation text is empty")
    tokenizer = load_tokenizer()
    prompts = load_prompts(prompts_path) if prompts_path else []
    probes = memorization_probes(con, prompts, tokenizer)
    gen_prompts = [p["prompt"] for p in prompts]
    quality_fn = quality_model.predict_proba if quality_model is not None else None
    ckpt_root = Path(db).parent / f"{Path(db).stem}.artifacts" / "checkpoints"
    rows = []
    for name in slices:
        slice_id, slice_name = resolve_slice(con, name)
        n_kept = con.execute("SELECT n_kept FROM slices WHERE slice_id = ?", [slice_id]).fetchone()[0]
        if n_kept == 0:
            raise UsageError(f"slice {slice_id} keeps no documents: nothing to train on")
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
            metrics = generation_metrics(samples, quality_fn=quality_fn, junk_fn=lambda s: flags)
            metrics["memorization"] = (
                memorization_rate(model, tokenizer, probes, n_tokens=MEMO_TOKENS) if probes else None
            )
            metrics["memorization_probes"] = len(probes)
            metrics["epochs_over_data"] = res.epochs_over_data
            q = quality_fn(samples) if quality_fn and samples else None
            con.execute("BEGIN")
            con.execute("DELETE FROM generations WHERE train_run_id = ?", [run_id])
            con.execute("DELETE FROM train_runs WHERE train_run_id = ?", [run_id])
            con.execute(
                "INSERT INTO train_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, slice_id, slice_name, seed, json.dumps({**res.train_config, "model": res.model_config}),
                 res.tokens_seen, res.epochs_over_data, res.val_bpb, str(val_text_path), json.dumps(res.losses),
                 res.tokens_per_s, res.device, res.wall_s, res.n_params, res.mfu, json.dumps(metrics),
                 str(res.checkpoint), store.now()],
            )
            for i, (p, s) in enumerate(zip(prompts, samples)):
                con.execute(
                    "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [run_id, i, p.get("kind"), p["prompt"], s, None if q is None else float(q[i]), flags[i]],
                )
            con.execute("COMMIT")
            rows.append({"train_run_id": run_id, "slice": slice_name, "slice_id": slice_id, "seed": seed,
                         "documents": n_kept, "tokens": res.tokens_seen, "bpb": res.val_bpb,
                         "tokens_per_s": res.tokens_per_s, "device": res.device, "mfu": res.mfu, **metrics})
    return rows


def comparison(rows: list[dict]) -> list[list]:
    """slice -> documents, tokens, bpb mean ± spread over seeds, generation metrics (means)."""
    by_slice: dict[str, list[dict]] = {}
    for r in rows:
        by_slice.setdefault(r["slice"], []).append(r)
    out = []
    for name, rs in by_slice.items():
        bpbs = [r["bpb"] for r in rs if r["bpb"] is not None]
        spread = statistics.pstdev(bpbs) if len(bpbs) > 1 else 0.0

        def mean(key: str):
            vals = [r[key] for r in rs if r.get(key) is not None]
            return round(statistics.fmean(vals), 4) if vals else None

        out.append([
            name, rs[0]["documents"], rs[0]["tokens"], len(rs),
            f"{statistics.fmean(bpbs):.4f} ± {spread:.4f}" if bpbs else "-",
            mean("epochs_over_data"), mean("quality_mean"), mean("junk_rate"), mean("repetition_4gram"),
            mean("distinct_2"), mean("memorization"),
        ])
    return out


COMPARISON_HEADERS = ["slice", "documents", "tokens trained", "seeds", "bits/byte (mean ± sd)", "epochs",
                      "gen. quality", "gen. junk rate", "repetition", "distinct-2", "memorization"]


def train_rows_from_store(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = []
    for run_id, slice_id, name, seed, tokens, bpb, metrics, n_kept in con.execute(
        """SELECT t.train_run_id, t.slice_id, t.slice_name, t.seed, t.tokens, t.bpb, t.metrics, s.n_kept
           FROM train_runs t LEFT JOIN slices s USING (slice_id) ORDER BY t.slice_name, t.seed"""
    ).fetchall():
        rows.append({"train_run_id": run_id, "slice": name, "slice_id": slice_id, "seed": seed,
                     "documents": n_kept, "tokens": tokens, "bpb": bpb, **json.loads(metrics or "{}")})
    return rows
