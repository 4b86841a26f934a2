"""The Ray session: the engine's options, and joining a cluster (or starting a local Ray).

What the CLI needs before any work starts — a cluster is joined before the writer lock is
taken, so an unreachable address fails in seconds — and nothing heavy is imported here.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray; "auto" or "ray://head:10001": join a cluster
    work_dir: Path | None = None  # None: the store's artifacts folder/ray-work; on a cluster, a shared mount
    bucket_parts: int | None = None  # P for the bucket shuffle; None: 2 per CPU of the cluster
    keep_work_dir: bool = False


# --- the Ray session ------------------------------------------------------------------------


# How long the address of an existing cluster may take to accept a TCP connection. Ray's own
# connect retries an unreachable GCS for minutes (Ray 2.60 has no ray.init option to bound it).
CONNECT_TIMEOUT_S = 5.0
RAY_CLIENT_PORT = 10001


def cluster_endpoint(address: str | None) -> tuple[str, int] | None:
    """The (host, port) that ray.init(address) would connect to, or None when it would start
    a local Ray. Follows Ray's rules: RAY_ADDRESS wins; `auto` (and no address) mean the
    cluster of the last `ray start` on this machine; `ray://host[:port]` is Ray Client."""
    from curate.errors import CurateError, UsageError

    addr = os.environ.get("RAY_ADDRESS") or address
    if addr is not None and addr.startswith("ray://"):
        hostport = addr[len("ray://"):].split("/", 1)[0]
        host, sep, port = hostport.rpartition(":")
        if not sep:
            host, port = hostport, str(RAY_CLIENT_PORT)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--address {addr}: expected ray://host:port")
        return host.strip("[]"), int(port)
    from ray._private import services

    try:
        resolved = services.canonicalize_bootstrap_address(addr)
    except ConnectionError as exc:  # `auto` and no cluster running on this machine
        raise CurateError(f"--address {addr}: {exc}") from exc
    except ValueError as exc:
        raise UsageError(f"--address {addr}: not a Ray address (host:port, auto or ray://host:port)") from exc
    if resolved is None:
        return None
    host, sep, port = resolved.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--address {addr}: not a Ray address (host:port, auto or ray://host:port)")
    return host.strip("[]"), int(port)


def check_reachable(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within `timeout_s` (exit 1) when the cluster `address` names accepts no connection."""
    import socket

    from curate.errors import CurateError

    endpoint = cluster_endpoint(address)
    if endpoint is None:
        return
    host, port = endpoint
    shown = os.environ.get("RAY_ADDRESS") or address or "the last `ray start`"
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        why = f"no answer within {timeout_s:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise CurateError(
            f"cannot reach the Ray cluster at {shown} ({host}:{port}: {why}); "
            "is it running? Check --address (or RAY_ADDRESS), or leave it out to start a local Ray"
        ) from exc


def connect(opts: RayOptions) -> None:
    """Join the cluster that `opts` names now, before the store is locked, so that a wrong or
    unreachable address fails in seconds and never holds the writer lock. A local Ray (no
    cluster to join) is started later, by the first stage that needs it."""
    import ray

    if not ray.is_initialized() and cluster_endpoint(opts.address) is not None:
        ensure_ray(opts.address)


def ensure_ray(address: str | None = None) -> None:
    """Join the cluster at `address` (or start a local Ray) unless this process already has."""
    import ray
    import ray.data

    if not ray.is_initialized():
        from curate.errors import CurateError

        check_reachable(address)
        kwargs: dict = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address is not None:
            import curate

            # A remote cluster imports curate from the driver's copy; its dependencies must be
            # installed on the workers (the same image or `pip install curate[distributed]`).
            kwargs["runtime_env"] = {"py_modules": [str(Path(curate.__file__).parent)]}
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            what = f"join the Ray cluster at {address}" if address else "start or join Ray"
            raise CurateError(f"cannot {what}: {type(exc).__name__}: {exc}") from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "use_datasource_v2") and "RAY_DATA_USE_DATASOURCE_V2" not in os.environ:
        # Ray Data 2.60's Parquet reader V2 starts 32 FooterReader actors, a new worker process
        # each, for every read_parquet, and the stages read Parquet several times; reader V1
        # reads the same files in ordinary tasks (bench/RESULTS.md, "Ray: a two-node cluster on
        # one machine": the two-node sample run was 5-7x slower with V2).
        ctx.use_datasource_v2 = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


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
