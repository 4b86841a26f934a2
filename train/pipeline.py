"""Train one model per slice at an equal token budget and record what each slice did.

This is the bridge between the store and train/: it streams a slice's kept documents
into the trainer, evaluates the model (bits-per-byte on clean validation text and on held-out
documents of each kind the `strict` recipe drops, generation quality, memorization verbatim and
by likelihood) and writes `train_runs` and `generations`.

**The hold-out.** A fixed HOLDOUT_PER_MILLE of the corpus's distinct texts, chosen by their
text hash (so every copy of a text is on the same side), is left out of every slice's training
data. What the models learned to predict is measured on them: per family of the rule `strict`
drops them by (boilerplate and templates, repetition, spam, mojibake, wrong language, near
duplicates) and on the ones it keeps (clean).

**Exposure** (memorization by likelihood, Carlini et al. 2019's exposure in spirit, the
membership gap of Lee et al. 2022's Table 4 in form): for training documents whose text the
corpus holds k times, the held-out clean bits/byte minus their bits/byte, per copy count (in
powers of two). Both sets are clean by the same recipe and scored on the same prefix length, so
a model that never saw the training documents scores about 0; one that saw them, more.
"""
from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate import remote, store
from curate.comparison import (
    BY_KEY,
    COPY_BINS,
    HELDOUT_FAMILIES,
    HOLDOUT_PER_MILLE,
    Run,
    copy_bin_label,
    exposure_key,
    extracted_key,
    heldout_key,
    judge,
    pick_baseline,
    unigram_bpb_of_ids,
    verbatim_key,
)
from curate.errors import UsageError
from curate.recipes import evaluate_frame, load_recipe, resolve_slice
from train.evaluate import (
    document_bits,
    generate_samples,
    generation_metrics,
    matched_tokens,
    memorization_rate,
    pooled_bpb,
    split_document,
)
from train.tokenizer import load_tokenizer
from train.trainer import TrainConfig, load_checkpoint, train

MEMO_TOKENS = 32  # Lee et al. 2022: verbatim continuation of >= 32 tokens counts as memorized


# Documents scored per held-out family and per copy count, each on its first EVAL_TOKENS tokens:
# the evaluation of one model costs the same whatever the corpus's size.
HELDOUT_DOCS = 64
EXPOSURE_DOCS = 32
EVAL_TOKENS = 512
# The recipe whose decisions name each held-out document's family.
FAMILY_RECIPE = "strict"


def held_out_sql(text_hash: str = "d.text_hash") -> str:
    """SQL true for a held-out text (curate.comparison.is_held_out): the first 32 bits of its
    (xxh3-128, hex) text hash, mod 1000, below HOLDOUT_PER_MILLE."""
    return f"(('0x' || substr({text_hash}, 1, 8))::UBIGINT % 1000 < {HOLDOUT_PER_MILLE})"


def slice_texts(con: duckdb.DuckDBPyConnection, slice_id: str, *, hold_out: bool = True
                ) -> Callable[[], Iterator[str]]:
    """A re-iterable stream of the slice's kept texts, fetched in batches, without the held-out
    texts (unless hold_out is False).

    The order is fixed and pseudo-random (by the md5 of the doc id): the trainer's shuffle is a
    bounded buffer, so a budget below one pass over a slice read in doc-id order would train on
    its first input files only.
    """
    held = f"AND NOT {held_out_sql()}" if hold_out else ""

    def gen() -> Iterator[str]:
        cur = con.cursor()
        try:
            cur.execute(
                f"""SELECT d.text FROM decisions k JOIN documents d USING (doc_id)
                   WHERE k.slice_id = ? AND k.kept {held} ORDER BY md5(d.doc_id), d.doc_id""",
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


def _read_text_file(path: Path | str, label: str) -> tuple[bytes, Path | str]:
    """The bytes of a file (or an object named by a URL) given as `label` (an option name or a
    description), and the name to give it in messages; or a UsageError."""
    if remote.is_url(remote.localized(path)):
        with remote.local_file(path, label) as local:
            return _read_text_file(local, label)[0], path
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{label} {path}: no such file")
    if path.is_dir():
        raise UsageError(f"{label} {path}: is a folder, not a file")
    try:
        return path.read_bytes(), path
    except OSError as exc:
        raise UsageError(f"{label} {path}: cannot read it ({exc.strerror or exc})") from exc


def load_val_text(path: Path | str, label: str = "validation text") -> str:
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


def load_prompts(path: Path | str, label: str = "prompts") -> list[dict]:
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
# follows its prompt's: the junk rate asks only whether the text itself is junk. The corpus
# family (common_line_char_frac) counts lines that recur across the corpus: a sample has no
# corpus, the signal is NULL and the rule failed every sample (junk rate 0.98 for every model).
# The rules left flag 19% of 64-token windows of the shipped reference's English text
# (tests/test_train_metrics.py keeps it under 25%).
JUNK_SKIP_FAMILIES = ("quality", "language", "corpus")
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


# --- held-out documents and exposure -------------------------------------------------------------

# A signal family's rules drop documents of one held-out family; signals named here override it.
_FAMILY_OF_SIGNAL_FAMILY = {"language": "language", "encoding": "mojibake", "gopher_repetition": "repetition",
                            "c4": "boilerplate", "fineweb": "boilerplate", "corpus": "boilerplate",
                            "gopher_quality": "spam", "quality": "spam", "pii": "spam", "shape": "spam"}
_FAMILY_OF_SIGNAL = {"fineweb_dup_line_char_frac": "repetition"}
_RULE_SUFFIX = re.compile(r"_(below_min|above_max|not_allowed)$")


def reason_family(reason: str | None) -> str | None:
    """The held-out family of a drop reason: None (kept) is clean, a near duplicate is one of
    the duplicates; None for a reason of no family (a signal this version does not know)."""
    from curate.signals import REGISTRY

    if reason is None:
        return "clean"
    if reason in ("exact_duplicate", "near_duplicate"):
        return "duplicates"
    signal = _RULE_SUFFIX.sub("", reason)
    if signal in _FAMILY_OF_SIGNAL:
        return _FAMILY_OF_SIGNAL[signal]
    try:
        return _FAMILY_OF_SIGNAL_FAMILY.get(REGISTRY.get(signal).family)
    except KeyError:
        return None


def copy_bin(k: int) -> str:
    """The copy-count bin of a text the corpus holds k times: k1, k2, k3_4, k5_8, ..., k129_256, k257_plus."""
    if k < 1:
        raise ValueError(f"a copy count is at least 1, got {k}")
    if k <= 2:
        return f"k{k}"
    hi = 1 << (k - 1).bit_length()
    return "k257_plus" if hi > 256 else f"k{hi // 2 + 1}_{hi}"


@dataclass(frozen=True)
class EvalSets:
    """The documents every model of a comparison is measured on."""

    heldout: dict[str, list[str]]  # family -> held-out texts (no slice trains on them)
    exposure: dict[str, list[str]]  # copy bin -> training texts the corpus holds that many times
    note: str | None = None  # why a set is missing


def evaluation_sets(con: duckdb.DuckDBPyConnection, recipe: str = FAMILY_RECIPE,
                    heldout_docs: int = HELDOUT_DOCS, exposure_docs: int = EXPOSURE_DOCS) -> EvalSets:
    """Held-out texts per family, by the decisions of the latest built slice of `recipe`, and
    training texts per copy count (texts `recipe` keeps a copy of, so they are as clean as the
    held-out clean ones they are compared with), each set at most its cap, by text-hash order.

    A text counts once, whatever its copies: it is clean if the recipe keeps a copy, else of
    the family of its first copy's content rule (the other copies are exact duplicates of it).
    """
    try:
        ref_id, _ = resolve_slice(con, recipe)
    except UsageError:
        return EvalSets({}, {}, f"no `{recipe}` slice is built, so the held-out documents have no family and "
                                f"exposure no clean reference: build it (curate slice {recipe}) and train again")
    reasons = [r for (r,) in con.execute(
        "SELECT DISTINCT reason FROM decisions WHERE slice_id = ? AND reason IS NOT NULL", [ref_id]).fetchall()]
    cases, params = [], []
    for r in reasons:
        fam = reason_family(r)
        if fam is not None and r != "exact_duplicate":
            cases.append("WHEN ? THEN ?")
            params += [r, fam]
    family_sql = "CASE WHEN kept THEN 'clean' WHEN reason IS NULL THEN 'duplicates' " + (
        f"ELSE CASE reason {' '.join(cases)} END END" if cases else "END")
    bins = ("CASE WHEN copies <= 2 THEN 'k' || copies WHEN copies > 256 THEN 'k257_plus' "
            "ELSE 'k' || (pow2 // 2 + 1) || '_' || pow2 END")
    texts = """WITH t AS (
                 SELECT d.text_hash, count(*) AS copies, bool_or(k.kept) AS kept, min(d.doc_id) AS doc_id,
                        min(k.reason) FILTER (WHERE k.reason <> 'exact_duplicate') AS reason
                 FROM documents d JOIN decisions k ON k.doc_id = d.doc_id AND k.slice_id = ?
                 GROUP BY d.text_hash)"""
    held = con.execute(
        f"""{texts}, f AS (SELECT {family_sql} AS family, doc_id, text_hash FROM t
                        WHERE {held_out_sql('text_hash')})
            SELECT family, doc_id FROM f WHERE family IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY family ORDER BY text_hash) <= ?""",
        [ref_id, *params, heldout_docs]).fetchall()
    seen = con.execute(
        f"""{texts}, b AS (SELECT *, 1 << CAST(ceil(log2(copies)) AS INTEGER) AS pow2 FROM t
                        WHERE kept AND NOT {held_out_sql('text_hash')})
            SELECT {bins} AS copy_bin, doc_id FROM b
            QUALIFY row_number() OVER (PARTITION BY copy_bin ORDER BY text_hash) <= ?""",
        [ref_id, exposure_docs]).fetchall()
    wanted = [d for _, d in held] + [d for _, d in seen]
    text_of: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        marks = ", ".join("?" for _ in chunk)
        text_of.update(con.execute(f"SELECT doc_id, text FROM documents WHERE doc_id IN ({marks})", chunk).fetchall())
    heldout: dict[str, list[str]] = {}
    for fam, d in sorted(held):
        heldout.setdefault(fam, []).append(text_of[d])
    exposure: dict[str, list[str]] = {}
    for b, d in sorted(seen):
        exposure.setdefault(b, []).append(text_of[d])
    return EvalSets(heldout, exposure)


def heldout_metrics(model, tokenizer, sets: EvalSets) -> dict:
    """bits/byte per held-out family, exposure per copy bin (see the module's docstring), and
    how many documents each was measured on."""
    out: dict = {}
    for fam in HELDOUT_FAMILIES:
        texts = sets.heldout.get(fam)
        out[heldout_key(fam)] = pooled_bpb(document_bits(model, tokenizer, texts, max_tokens=EVAL_TOKENS)) \
            if texts else None
    clean = out[heldout_key("clean")]
    for b in COPY_BINS:
        texts = sets.exposure.get(b)
        seen = pooled_bpb(document_bits(model, tokenizer, texts, max_tokens=EVAL_TOKENS)) if texts else None
        out[exposure_key(b)] = clean - seen if clean is not None and seen is not None else None
        if texts:
            matched = matched_tokens(model, tokenizer, [split_document(t, tokenizer, MEMO_TOKENS) for t in texts],
                                     n_tokens=MEMO_TOKENS)
            if matched:
                out[extracted_key(b)] = sum(matched) / (MEMO_TOKENS * len(matched))
                out[verbatim_key(b)] = sum(m == MEMO_TOKENS for m in matched) / len(matched)
    out["heldout_docs"] = {f: len(t) for f, t in sets.heldout.items()}
    out["exposure_docs"] = {b: len(t) for b, t in sets.exposure.items()}
    return out


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
    family_recipe: str = FAMILY_RECIPE,
) -> list[dict]:
    """Train every (slice, seed) with the same budget; returns one summary row per run.

    `family_recipe`: the recipe whose latest built slice names the held-out documents' families
    (evaluation_sets)."""
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
        n_train = con.execute(
            f"""SELECT count(*) FROM decisions k JOIN documents d USING (doc_id)
                WHERE k.slice_id = ? AND k.kept AND NOT {held_out_sql()}""", [slice_id]).fetchone()[0]
        if n_train == 0:
            raise UsageError(f"slice {slice_id} keeps {n_kept:,} documents, all held out for evaluation "
                             f"({HOLDOUT_PER_MILLE / 10:g}% of the corpus's texts, by text hash): nothing to train on")
        targets.append((slice_id, slice_name, n_kept))
    tokenizer = load_tokenizer()
    # the best a unigram model of the validation text could do: below it a model has learned
    # nothing but token frequencies (curate/comparison.py judges "too small" by it)
    unigram_bpb = unigram_bpb_of_ids(tokenizer.encode(val_text), len(val_text.encode("utf-8")))
    probes = memorization_probes(con, prompts, tokenizer)
    sets = evaluation_sets(con, family_recipe)
    if sets.note:
        say(sets.note)
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
            metrics.update(heldout_metrics(model, tokenizer, sets))
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


def _grouped(rows: list[dict]) -> tuple[dict[str, list[dict]], list[Run], str, float | None]:
    """The rows by slice, as comparison Runs, the baseline slice and the unigram bits/byte."""
    by_slice: dict[str, list[dict]] = {}
    for r in rows:
        by_slice.setdefault(r["slice"], []).append(r)
    runs = [Run(r["slice"], r["seed"], r.get("tokens"), r.get("n_params"), {k: r.get(k) for k in BY_KEY})
            for r in rows]
    baseline, _ = pick_baseline({name: rs[0].get("documents") for name, rs in by_slice.items()}) if rows else ("", None)
    unigram = next((r["unigram_bpb"] for r in rows if r.get("unigram_bpb")), None)
    return by_slice, runs, baseline, unigram


def comparison(rows: list[dict]) -> list[list]:
    """slice -> documents, tokens, seeds, epochs, bits/byte mean ± sd, its difference to `raw` with the
    95% interval over seeds and the verdict in words, generation metrics (means).

    The statistics and the verdicts are curate/comparison.py's, as the dashboard's are, so the
    two say the same thing. A row may carry `n_params` and `unigram_bpb` (the too-small-to-judge checks
    that need them are skipped without).
    """
    by_slice, runs, baseline, unigram = _grouped(rows)
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


def _judgements(rows: list[dict]):
    by_slice, runs, baseline, unigram = _grouped(rows)
    return baseline, judge(runs, baseline, unigram_bpb=unigram)


VERDICT_HEADERS = ["slice", "metric", "baseline", "this slice", "difference (95%)", "seeds", "verdict"]


def verdict_rows(rows: list[dict]) -> list[list]:
    """Every measured metric of every slice against the baseline (`raw`): both means, the difference
    with its 95% interval over seeds, and in words whether it is beyond the seed spread and which way
    (curate/comparison.py's verdicts, as the dashboard shows them)."""
    baseline, judgements = _judgements(rows)
    out = []
    for j in judgements:
        d, m = j.difference, j.metric
        diff = "-" if d is None else m.signed(d.diff) + ("" if d.half_width is None else
                                                         f" ± {m.signed(d.half_width)[1:]}")
        out.append([j.slice, m.label, "-" if j.base_mean is None else f"{baseline} {m.value(j.base_mean)}",
                    "-" if j.mean is None else m.value(j.mean), diff,
                    "-" if d is None else f"{d.n} / {d.n_base}", j.verdict])
    return out


def verdict_sentences(rows: list[dict], keys: tuple[str, ...] | None = None) -> list[str]:
    """The judgements (of the metrics in `keys`, all by default) as sentences."""
    _, judgements = _judgements(rows)
    return [j.sentence() for j in judgements if keys is None or j.metric.key in keys]


def exposure_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    """(headers, rows): per slice, its exposure (bits/byte, mean ± sd over seeds) at each copy count
    measured, with the number of documents behind each."""
    bins = [b for b in COPY_BINS if any(r.get(exposure_key(b)) is not None for r in rows)]
    by_slice: dict[str, list[dict]] = {}
    for r in rows:
        by_slice.setdefault(r["slice"], []).append(r)
    out = []
    for name, rs in by_slice.items():
        cells = [name, len(rs)]
        for b in bins:
            vals = [r[exposure_key(b)] for r in rs if r.get(exposure_key(b)) is not None]
            cells.append("-" if not vals else f"{statistics.fmean(vals):+.3f}"
                         + (f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else ""))
        out.append(cells)
    docs = next((r.get("exposure_docs") for r in rows if r.get("exposure_docs")), {}) or {}
    heads = ["slice", "seeds", *(f"{copy_bin_label(b)} ({docs.get(b, '?')} docs)" for b in bins)]
    return heads, out



def train_rows_from_store(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = []
    for run_id, slice_id, name, seed, tokens, bpb, n_params, metrics, n_kept in con.execute(
        """SELECT t.train_run_id, t.slice_id, t.slice_name, t.seed, t.tokens, t.bpb, t.n_params, t.metrics, s.n_kept
           FROM train_runs t LEFT JOIN slices s USING (slice_id) ORDER BY t.slice_name, t.seed"""
    ).fetchall():
        rows.append({"train_run_id": run_id, "slice": name, "slice_id": slice_id, "seed": seed, "documents": n_kept,
                     "tokens": tokens, "bpb": bpb, "n_params": n_params, **json.loads(metrics or "{}")})
    return rows
