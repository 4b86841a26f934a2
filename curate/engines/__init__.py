"""Execution engines for the expensive stages (score, dedup), by name.

`local` runs them on this machine (curate/engines/local.py); `ray` runs the same scorers
and signature code on Ray Data (curate/engines/ray.py) and writes the same rows into the
store. Ray is an optional dependency (the `[distributed]` extra), imported only when the
Ray engine runs. To add an engine: subclass `Engine` (curate/engines/base.py) and add it to
ENGINES; the CLI's --engine choices and options come from this table.
"""
from __future__ import annotations

import argparse

from curate.engines.base import Engine, ScoreReport, signature_device
from curate.engines.local import LocalEngine
from curate.engines.ray import RayEngine

ENGINES: dict[str, type[Engine]] = {e.name: e for e in (LocalEngine, RayEngine)}
DEFAULT = LocalEngine.name

__all__ = ["DEFAULT", "ENGINES", "Engine", "LocalEngine", "RayEngine", "ScoreReport", "add_engine_arguments",
           "engine_from_args", "signature_device"]


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine (its choices are ENGINES) and every engine's own options."""
    parser.add_argument("--engine", choices=list(ENGINES), default=DEFAULT,
                        help="; ".join(e.help for e in ENGINES.values()))
    for engine in ENGINES.values():
        engine.add_arguments(parser)


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The engine `--engine` names, ready to run (called before the writer lock)."""
    return ENGINES[args.engine].from_args(args)
