"""Whole-input inference under autocast: the training-time inferer for bf16 on CPUs and AMP on GPUs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer
from torch import nn

from medunet.utils.precision import autocast_context, resolve_autocast_dtype

__all__ = ["AutocastInferer"]


class AutocastInferer(Inferer):
    """``network(inputs)`` under ``torch.autocast`` for the device the inputs are on.

    MONAI's trainers enable autocast only on CUDA (``amp=True``). Used as a trainer's ``inferer``, this runs the
    forward pass in bf16 on CPUs with native bf16 (2-2.4x faster U-Net convolutions, see docs/performance.md) while
    the loss and the optimiser step stay in float32; gradients flow through autocast as usual and bf16 needs no
    gradient scaling. On CUDA prefer the trainer's own ``amp=True``, which adds the gradient scaler fp16 needs.

    Args:
        autocast: ``"auto"`` (bf16 where native, else none on CPU, fp16 on older GPUs), ``"bf16"``, ``"fp16"`` or None.
    """

    def __init__(self, autocast: str | torch.dtype | None = "auto") -> None:
        super().__init__()
        resolve_autocast_dtype(autocast, "cpu")  # reject unknown names at construction
        self.autocast = autocast

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        device = inputs.device
        if isinstance(network, nn.Module):
            device = next(network.parameters(), inputs).device
        with autocast_context(resolve_autocast_dtype(self.autocast, device), device):
            return network(inputs, *args, **kwargs)
