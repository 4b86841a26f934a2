"""The one tokenizer every slice's model shares: byte-level BPE, trained once, shipped.

Byte-level (GPT-2 style) so that any text, however dirty, encodes without unknown tokens and
decodes back to the same string (bits-per-byte relies on that). The end-of-text id is kept
outside the BPE vocabulary: the `tokenizers` library would otherwise match the literal string
"<|endoftext|>" inside a document and turn scraped text into a control token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

SHIPPED_PATH = Path(__file__).with_name("tokenizer.json")
DEFAULT_VOCAB_SIZE = 4096  # including the end-of-text id


class BPETokenizer:
    """Byte-level BPE over `tokenizers`, plus one end-of-text id after the BPE vocabulary."""

    def __init__(self, hf: HFTokenizer) -> None:
        self._hf = hf
        self.eot_id: int = hf.get_vocab_size()
        self.vocab_size: int = self.eot_id + 1
        digest = hashlib.sha256(hf.to_str().encode("utf-8")).hexdigest()[:10]
        # stored with every run and checkpoint: two tokenizers share a name only if identical
        self.name: str = f"bpe{self.vocab_size}-{digest}"

    def encode(self, text: str) -> list[int]:
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Encode many texts at once (Rust threads); same ids as `encode` one by one."""
        return [e.ids for e in self._hf.encode_batch_fast(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self._hf.decode([i for i in ids if i != self.eot_id], skip_special_tokens=False)

    def save(self, path: Path) -> None:
        Path(path).write_text(self._hf.to_str(pretty=True), encoding="utf-8")

    def __repr__(self) -> str:
        return f"BPETokenizer(name={self.name!r})"


def train_bpe(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> BPETokenizer:
    """Train a byte-level BPE whose total vocabulary (with end-of-text) is `vocab_size`.

    Deterministic for the same texts in the same order.
    """
    if vocab_size <= 257:
        raise ValueError(f"vocab_size must exceed the 256 byte symbols plus end-of-text, got {vocab_size}")
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,
        min_frequency=2,
        show_progress=False,
        # all 256 byte symbols up front, so unseen bytes never become unknown tokens
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    hf.train_from_iterator(texts, trainer=trainer)
    return BPETokenizer(hf)


def load_tokenizer(path: Path | str | None = None) -> BPETokenizer:
    """The shipped tokenizer (train/tokenizer.json) or one saved at `path`."""
    p = Path(path) if path is not None else SHIPPED_PATH
    if not p.is_file():
        hint = " Build it with `python -m train.build_tokenizer`." if path is None else ""
        raise FileNotFoundError(f"tokenizer file not found: {p}.{hint}")
    return BPETokenizer(HFTokenizer.from_file(str(p)))
