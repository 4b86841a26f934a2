"""Documents -> tokens -> fixed-length training sequences, exactly up to a token budget.

Fair comparison between slices means every model sees the same number of training tokens.
A slice with fewer tokens than the budget is repeated (pass after pass), and how many epochs
that took is recorded: a small clean slice seen four times is not the same experiment as a
big one seen once (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

T = TypeVar("T")


class TextTokenizer(Protocol):
    eot_id: int

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...


@dataclass
class PackStats:
    """What the packer did; filled in while it runs."""

    sequences: int = 0  # sequences yielded
    tokens: int = 0  # target tokens yielded (the budget's unit)
    docs_read: int = 0  # documents read, repeats included
    passes_started: int = 0  # passes over the data begun by the reader (it reads ahead)
    tokens_per_pass: int | None = None  # tokens (with EOTs) in one full pass, once one finished

    @property
    def epochs(self) -> float | None:
        """Tokens trained on / tokens in the data; None if no pass finished (then it is < 1)."""
        if self.tokens_per_pass is None:
            return None
        return self.tokens / self.tokens_per_pass


def buffer_shuffle(items: Iterable[T], buffer_size: int, rng: random.Random) -> Iterator[T]:
    """Approximate shuffle of a stream in bounded memory: emit a random item of a full buffer."""
    buf: list[T] = []
    for item in items:
        if len(buf) < buffer_size:
            buf.append(item)
            continue
        j = rng.randrange(buffer_size)
        yield buf[j]
        buf[j] = item
    rng.shuffle(buf)
    yield from buf


class SequencePacker:
    """Iterate over exactly token_budget // block_size sequences of block_size + 1 tokens.

    Documents are tokenized, each preceded by the end-of-text id, and concatenated into one
    stream; sequence i is stream[i*T : i*T + T + 1] (inputs = [:-1], targets = [1:]), so the
    sequences hold exactly the budget in target tokens. Document order is shuffled within each
    pass and sequence order across the stream, both from `seed`.
    """

    def __init__(
        self,
        texts: Callable[[], Iterable[str]],
        tokenizer: TextTokenizer,
        block_size: int,
        token_budget: int,
        *,
        seed: int = 0,
        doc_buffer: int = 1024,
        seq_buffer: int = 256,
        encode_batch: int = 256,
    ) -> None:
        if token_budget < block_size:
            raise ValueError(f"token_budget {token_budget} is smaller than one block ({block_size})")
        self.texts = texts
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.n_sequences = token_budget // block_size
        self.seed = seed
        self.doc_buffer = doc_buffer
        self.seq_buffer = seq_buffer
        self.encode_batch = encode_batch
        self.stats = PackStats()

    def _docs(self, rng: random.Random) -> Iterator[np.ndarray]:
        """Token arrays (EOT + document), pass after pass, forever.

        The end-of-text id goes before each document, so training sees "EOT, document" exactly
        as evaluation prompts the model ("EOT, prompt") to start a new document.
        """
        eot = np.array([self.tokenizer.eot_id], dtype=np.int32)
        while True:
            self.stats.passes_started += 1
            pass_tokens = 0
            batch: list[str] = []
            shuffled = buffer_shuffle(self.texts(), self.doc_buffer, rng)
            for text in _then_none(shuffled):
                if text is not None and text:
                    batch.append(text)
                if batch and (len(batch) >= self.encode_batch or text is None):
                    for ids in self.tokenizer.encode_batch(batch):
                        if ids:
                            self.stats.docs_read += 1
                            pass_tokens += len(ids) + 1
                            yield np.concatenate([eot, np.asarray(ids, dtype=np.int32)])
                    batch = []
            if pass_tokens == 0:
                raise ValueError("the training texts hold no tokens (empty slice?)")
            if self.stats.tokens_per_pass is None:
                self.stats.tokens_per_pass = pass_tokens

    def _windows(self, rng: random.Random) -> Iterator[np.ndarray]:
        T = self.block_size
        pending: list[np.ndarray] = []
        n_pending = 0
        for doc in self._docs(rng):
            pending.append(doc)
            n_pending += len(doc)
            if n_pending < T + 1:
                continue
            stream = np.concatenate(pending)
            n_win = (len(stream) - 1) // T
            for i in range(n_win):
                yield stream[i * T : i * T + T + 1]
            rest = stream[n_win * T :]  # the last target is the next window's first input
            pending, n_pending = [rest], len(rest)

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = PackStats()
        doc_rng = random.Random(f"docs-{self.seed}")
        seq_rng = random.Random(f"seqs-{self.seed}")
        windows = buffer_shuffle(self._windows(doc_rng), self.seq_buffer, seq_rng)
        for _ in range(self.n_sequences):
            seq = next(windows)
            self.stats.sequences += 1
            self.stats.tokens += self.block_size
            yield seq

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """(batch_size, block_size + 1) int64 arrays; the budget must fill whole batches."""
        if self.n_sequences % batch_size:
            raise ValueError(
                f"{self.n_sequences} sequences do not fill batches of {batch_size}; "
                "round the token budget to a multiple of batch_size * block_size"
            )
        buf: list[np.ndarray] = []
        for seq in self:
            buf.append(seq)
            if len(buf) == batch_size:
                yield np.stack(buf).astype(np.int64)
                buf = []


def _then_none(items: Iterable[T]) -> Iterator[T | None]:
    yield from items
    yield None
