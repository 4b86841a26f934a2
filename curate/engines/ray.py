"""The Ray engine: the score and dedup stages on Ray Data (curate/engines/ray_data.py), on a
local Ray or on a cluster joined with --address (curate/engines/ray_session.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from curate.engines.base import Engine
from curate.engines.ray_session import CONNECT_TIMEOUT_S, RayOptions, connect, require_ray


class RayEngine(Engine):
    """The same stages on Ray Data: a local Ray, or a cluster joined with --address."""

    name = "ray"
    help = "ray: the same stages on Ray Data (extra [distributed])"

    def __init__(self, opts: RayOptions | None = None):
        self.opts = opts or RayOptions()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--address", default=None,
                            help="Ray cluster address (host:port, auto or ray://host:10001); joined before the "
                                 "store is locked, and one that accepts no connection within "
                                 f"{CONNECT_TIMEOUT_S:g} s fails with exit code 1")
        parser.add_argument("--work-dir", type=Path, default=None,
                            help="with --engine ray: a folder the driver and every worker see, for Parquet shards")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RayEngine:
        require_ray()
        opts = RayOptions(address=args.address, work_dir=args.work_dir)
        connect(opts)
        return cls(opts)

    def score(self, con, db, *, batch_size=None, on_batch=None):
        from curate.engines.ray_data import DOC_SHARD_ROWS, score_ray

        return score_ray(con, db, opts=self.opts, batch_size=batch_size or DOC_SHARD_ROWS, on_batch=on_batch)

    def dedup(self, con, db, threshold, spec, run_id, *, device="cpu", on_batch=None):
        from curate.engines.ray_data import dedup_ray

        return dedup_ray(con, threshold, spec, run_id, db=db, opts=self.opts, device=device, on_batch=on_batch)
