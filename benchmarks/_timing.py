"""Timing helper shared by the benchmark scripts (they run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_time(
    repeats: int,
    fn: Callable[..., Any],
    *args: Any,
    warmup: bool = False,
    sync: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn(*args, **kwargs)`` and the last result.

    ``warmup`` makes one untimed call first (kernel selection, allocator, caches); ``sync`` is called after each call
    inside the timing (e.g. ``torch.cuda.synchronize``).
    """
    if warmup:
        fn(*args, **kwargs)
        if sync:
            sync()
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        if sync:
            sync()
        best = min(best, time.perf_counter() - start)
    return best, result
