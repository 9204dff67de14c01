"""Small shared helpers: precision policy (which autocast dtype the hardware supports) and CPU memory reuse."""

from medunet.utils.memory import cpu_memory_reuse, cpu_memory_reuse_available
from medunet.utils.precision import autocast_context, resolve_autocast_dtype, supports_bf16

__all__ = [
    "autocast_context",
    "cpu_memory_reuse",
    "cpu_memory_reuse_available",
    "resolve_autocast_dtype",
    "supports_bf16",
]
