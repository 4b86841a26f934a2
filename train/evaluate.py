"""How good is a trained model: compression of clean text, its samples, its memorization."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional as F

from train.model import GPT


class Codec(Protocol):
    eot_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


def _device_of(model: GPT, device: str | torch.device | None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def _autocast(device: torch.device):
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def bits_per_byte(
    model: GPT,
    tokenizer: Codec,
    text: str,
    device: str | torch.device | None = None,
    block_size: int | None = None,
    batch_size: int = 32,
) -> float:
    """Total negative log-likelihood of `text` in bits / its UTF-8 bytes.

    Dividing by bytes, not tokens, makes the number independent of the tokenizer (as in the
    Pile and Gopher evaluations). The text is preceded by the end-of-text id, so its first token
    is predicted too, then cut into contiguous windows of `block_size` targets; each window
    restarts its context, the same for every model, so comparisons stay fair.
    """
    n_bytes = len(text.encode("utf-8"))
    if n_bytes == 0:
        raise ValueError("bits_per_byte needs a non-empty text")
    dev = _device_of(model, device)
    T = block_size or model.config.block_size
    if T > model.config.block_size:
        raise ValueError(f"block_size {T} exceeds the model's {model.config.block_size}")
    ids = torch.tensor([tokenizer.eot_id, *tokenizer.encode(text)], dtype=torch.long)
    n_targets = len(ids) - 1
    n_win = math.ceil(n_targets / T)
    # pad to whole windows; padded targets are -1 and ignored by cross_entropy
    inputs = torch.full((n_win * T,), tokenizer.eot_id, dtype=torch.long)
    targets = torch.full((n_win * T,), -1, dtype=torch.long)
    inputs[:n_targets] = ids[:-1]
    targets[:n_targets] = ids[1:]
    inputs, targets = inputs.view(n_win, T), targets.view(n_win, T)  # (W, T)

    was_training = model.training
    model.eval()
    total_nats = 0.0
    try:
        for i in range(0, n_win, batch_size):
            x = inputs[i : i + batch_size].to(dev)
            y = targets[i : i + batch_size].to(dev)
            with _autocast(dev):
                logits, _ = model(x)  # (b, T, V)
            nll = F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-1, reduction="none"
            )
            total_nats += float(nll.double().sum())  # float64 sum: long texts add up many terms
    finally:
        model.train(was_training)
    return total_nats / (math.log(2) * n_bytes)


@torch.no_grad()
def document_bits(
    model: GPT,
    tokenizer: Codec,
    texts: Sequence[str],
    device: str | torch.device | None = None,
    max_tokens: int = 512,
    batch_size: int = 32,
) -> list[tuple[float, int]]:
    """(bits, UTF-8 bytes) of each document, as `bits_per_byte` measures one text, for many at once.

    Each document starts its own context after the end-of-text id (as in training) and is cut
    into windows of the model's block size; the windows of all documents are batched together.
    A document longer than `max_tokens` tokens is scored on its first `max_tokens` (its bytes are
    those of that prefix), so the cost of a set of documents is bounded. Empty texts give (0, 0).
    """
    dev = _device_of(model, device)
    T = model.config.block_size
    windows: list[tuple[int, list[int], list[int]]] = []  # (document, inputs, targets)
    sizes: list[int] = []
    for n, text in enumerate(texts):
        ids = tokenizer.encode(text)[:max_tokens]
        sizes.append(len(tokenizer.decode(ids).encode("utf-8")) if ids else 0)
        seq = [tokenizer.eot_id, *ids]
        for i in range(0, len(seq) - 1, T):
            chunk = seq[i : i + T + 1]
            windows.append((n, chunk[:-1], chunk[1:]))
    bits = [0.0] * len(sizes)
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(windows), batch_size):
            group = windows[i : i + batch_size]
            x = torch.full((len(group), T), tokenizer.eot_id, dtype=torch.long)
            y = torch.full((len(group), T), -1, dtype=torch.long)  # padded targets are ignored
            for row, (_, inp, tgt) in enumerate(group):
                x[row, : len(inp)] = torch.tensor(inp)
                y[row, : len(tgt)] = torch.tensor(tgt)
            with _autocast(dev):
                logits, _ = model(x.to(dev))  # (b, T, V)
            nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.to(dev).reshape(-1),
                                  ignore_index=-1, reduction="none").view(len(group), T)
            for row, total in enumerate(nll.double().sum(dim=1).tolist()):
                bits[group[row][0]] += total / math.log(2)
    finally:
        model.train(was_training)
    return list(zip(bits, sizes))


def pooled_bpb(scores: Sequence[tuple[float, int]]) -> float | None:
    """Bits per byte over a set of documents scored by `document_bits`: total bits / total bytes."""
    n_bytes = sum(b for _, b in scores)
    return sum(bits for bits, _ in scores) / n_bytes if n_bytes else None


@torch.no_grad()
def generate_samples(
    model: GPT,
    tokenizer: Codec,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    seed: int = 0,
    temperature: float = 0.8,
    top_k: int | None = 50,
    device: str | torch.device | None = None,
) -> list[str]:
    """One continuation per prompt (prompt not included), cut at the first end-of-text.

    Each prompt draws from its own generator seeded from (seed, prompt text), so a sample does
    not depend on which other prompts were asked, nor in what order (up to floating-point
    differences of batched products). Prompts of equal token length are decoded together.
    """
    dev = _device_of(model, device)
    was_training = model.training
    model.eval()
    out: list[str] = [""] * len(prompts)
    groups: dict[int, list[tuple[int, list[int]]]] = {}
    for i, prompt in enumerate(prompts):
        ids = [tokenizer.eot_id, *tokenizer.encode(prompt)]
        groups.setdefault(len(ids), []).append((i, ids))
    try:
        for members in groups.values():
            gens = []
            for i, _ in members:
                digest = hashlib.sha256(f"{seed}\x00{prompts[i]}".encode()).digest()
                gens.append(torch.Generator(device=dev).manual_seed(int.from_bytes(digest[:8], "little") >> 1))
            idx = torch.tensor([ids for _, ids in members], dtype=torch.long, device=dev)
            with _autocast(dev):
                full = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=gens)
            for row, (i, _) in enumerate(members):
                new = full[row, idx.size(1) :].tolist()
                if tokenizer.eot_id in new:
                    new = new[: new.index(tokenizer.eot_id)]
                out[i] = tokenizer.decode(new)
    finally:
        model.train(was_training)
    return out


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def generation_metrics(
    samples: Sequence[str],
    *,
    quality_fn: Callable[[list[str]], np.ndarray] | None = None,
    junk_fn: Callable[[list[str]], list[bool]] | None = None,
) -> dict[str, float | int | None]:
    """Generation quality of a model's samples; words are whitespace-separated, case kept.

    - quality_mean: mean of quality_fn(samples) (the platform's quality classifier)
    - junk_rate: share of samples junk_fn flags (the curation engine's own filters)
    - repetition_4gram: per sample, duplicate 4-grams / 4-grams (1 - unique/total); mean over
      samples that have a 4-gram (degenerate loops score high, Holtzman et al. 2020)
    - distinct_2: unique bigrams / bigrams over all samples (Li et al. 2016)
    - replacement_rate: share of samples holding U+FFFD, bytes that do not decode (a model
      that has not learned which byte tokens go together writes broken UTF-8)
    A metric with nothing to measure is None.
    """
    samples = list(samples)
    words = [s.split() for s in samples]
    reps = []
    for w in words:
        grams = _ngrams(w, 4)
        if grams:
            reps.append(1.0 - len(set(grams)) / len(grams))
    bigrams = [g for w in words for g in _ngrams(w, 2)]
    metrics: dict[str, float | int | None] = {
        "n_samples": len(samples),
        "empty_rate": (sum(not s.strip() for s in samples) / len(samples)) if samples else None,
        "mean_words": float(np.mean([len(w) for w in words])) if samples else None,
        "repetition_4gram": float(np.mean(reps)) if reps else None,
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else None,
        "replacement_rate": (sum("\ufffd" in s for s in samples) / len(samples)) if samples else None,
        "quality_mean": None,
        "junk_rate": None,
    }
    if quality_fn is not None and samples:
        scores = np.asarray(quality_fn(samples), dtype=float)
        if scores.shape != (len(samples),):
            raise ValueError(f"quality_fn returned shape {scores.shape}, expected ({len(samples)},)")
        metrics["quality_mean"] = float(scores.mean())
    if junk_fn is not None and samples:
        flags = list(junk_fn(samples))
        if len(flags) != len(samples):
            raise ValueError(f"junk_fn returned {len(flags)} flags for {len(samples)} samples")
        metrics["junk_rate"] = sum(bool(f) for f in flags) / len(samples)
    return metrics


def split_document(text: str, tokenizer: Codec, prompt_tokens: int = 32) -> tuple[str, str]:
    """(prompt, continuation) split at a token boundary, for memorization probes."""
    ids = tokenizer.encode(text)
    return tokenizer.decode(ids[:prompt_tokens]), tokenizer.decode(ids[prompt_tokens:])


def _split_ids(tokenizer: Codec, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """Tokens of prompt + continuation as the model saw them in training, cut near the seam.

    Encoding the two halves apart would differ at the seam (" 44871" is one token in the
    document, "44871" another after a split), so the whole text is encoded and cut after the
    longest run of tokens that decodes to a prefix of the prompt.
    """
    full = tokenizer.encode(prompt + continuation)
    k = min(len(tokenizer.encode(prompt)), len(full))
    while k > 0 and not prompt.startswith(tokenizer.decode(full[:k])):
        k -= 1
    return full[:k], full[k:]


@torch.no_grad()
def matched_tokens(
    model: GPT,
    tokenizer: Codec,
    prompts_with_continuations: Sequence[tuple[str, str]],
    n_tokens: int = 32,
    device: str | torch.device | None = None,
    batch_size: int = 32,
) -> list[int]:
    """For each pair whose continuation has at least n_tokens tokens, how many of its first
    n_tokens the model's greedy continuation of the prompt reproduces before its first miss
    (0 to n_tokens; n_tokens is a verbatim continuation). Shorter pairs are left out."""
    dev = _device_of(model, device)
    probes: dict[int, list[tuple[list[int], list[int]]]] = {}  # grouped by prompt length
    for prompt, continuation in prompts_with_continuations:
        prompt_ids, rest = _split_ids(tokenizer, prompt, continuation)
        target = rest[:n_tokens]
        if len(target) == n_tokens:
            p = [tokenizer.eot_id, *prompt_ids]
            probes.setdefault(len(p), []).append((p, target))
    was_training = model.training
    model.eval()
    out: list[int] = []
    try:
        for length, group in probes.items():
            for i in range(0, len(group), batch_size):
                chunk = group[i : i + batch_size]
                idx = torch.tensor([p for p, _ in chunk], dtype=torch.long, device=dev)  # (b, L)
                want = torch.tensor([t for _, t in chunk], dtype=torch.long, device=dev)  # (b, n)
                with _autocast(dev):
                    got = model.generate(idx, n_tokens, temperature=0.0)[:, length:]  # (b, n)
                # tokens before the first miss: the cumulative product of the matches
                out += torch.cumprod((got == want).long(), dim=1).sum(dim=1).tolist()
    finally:
        model.train(was_training)
    return out


def memorization_rate(model: GPT, tokenizer: Codec, prompts_with_continuations: Sequence[tuple[str, str]],
                      n_tokens: int = 32, **options) -> float:
    """Share of prompts whose greedy continuation reproduces the true one for n_tokens tokens.

    Lee et al. 2022 ("Deduplicating Training Data Makes Language Models Better") count a
    training document as memorized when greedy decoding from its prefix emits the exact next
    tokens. Pairs whose continuation has fewer than n_tokens tokens cannot be judged and are
    left out; a ValueError if none is left. `options`: matched_tokens's device and batch_size.
    """
    matched = matched_tokens(model, tokenizer, prompts_with_continuations, n_tokens, **options)
    if not matched:
        raise ValueError(f"no continuation has {n_tokens} tokens; nothing to measure")
    return sum(m == n_tokens for m in matched) / len(matched)
