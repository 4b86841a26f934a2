"""Train one model per slice at an equal token budget on a GPU, from exported slices.

The GPU machine has torch but not the whole curation stack, so the sweep works from
files: `export` (here) writes each slice's kept texts, the validation text and the
memorization probes into a folder; `train` (on the GPU) trains and samples; `score`
(here again) adds the generation metrics that need the curation engine's scorers.

    python bench/gpu_sweep.py export --db STORE --slices raw gopher strict --out .gpu
    python bench/gpu_sweep.py train --data .gpu --tokens 20000000 --seeds 2 --preset gpu --compile --out $OUT
    python bench/gpu_sweep.py score --results results.json --db STORE
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cmd_export(args) -> None:
    from curate import store
    from curate.recipes import resolve_slice
    from train.pipeline import load_prompts, memorization_probes
    from train.tokenizer import load_tokenizer

    args.out.mkdir(parents=True, exist_ok=True)
    tok = load_tokenizer()
    with store.open_store(args.db, read_only=True) as con:
        for name in args.slices:
            sid, _ = resolve_slice(con, name)
            rows = con.execute(
                """SELECT d.text FROM decisions k JOIN documents d USING (doc_id)
                   WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""", [sid]).fetchall()
            with gzip.open(args.out / f"slice-{name}.jsonl.gz", "wt", encoding="utf-8") as fh:
                for (t,) in rows:
                    fh.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
            print(f"{name}: {len(rows):,} documents")
        prompts = load_prompts(args.prompts)
        probes = memorization_probes(con, prompts, tok)
    (args.out / "prompts.json").write_text(json.dumps([p["prompt"] for p in prompts]))
    (args.out / "probes.json").write_text(json.dumps(probes))
    (args.out / "validation.txt").write_text(Path(args.val_text).read_text(encoding="utf-8"))


def _texts(path: Path):
    def gen():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)["text"]
    return gen


def cmd_train(args) -> None:
    import torch

    from train.evaluate import generate_samples, memorization_rate
    from train.tokenizer import load_tokenizer
    from train.trainer import TrainConfig, load_checkpoint, train

    tok = load_tokenizer()
    val = (args.data / "validation.txt").read_text(encoding="utf-8")
    prompts = json.loads((args.data / "prompts.json").read_text())
    probes = [tuple(p) for p in json.loads((args.data / "probes.json").read_text())]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in sorted(args.data.glob("slice-*.jsonl.gz")):
        name = path.name[len("slice-"):-len(".jsonl.gz")]
        for seed in range(args.seeds):
            cfg = TrainConfig(preset=args.preset, token_budget=args.tokens, seed=seed, device="auto",
                              compile=args.compile, batch_size=args.batch_size)
            t0 = time.perf_counter()
            res = train(_texts(path), cfg, Path("/tmp/sweep") / f"{name}-s{seed}", tokenizer=tok, val_text=val)
            dev = res.device.split(" ")[0]
            model = load_checkpoint(res.checkpoint, dev, tokenizer=tok.name).model
            samples = generate_samples(model, tok, prompts, max_new_tokens=64, seed=seed, device=dev)
            memo = memorization_rate(model, tok, [p for p in probes if len(tok.encode(p[1])) >= 32], device=dev)
            row = {"slice": name, "seed": seed, "bpb": res.val_bpb, "tokens": res.tokens_seen,
                   "epochs": res.epochs_over_data, "tokens_per_s": res.tokens_per_s, "mfu": res.mfu,
                   "device": res.device, "dtype": res.dtype, "n_params": res.n_params, "wall_s": res.wall_s,
                   "total_s": time.perf_counter() - t0, "memorization": memo, "samples": samples,
                   "final_loss": res.losses[-1][2] if res.losses else None}
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
    meta = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "preset": args.preset, "tokens": args.tokens, "seeds": args.seeds, "compile": args.compile}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "runs": results}))


def cmd_score(args) -> None:
    from curate import store
    from curate.console import format_table
    from curate.signals.quality import load_quality_model
    from train.evaluate import generation_metrics
    from train.pipeline import junk_flags

    data = json.loads(Path(args.results).read_text())
    qm = load_quality_model(store.quality_model_path(args.db))
    by: dict[str, list[dict]] = {}
    for r in data["runs"]:
        flags = junk_flags(r["samples"])
        r.update(generation_metrics(r["samples"], quality_fn=qm.predict_proba, junk_fn=lambda s, flags=flags: flags))
        by.setdefault(r["slice"], []).append(r)
    print(f"GPU: {data['meta']}")
    rows = []
    for name, rs in by.items():
        bpb = [r["bpb"] for r in rs]

        def m(k, rs=rs):
            vals = [r[k] for r in rs if r.get(k) is not None]
            return round(statistics.fmean(vals), 4) if vals else None

        rows.append([name, rs[0]["tokens"], m("epochs"), f"{statistics.fmean(bpb):.4f} ± "
                     f"{statistics.pstdev(bpb) if len(bpb) > 1 else 0:.4f}", m("quality_mean"), m("junk_rate"),
                     m("repetition_4gram"), m("distinct_2"), m("memorization"), f"{m('tokens_per_s'):,.0f}",
                     f"{m('mfu'):.1%}" if m("mfu") else "-"])
    print(format_table(["slice", "tokens", "epochs", "bits/byte", "gen. quality", "junk rate", "repetition",
                        "distinct-2", "memorization", "tokens/s", "MFU"], rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--db", type=Path, required=True)
    e.add_argument("--slices", nargs="+", required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--prompts", type=Path, default=Path("sample_data/prompts.jsonl"))
    e.add_argument("--val-text", type=Path, default=Path("sample_data/validation.txt"))
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--tokens", type=int, default=10_000_000)
    t.add_argument("--seeds", type=int, default=2)
    t.add_argument("--preset", default="gpu")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--compile", action="store_true")
    t.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score")
    s.add_argument("--results", type=Path, required=True)
    s.add_argument("--db", type=Path, required=True)
    args = ap.parse_args()
    {"export": cmd_export, "train": cmd_train, "score": cmd_score}[args.cmd](args)


if __name__ == "__main__":
    main()
