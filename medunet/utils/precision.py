"""Which reduced precision to run a network in: bf16 where the hardware has it, fp16 autocast on older GPUs.

On a CPU bf16 pays off only with native instructions (AVX-512 BF16 or AMX): there bf16 autocast runs U-Net
convolutions 2-2.4x faster than fp32 (see docs/performance.md); without them it is emulated and slower.
"""

from __future__ import annotations

import contextlib
import functools
import platform

import torch

__all__ = ["autocast_context", "resolve_autocast_dtype", "supports_bf16"]

_NAMES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


@functools.cache
def _cpu_has_native_bf16() -> bool:
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def supports_bf16(device: torch.device | str) -> bool:
    """True where bf16 runs natively: a CUDA device of compute capability >= 8.0, or a CPU with AVX-512 BF16/AMX."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_has_native_bf16()
    return False


def resolve_autocast_dtype(autocast: str | torch.dtype | bool | None, device: torch.device | str) -> torch.dtype | None:
    """Turn an ``autocast`` option into a dtype for ``device`` (None: full precision).

    ``None``/``False``: no autocast. ``"bf16"``/``"fp16"`` (or the dtype): that dtype. ``"auto"``/``True``: bf16 where
    :func:`supports_bf16`, else fp16 on CUDA, else none.
    """
    device = torch.device(device)
    if autocast is None or autocast is False:
        return None
    if isinstance(autocast, torch.dtype):
        if autocast not in (torch.bfloat16, torch.float16):
            raise ValueError(f"autocast dtype must be torch.bfloat16 or torch.float16, got {autocast}.")
        return autocast
    if autocast is True or autocast == "auto":
        if supports_bf16(device):
            return torch.bfloat16
        return torch.float16 if device.type == "cuda" else None
    if autocast in _NAMES:
        return _NAMES[autocast]
    raise ValueError(f"autocast must be None, 'auto', 'bf16' or 'fp16', got {autocast!r}.")


def autocast_context(dtype: torch.dtype | None, device: torch.device | str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``device`` in ``dtype``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
