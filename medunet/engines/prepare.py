"""``prepare_batch`` for training: the batch as plain tensors, without MONAI's per-operation metadata tracking.

A ``MetaTensor`` batch sends every operation of the forward pass through ``MetaTensor.__torch_function__`` to carry
affines and transform histories that training never reads: several hundred Python calls per iteration for a 3D
U-Net. :class:`PlainTensorBatch` hands the network ``torch.Tensor`` views of the same data instead (no copy).
Evaluation and inference keep their MetaTensors, which saving and inverting transforms need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines.utils import PrepareBatch, default_prepare_batch

__all__ = ["PlainTensorBatch", "as_plain_tensor"]


def as_plain_tensor(x: Any) -> Any:
    """``x`` as a ``torch.Tensor`` sharing its data when it is a MetaTensor; anything else unchanged."""
    return x.as_tensor() if isinstance(x, MetaTensor) else x


class PlainTensorBatch(PrepareBatch):
    """MONAI's ``default_prepare_batch`` (``(image, label)`` moved to the engine's device), as plain tensors."""

    def __call__(
        self,
        batchdata: Mapping[str, torch.Tensor] | torch.Tensor,
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        image, label = default_prepare_batch(batchdata, device, non_blocking, **kwargs)
        return as_plain_tensor(image), as_plain_tensor(label)
