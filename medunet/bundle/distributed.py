"""Run one-off preparation (dataset generation, splits) once per job when a bundle trains with several processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch.distributed as dist

__all__ = ["is_rank_zero", "rank_zero_first"]

T = TypeVar("T")


def is_rank_zero() -> bool:
    """True outside distributed runs and on rank 0."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def rank_zero_first(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on rank 0 first, then on the other ranks once rank 0 is done.

    ``fn`` must be idempotent, as medunet's dataset preparation is: rank 0 generates a missing synthetic dataset and
    writes the split, the others then find both in place. Outside distributed runs it is a plain call.
    """
    distributed = dist.is_available() and dist.is_initialized()
    if distributed and dist.get_rank() != 0:
        dist.barrier()
    try:
        return fn(*args, **kwargs)
    finally:
        if distributed and dist.get_rank() == 0:
            dist.barrier()
