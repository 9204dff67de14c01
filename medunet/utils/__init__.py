"""Small shared helpers: precision policy (which autocast dtype the hardware supports)."""

from medunet.utils.precision import autocast_context, resolve_autocast_dtype, supports_bf16

__all__ = ["autocast_context", "resolve_autocast_dtype", "supports_bf16"]
