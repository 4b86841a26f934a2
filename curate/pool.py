"""Work fanned out to a process pool, results taken back in order, a few batches in flight.

The local engine's scoring and the quality stage's rescoring both run a Python function that
holds the GIL (signals, fastText) over batches read from the store, and write each result back
in the order the batches were read.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def ordered_map(fn: Callable, items: Iterable[tuple[Any, tuple]], *, workers: int,
                initializer: Callable, initargs: tuple = (), ahead: int = 2) -> Iterator[tuple[Any, Any]]:
    """(context, fn(*args)) for each (context, args) of `items`, in their order.

    With `workers` <= 1 everything runs in this process (after initializer(*initargs)).
    Otherwise a spawn pool of `workers` processes (no fork after DuckDB has started its
    threads), each set up by initializer(*initargs), with at most ahead x workers items
    submitted and not yet taken back: memory holds that many batches, not the input.
    """
    if workers <= 1:
        initializer(*initargs)
        for context, args in items:
            yield context, fn(*args)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        pending: collections.deque = collections.deque()
        for context, args in items:
            pending.append((context, pool.submit(fn, *args)))
            if len(pending) >= ahead * workers:
                context0, future = pending.popleft()
                yield context0, future.result()
        while pending:
            context0, future = pending.popleft()
            yield context0, future.result()
