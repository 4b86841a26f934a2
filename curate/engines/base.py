"""What an engine is: the two expensive stages, run on some executor, writing the same rows.

An engine scores the documents that have no signals of this version, and near-deduplicates
at a threshold; everything else (ingest, slicing, validation, export) runs in the store on
the driver. The engine-independent parts of both stages live here, so each engine writes
only how it distributes the work.
"""
from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from curate.errors import UsageError

if TYPE_CHECKING:  # the CLI builds its parser from the engines: nothing heavy at import
    import duckdb

    from curate.dedup.lsh import DedupReport
    from curate.dedup.minhash import SignatureSpec


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    rescored_stale: int
    signals_version: str
    quality_model: str | None
    seconds: float


@dataclass(frozen=True)
class ScorePlan:
    """What a score stage starts from, whichever engine runs it."""

    signals_version: str
    stale: int  # rows scored by an older signal version: dropped and scored again
    quality_model: str | None  # the classifier's file when one is trained, else None


def plan_scoring(con: duckdb.DuckDBPyConnection, db: Path) -> ScorePlan:
    """Make sure `signals` has every registry column; count the stale rows; find the model."""
    from curate import store
    from curate.signals import SIGNALS_VERSION, signals

    store.ensure_signals_table(con, [(s.name, s.dtype) for s in signals()])
    stale = store.stale_signal_count(con, SIGNALS_VERSION)
    qpath = store.quality_model_path(db)
    return ScorePlan(SIGNALS_VERSION, stale, str(qpath) if qpath.exists() else None)


def finish_scoring(con: duckdb.DuckDBPyConnection) -> None:
    """After the per-document signals: the corpus-level ones, which new documents change."""
    from curate.dedup.lines import update_common_lines
    from curate.web.scores import update_web_signals

    update_common_lines(con)
    update_web_signals(con)  # counted at ingest from the page, kept in the documents' metadata


def signature_device(requested: str) -> str:
    """MinHash on the GPU when one is present and torch sees it; numpy on CPU otherwise."""
    if requested not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if requested == "cuda" and not has_cuda:
        raise UsageError("--device cuda: no CUDA device is visible to torch")
    return "cuda" if has_cuda else "cpu"


class Engine(ABC):
    """One way to run the score and dedup stages. A new engine is one subclass registered in
    curate/engines/__init__.py; the CLI's --engine choices and options come from there."""

    name: ClassVar[str]
    help: ClassVar[str]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The engine's own command-line options (none by default)."""
        return None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Engine:
        """The engine a command line asks for, ready to run: called before the writer lock is
        taken, so that whatever can fail at once (a cluster that does not answer) does."""
        return cls()

    @abstractmethod
    def score(self, con: duckdb.DuckDBPyConnection, db: Path, *, batch_size: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> ScoreReport:
        """Signals for every document without signals of this version (stale rows replaced)."""

    @abstractmethod
    def dedup(self, con: duckdb.DuckDBPyConnection, db: Path, threshold: float, spec: SignatureSpec,
              run_id: int, *, device: str = "cpu", on_batch: Callable[[int], None] | None = None
              ) -> DedupReport:
        """Signatures for new documents, then bands, verified pairs and clusters at `threshold`."""
