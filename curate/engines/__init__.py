"""Execution engines for the expensive stages (score, dedup).

`local` is curate.jobs / curate.dedup.lsh (polars, DuckDB, a process pool). `ray` runs the
same scorers and signature code on Ray Data (curate/engines/ray.py) and writes the same
rows into the store. Ray is an optional dependency: the `[distributed]` extra.
"""
from __future__ import annotations

ENGINES = ("local", "ray")


def ray_available() -> bool:
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def require_ray() -> None:
    """Fail with an install hint, as a usage error, when `--engine ray` lacks Ray."""
    if not ray_available():
        from curate.errors import UsageError

        raise UsageError("--engine ray needs Ray Data: pip install 'curate[distributed]' (ray[data])")
