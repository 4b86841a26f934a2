"""Train one model on one slice: fixed tokenizer, fixed token budget, fixed seed.

The same loop runs on a laptop CPU (fp32) and on a CUDA GPU (bf16 autocast, fused AdamW,
TF32 matmuls, optional torch.compile). Checkpoints are plain state dicts plus the configs,
written atomically and read back with ``weights_only=True`` (no pickled code runs on load).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from train.data import SequencePacker
from train.evaluate import bits_per_byte
from train.model import GPT, GPTConfig, preset_config
from train.tokenizer import BPETokenizer, load_tokenizer

T = TypeVar("T")

CHECKPOINT_FORMAT = "curate-train-checkpoint"
CHECKPOINT_VERSION = 1

# Dense bf16 tensor-core peaks (vendor datasheets, without sparsity); MFU is None elsewhere.
PEAK_BF16_FLOPS: dict[str, float] = {
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,  # SXM
    "H200": 989e12,
    "GH200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "RTX 4090": 165e12,
}


# Sequences per step when TrainConfig.batch_size is None: large enough on a GPU that a step
# is not dominated by kernel-launch overhead, small enough on a CPU for many updates.
# (H100, gpu preset, compiled: 64 -> 2.1M, 128 -> 2.6M tokens/s on synthetic batches)
DEFAULT_BATCH: dict[str, int] = {"tiny": 8, "small": 8, "gpu": 128}
# Peak learning rate when TrainConfig.lr is None: smaller models tolerate larger steps.
DEFAULT_LR: dict[str, float] = {"tiny": 5e-3, "small": 3e-3, "gpu": 1e-3}


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "small"  # model size, see train.model.PRESETS
    token_budget: int = 300_000  # training tokens; rounded down to whole batches
    batch_size: int | None = None  # sequences per step; None = the preset's DEFAULT_BATCH
    lr: float | None = None  # peak learning rate; None = the preset's DEFAULT_LR
    min_lr_frac: float = 0.1  # cosine decay ends at lr * min_lr_frac
    warmup_frac: float = 0.05  # share of steps with linear warm-up
    weight_decay: float = 0.1
    beta2: float = 0.95
    grad_clip: float = 1.0
    dropout: float = 0.0
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    compile: bool = False  # torch.compile the model (worth it on CUDA for long runs)
    log_every: int = 10  # steps between loss-curve points
    eval_every: int = 0  # steps between validation bits-per-byte points; 0 = only at the end
    eval_chars: int = 20_000  # validation prefix scored during training (the end scores all)
    doc_buffer: int = 1024  # documents in the shuffle buffer
    seq_buffer: int = 256  # sequences in the shuffle buffer

    def __post_init__(self) -> None:
        if self.token_budget <= 0 or (self.batch_size or 1) <= 0 or (self.lr or 1) <= 0:
            raise ValueError(f"token_budget, batch_size and lr must be positive: {self}")
        if not 0 <= self.warmup_frac < 1 or not 0 <= self.min_lr_frac <= 1:
            raise ValueError(f"warmup_frac must be in [0, 1) and min_lr_frac in [0, 1]: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    losses: list[tuple[int, int, float]]  # (step, tokens seen, mean train loss since last point)
    val_curve: list[tuple[int, int, float]]  # (step, tokens seen, bits-per-byte on eval prefix)
    val_bpb: float | None  # bits-per-byte on the whole validation text, if one was given
    tokens_seen: int
    n_steps: int
    batch_size: int
    epochs_over_data: float | None  # None: the slice was not read through once (so < 1)
    data_passes: int  # passes over the slice the data reader began
    tokens_per_s: float  # steady state: timed after the first min(20, n_steps // 5) steps
    wall_s: float  # the whole training loop (compilation included), validation excluded
    n_params: int
    device: str  # e.g. "cpu" or "cuda (NVIDIA H100 80GB HBM3)"
    dtype: str  # "bfloat16" (autocast) or "float32"
    mfu: float | None  # model FLOPs utilisation vs. the GPU's dense bf16 peak; None on CPU
    checkpoint: Path
    tokenizer: str
    model_config: dict = field(default_factory=dict)
    train_config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["checkpoint"] = str(self.checkpoint)
        return d


class CheckpointError(Exception):
    """A checkpoint that cannot be used: unreadable, not ours, or for another tokenizer."""


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as e:
        raise ValueError(f"unknown device {requested!r}; use auto, cpu or cuda") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {requested!r} requested but only {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {requested!r}; use auto, cpu or cuda")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in PEAK_BF16_FLOPS.items():  # most specific names first
        if key in name:
            return flops
    return None


def peak_lr(cfg: TrainConfig) -> float:
    return cfg.lr or DEFAULT_LR.get(cfg.preset, 1e-3)


def lr_at(step: int, n_steps: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to lr * min_lr_frac; step counts from 1."""
    peak = peak_lr(cfg)
    warmup = int(cfg.warmup_frac * n_steps)
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / max(1, n_steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return peak * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cosine)


def make_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # decay matrices only; norms and biases stay undecayed (GPT-2/nanoGPT practice)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=peak_lr(cfg), betas=(0.9, cfg.beta2), fused=fused)


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA GPUs that support it; plain fp32 elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    texts: Callable[[], Iterable[str]],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    tokenizer: BPETokenizer | None = None,
    val_text: str | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train a fresh model on the documents `texts()` yields (called once per pass).

    Writes `out_dir/model.pt`. `on_log` receives each loss-curve point as a dict
    (for a progress line on stderr).
    """
    tok = tokenizer if tokenizer is not None else load_tokenizer()
    device = pick_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    mcfg = preset_config(cfg.preset, tok.vocab_size, dropout=cfg.dropout)
    batch_size = cfg.batch_size or DEFAULT_BATCH.get(cfg.preset, 16)
    tokens_per_step = batch_size * mcfg.block_size
    n_steps = cfg.token_budget // tokens_per_step
    if n_steps < 1:
        raise ValueError(
            f"token_budget {cfg.token_budget} is below one batch ({tokens_per_step} tokens)"
        )

    torch.manual_seed(cfg.seed)
    model = GPT(mcfg).to(device)
    optimizer = make_optimizer(model, cfg, device)
    step_model = torch.compile(model) if cfg.compile else model
    packer = SequencePacker(
        texts,
        tok,
        mcfg.block_size,
        n_steps * tokens_per_step,
        seed=cfg.seed,
        doc_buffer=cfg.doc_buffer,
        seq_buffer=cfg.seq_buffer,
    )
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()

    losses: list[tuple[int, int, float]] = []
    val_curve: list[tuple[int, int, float]] = []
    eval_prefix = val_text[: cfg.eval_chars] if val_text else None
    running = torch.zeros((), device=device)
    since_log = 0
    eval_s = 0.0
    # throughput is timed after a few warm-up steps (compilation, allocator, caches)
    warm_steps = max(1, min(20, n_steps // 5))
    t_warm, eval_s_warm = None, 0.0
    model.train()
    t0 = time.perf_counter()
    batches = packer.batches(batch_size)
    if device.type == "cuda":
        batches = prefetch(batches)  # tokenize on the CPU while the GPU computes
    for step, batch in enumerate(batches, start=1):
        lr = lr_at(step, n_steps, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        xy = torch.from_numpy(batch).to(device)  # 64 x 257 int64 is ~130 kB: no pinning needed
        x, y = xy[:, :-1], xy[:, 1:]  # (B, T) each
        with autocast_for(device):
            _, loss = step_model(x, y)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        running += loss.detach()
        since_log += 1
        if step == warm_steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t_warm, eval_s_warm = time.perf_counter(), eval_s
        if step % cfg.log_every == 0 or step == n_steps:
            point = (step, step * tokens_per_step, (running / since_log).item())
            losses.append(point)
            running.zero_()
            since_log = 0
            if on_log is not None:
                on_log({"step": step, "n_steps": n_steps, "tokens": point[1], "loss": point[2], "lr": lr})
        if eval_prefix and cfg.eval_every and step % cfg.eval_every == 0 and step < n_steps:
            e0 = time.perf_counter()
            bpb = bits_per_byte(model, tok, eval_prefix, device)
            val_curve.append((step, step * tokens_per_step, bpb))
            model.train()
            eval_s += time.perf_counter() - e0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t_end = time.perf_counter()
    wall_s = t_end - t0 - eval_s
    tokens_seen = packer.stats.tokens
    if t_warm is not None and n_steps > warm_steps:
        steady_s = t_end - t_warm - (eval_s - eval_s_warm)
        tokens_per_s = (n_steps - warm_steps) * tokens_per_step / steady_s
    else:
        tokens_per_s = tokens_seen / wall_s
    peak = peak_flops(device) if use_bf16 else None
    mfu = model.flops_per_token() * tokens_per_s / peak if peak else None

    val_bpb = None
    if val_text:
        val_bpb = bits_per_byte(model, tok, val_text, device)
        if eval_prefix:
            val_curve.append((n_steps, tokens_seen, bits_per_byte(model, tok, eval_prefix, device)))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = save_checkpoint(
        out_dir / "model.pt", model, tok.name, meta={"train_config": cfg.to_dict(), "steps": n_steps}
    )
    return TrainResult(
        losses=losses,
        val_curve=val_curve,
        val_bpb=val_bpb,
        tokens_seen=tokens_seen,
        n_steps=n_steps,
        batch_size=batch_size,
        epochs_over_data=packer.stats.epochs,
        data_passes=packer.stats.passes_started,
        tokens_per_s=tokens_per_s,
        wall_s=wall_s,
        n_params=model.num_params(),
        device=device_name(device),
        dtype="bfloat16" if use_bf16 else "float32",
        mfu=mfu,
        checkpoint=ckpt,
        tokenizer=tok.name,
        model_config=mcfg.to_dict(),
        train_config=cfg.to_dict(),
    )


def prefetch(items: Iterator[T], depth: int = 16) -> Iterator[T]:
    """Run a producer in a background thread (tokenizers release the GIL); order is kept."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    worker = threading.Thread(target=produce, name="train-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def save_checkpoint(path: Path, model: GPT, tokenizer_name: str, meta: dict | None = None) -> Path:
    """Atomic write: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer_name,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class Checkpoint:
    model: GPT  # in eval mode, on the requested device
    tokenizer: str
    meta: dict
    path: Path


def load_checkpoint(
    path: Path | str, device: str | torch.device = "cpu", *, tokenizer: str | None = None
) -> Checkpoint:
    """Load a checkpoint written by `save_checkpoint`.

    `tokenizer`, when given, is the name of the tokenizer the caller will use; a checkpoint
    trained with another one raises CheckpointError (its ids would mean different text).
    """
    path = Path(path)
    device = pick_device(device) if isinstance(device, str) else device
    if not path.is_file():
        raise CheckpointError(f"{path}: the checkpoint no longer exists" if not path.exists()
                              else f"{path}: not a checkpoint file")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises several types for truncated / non-torch files
        # torch's own text runs to paragraphs and, for a damaged file, advises weights_only=False
        # (running pickled code): the error's type is kept, its advice is not
        raise CheckpointError(
            f"{path}: cannot read checkpoint, truncated or not a checkpoint ({type(e).__name__})"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a curate train checkpoint (no {CHECKPOINT_FORMAT!r} marker)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')!r}, this code reads {CHECKPOINT_VERSION}"
        )
    if tokenizer is not None and payload.get("tokenizer") != tokenizer:
        raise CheckpointError(
            f"{path}: trained with tokenizer {payload.get('tokenizer')!r}, not {tokenizer!r}"
        )
    try:
        model = GPT(GPTConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: malformed checkpoint ({type(e).__name__}: {e})") from e
    model.to(device).eval()
    return Checkpoint(model=model, tokenizer=str(payload["tokenizer"]), meta=payload.get("meta") or {}, path=path)
