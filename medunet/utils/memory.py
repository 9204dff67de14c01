"""Keep freed CPU memory in the process for reuse, instead of handing it back to the kernel after every tensor.

glibc's ``malloc`` serves each block above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and unmaps it
on ``free``. A 3D U-Net forward on a 96³ window allocates and frees about a GiB of such activations, so every window
page-faults all of it in again: on a 2-core CPU that is a third of an fp32 forward pass (see docs/performance.md).
With mmap off (``M_MMAP_MAX = 0``) and the heap never trimmed (``M_TRIM_THRESHOLD``), freed blocks stay in the heap
and the next window reuses them, as tcmalloc or jemalloc would; the cost is that the process keeps its peak.

:func:`cpu_memory_reuse` does this for one block of code and gives the memory back when the outermost block ends
(``malloc_trim``); :class:`~medunet.inferers.OverlapTileInferer` wraps each call in it. Off glibc (macOS, Windows,
musl) it does nothing.

It is a scope, not a process setting, on purpose: reused blocks hold stale data where fresh mappings hold zeros, and
native code that reads memory it never wrote then sees garbage. Keeping it on for whole 2-process gloo training runs
made one process abort at exit (``terminate called without an active exception``) in 3 of 28 runs; with reuse
only inside the inferer, 0 of 16. oneDNN's bf16 weight gradient at depth 2, worked around in
:mod:`medunet.networks.unet`, is such a read too.

Example::

    with cpu_memory_reuse():
        probs = sliding_window_inference(image, (96, 96, 96), 1, network)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import platform
import threading
from collections.abc import Iterator

__all__ = ["cpu_memory_reuse", "cpu_memory_reuse_available"]

# mallopt(3) parameters and glibc's defaults for them
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int

_lock = threading.Lock()
_state = {"depth": 0}


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def cpu_memory_reuse_available() -> bool:
    """True where the C library's allocator can be told to keep freed memory (Linux with glibc)."""
    return _glibc() is not None


def _keep(libc: ctypes.CDLL) -> None:
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)


def _release(libc: ctypes.CDLL) -> None:
    libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
    libc.malloc_trim(0)


@contextlib.contextmanager
def cpu_memory_reuse(enabled: bool = True) -> Iterator[None]:
    """Within the block, freed CPU memory stays in the heap and is reused; when the outermost block ends glibc's
    defaults are set back and the free memory is returned to the kernel. Re-entrant and thread-safe; a no-op when
    ``enabled`` is False or the allocator is not glibc's.

    Setting the defaults back leaves glibc's mmap threshold where it had grown to, instead of letting it grow
    further: a speed detail, never a correctness one.
    """
    libc = _glibc() if enabled else None
    if libc is None:
        yield
        return
    with _lock:
        if _state["depth"] == 0:
            _keep(libc)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                _release(libc)
