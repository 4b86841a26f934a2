"""Build the shipped tokenizer (train/tokenizer.json) from the clean reference text.

    python -m train.build_tokenizer [--input sample_data/reference.jsonl.gz] [--vocab-size 4096]

Trained once on clean reference text, never on a slice: every slice's model then sees the same
token boundaries, so their losses and samples compare. Deterministic: same input, same file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from curate.resources import sample_data_dir
from train.tokenizer import DEFAULT_VOCAB_SIZE, SHIPPED_PATH, train_bpe

DEFAULT_INPUT = sample_data_dir() / "reference.jsonl.gz"  # the bundled reference set, installed or not


def read_jsonl_texts(path: Path, field: str = "text") -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                text = json.loads(line).get(field)
                if isinstance(text, str) and text:
                    yield text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="JSONL(.gz) with a text field")
    ap.add_argument("--field", default="text")
    ap.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    ap.add_argument("--output", type=Path, default=SHIPPED_PATH)
    args = ap.parse_args(argv)
    if not args.input.is_file():
        print(f"error: input not found: {args.input}", file=sys.stderr)
        return 2
    tok = train_bpe(read_jsonl_texts(args.input, args.field), args.vocab_size)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tok.save(args.output)
    print(f"wrote {args.output} ({tok.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
