"""Dice + pixel-weighted cross-entropy, for same-padded 3D U-Nets trained on sparse or weighted annotations."""

from __future__ import annotations

import torch
from monai.losses import DiceLoss
from monai.networks.utils import one_hot
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from medunet.losses.weighted_ce import WeightedCrossEntropyLoss, cross_entropy_map

__all__ = ["WeightedDiceCELoss"]


class WeightedDiceCELoss(_Loss):
    """``lambda_dice * Dice + lambda_ce * weighted CE`` on softmax logits and class-index labels.

    The Dice term is MONAI's :class:`~monai.losses.DiceLoss` on ``softmax(pred)`` and the one-hot label, with
    every voxel of weight 0 removed from its sums (intersection, prediction and ground-truth volumes): unlabeled
    voxels of a sparse annotation count nowhere. Positive weights only select voxels for the Dice term; their
    values weight the cross-entropy term (:class:`~medunet.losses.WeightedCrossEntropyLoss`). Label and weight
    are centre-cropped to the prediction as in the cross-entropy (valid networks).

    Args:
        include_background: keep channel 0 in the Dice term.
        squared_pred: squared terms in the Dice denominator.
        jaccard: soft Jaccard instead of Dice.
        smooth_nr: added to the Dice numerator.
        smooth_dr: added to the Dice denominator.
        batch: sum the Dice terms over the batch before dividing (one Dice per class for the whole batch).
        lambda_dice: weight of the Dice term (>= 0).
        lambda_ce: weight of the cross-entropy term (>= 0).
        reduction: ``"mean"`` (Dice averaged over batch and classes; CE ``sum(w * ce) / sum(w)``) or ``"sum"``.
        check_values: as in :class:`~medunet.losses.WeightedCrossEntropyLoss`.

    Shapes (``forward(pred, label, weight=None)``): pred ``(B, C, *spatial)`` logits with ``C >= 2``;
    label and weight ``(B, 1, *spatial_l)`` or ``(B, *spatial_l)``, ``spatial_l >= spatial``; returns a scalar.

    Examples::

        >>> loss = WeightedDiceCELoss(include_background=False)
        >>> pred = torch.randn(2, 3, 32, 32, 16, requires_grad=True)
        >>> label = torch.randint(0, 3, (2, 1, 32, 32, 16))
        >>> weight = (torch.rand(2, 1, 32, 32, 16) > 0.7).float()   # 30% of the voxels annotated
        >>> loss(pred, label, weight).backward()
    """

    def __init__(
        self,
        include_background: bool = True,
        squared_pred: bool = False,
        jaccard: bool = False,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        reduction: LossReduction | str = LossReduction.MEAN,
        check_values: bool = True,
    ) -> None:
        reduction = str(reduction.value if isinstance(reduction, LossReduction) else reduction)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}.")
        if lambda_dice < 0 or lambda_ce < 0:
            raise ValueError(f"lambda_dice and lambda_ce must be >= 0, got {lambda_dice!r} and {lambda_ce!r}.")
        super().__init__(reduction=reduction)
        self.dice = DiceLoss(
            include_background=include_background,
            squared_pred=squared_pred,
            jaccard=jaccard,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
            reduction=reduction,
        )
        self.ce = WeightedCrossEntropyLoss(reduction=reduction, check_values=check_values)
        self.lambda_dice = float(lambda_dice)
        self.lambda_ce = float(lambda_ce)

    def forward(self, pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        pred, label, weight = self.ce.prepare(pred, label, weight)
        if pred.shape[1] < 2:
            raise ValueError(f"pred needs at least 2 class channels (softmax), got shape {tuple(pred.shape)}.")
        with torch.autocast(device_type=pred.device.type, enabled=False):
            prob = torch.softmax(pred.float(), dim=1)
            truth = one_hot(label, num_classes=pred.shape[1], dtype=prob.dtype)
            if weight is not None:
                mask = (weight > 0).to(prob.dtype)
                prob, truth = prob * mask, truth * mask
            dice = self.dice(prob, truth)
        return self.lambda_dice * dice + self.lambda_ce * self.ce.reduce(cross_entropy_map(pred, label), weight)
