"""Small GPT models trained per data slice, and their evaluation.

Pure of the store: functions take plain texts and return dataclasses; the CLI wires them up.
"""

from train.evaluate import (
    bits_per_byte,
    generate_samples,
    generation_metrics,
    memorization_rate,
    split_document,
)
from train.model import GPT, PRESETS, GPTConfig, preset_config
from train.tokenizer import BPETokenizer, load_tokenizer, train_bpe
from train.trainer import (
    Checkpoint,
    CheckpointError,
    TrainConfig,
    TrainResult,
    load_checkpoint,
    pick_device,
    save_checkpoint,
    train,
)

__all__ = [
    "BPETokenizer",
    "Checkpoint",
    "CheckpointError",
    "GPT",
    "GPTConfig",
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "bits_per_byte",
    "generate_samples",
    "generation_metrics",
    "load_checkpoint",
    "load_tokenizer",
    "memorization_rate",
    "pick_device",
    "preset_config",
    "save_checkpoint",
    "split_document",
    "train",
    "train_bpe",
]
