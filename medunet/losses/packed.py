"""Label and weight packed in one target tensor, for trainers that call ``loss_function(pred, target)`` only.

MONAI's :class:`~monai.engines.SupervisedTrainer` passes one target to the loss. The batch adapter
:class:`medunet.engines.PrepareBatchWithWeight` packs ``target = cat([label, weight], dim=1)`` (channel 0 the class
index, channel 1 the weight); :class:`PackedWeightLoss` unpacks it for a loss taking ``(pred, label, weight)``.
"""

from __future__ import annotations

import torch
from torch.nn.modules.loss import _Loss

__all__ = ["PackedWeightLoss", "split_label_weight"]


def split_label_weight(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Split a packed ``(B, 2, *spatial)`` target into label ``(B, 1, *spatial)`` and weight ``(B, 1, *spatial)``.

    A ``(B, 1, *spatial)`` target is a plain label: the weight is ``None`` (all ones).
    """
    if target.ndim < 3 or target.shape[1] not in (1, 2):
        raise ValueError(
            "packed target must be (B, 2, *spatial) (channel 0 label, channel 1 weight) or (B, 1, *spatial), "
            f"got shape {tuple(target.shape)}."
        )
    if target.shape[1] == 1:
        return target, None
    return target[:, :1], target[:, 1:]


class PackedWeightLoss(_Loss):
    """Call ``loss(pred, label, weight)`` with label and weight unpacked from one target tensor.

    Args:
        loss: a loss taking ``(pred, label, weight)``, e.g. :class:`~medunet.losses.WeightedCrossEntropyLoss` or
            :class:`~medunet.losses.WeightedDiceCELoss`.

    Shapes: ``forward(pred, target)`` with pred ``(B, C, *spatial)`` and target ``(B, 2, *spatial_t)`` (label,
    weight) or ``(B, 1, *spatial_t)`` (label only, weight all ones); the wrapped loss crops to ``spatial``.

    Bundle config::

        "loss": {"_target_": "medunet.losses.PackedWeightLoss",
                 "loss": {"_target_": "medunet.losses.WeightedCrossEntropyLoss"}}
    """

    def __init__(self, loss: torch.nn.Module) -> None:
        if not callable(loss):
            raise TypeError(f"loss must be a callable loss module, got {type(loss).__name__}.")
        super().__init__(reduction=getattr(loss, "reduction", "mean"))
        self.loss = loss

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        label, weight = split_label_weight(target)
        return self.loss(pred, label, weight)
