"""Pixel-wise weighted softmax cross-entropy (Ronneberger et al. 2015, eq. 1; Cicek et al. 2016).

``E = sum_x w(x) * -log p_{l(x)}(x)`` with ``p = softmax(logits)`` over the class channel, ``l(x)`` the true
class and ``w(x)`` a per-pixel weight map: the 2015 paper's border-emphasising map, or the 3D U-Net's sparse
annotation mask where weight 0 marks unlabeled voxels that must not contribute.

Valid (unpadded) networks return predictions smaller than their input; labels and weights of the input's size
are centre-cropped to the prediction here, so a 572 -> 388 network trains on 572-pixel label tiles as they come.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = [
    "WeightedCrossEntropyLoss",
    "crop_to_prediction",
    "cross_entropy_map",
    "to_prediction_layout",
    "weighted_mean",
]


def _plain(x: torch.Tensor) -> torch.Tensor:
    """The tensor under a MetaTensor (keeps autograd), so losses return plain tensors."""
    return x.as_tensor() if isinstance(x, MetaTensor) else x


def crop_to_prediction(pred: torch.Tensor, target: torch.Tensor, name: str = "label") -> torch.Tensor:
    """Centre-crop the spatial axes of ``target`` to those of ``pred``.

    Args:
        pred: ``(B, C, *spatial)``.
        target: ``(B, K, *spatial_t)`` with ``spatial_t >= spatial`` per axis and an even difference (the
            valid network's margin lost on both sides).
        name: what ``target`` is, for the error message.

    Returns:
        ``target[..., m_0 : m_0 + n_0, ...]`` with ``m_i = (spatial_t[i] - spatial[i]) / 2``; ``target`` itself
        when the sizes already match.

    Raises:
        ValueError: the number of spatial axes differs, or a difference is negative or odd.
    """
    pred_size, size = tuple(pred.shape[2:]), tuple(target.shape[2:])
    if size == pred_size:
        return target
    if len(size) != len(pred_size):
        raise ValueError(
            f"{name} must have the prediction's {len(pred_size)} spatial axes, got {name} shape "
            f"{tuple(target.shape)} and prediction shape {tuple(pred.shape)}."
        )
    for d, (n, m) in enumerate(zip(size, pred_size)):
        if n < m or (n - m) % 2:
            raise ValueError(
                f"cannot centre-crop {name} of spatial size {size} to prediction {tuple(pred.shape)}: spatial axis "
                f"{d} differs by {n - m}; expected a non-negative, even difference (a margin on both sides)."
            )
        if n != m:
            target = target.narrow(d + 2, (n - m) // 2, m)
    return target


def to_prediction_layout(pred: torch.Tensor, target: torch.Tensor | None, name: str) -> torch.Tensor | None:
    """Bring a label or weight map to ``(B, 1, *spatial)`` and crop it to the prediction.

    Accepts ``(B, 1, *spatial)`` or ``(B, *spatial)`` with ``spatial`` at least ``pred``'s spatial size.
    """
    if target is None:
        return None
    target = _plain(target)
    if target.ndim == pred.ndim - 1:
        target = target.unsqueeze(1)
    if target.ndim != pred.ndim or target.shape[0] != pred.shape[0] or target.shape[1] != 1:
        raise ValueError(
            f"{name} must be (B, 1, *spatial) or (B, *spatial) for a prediction (B, C, *spatial) = "
            f"{tuple(pred.shape)}, got {name} shape {tuple(target.shape)}."
        )
    return crop_to_prediction(pred, target, name)


def _check_values(label: torch.Tensor, weight: torch.Tensor | None, num_classes: int) -> None:
    """Class indices must be integers in ``[0, num_classes)``, weights non-negative (one device sync)."""
    checks = {"range": ((label < 0) | (label >= num_classes)).any()}
    if label.is_floating_point():
        checks["fraction"] = (label != torch.round(label)).any()
    if weight is not None:
        checks["negative"] = (weight < 0).any()
    found = dict(zip(checks, torch.stack(list(checks.values())).tolist()))
    if found["range"] or found.get("fraction"):
        hint = " and non-integer values (resample labels with mode 'nearest')" if found.get("fraction") else ""
        raise ValueError(
            f"label must hold integer class indices in [0, {num_classes}) for {num_classes} prediction channels, "
            f"got values in [{label.min().item()}, {label.max().item()}]{hint}."
        )
    if found.get("negative"):
        raise ValueError(f"weight must be non-negative, got a minimum of {weight.min().item()}.")


def weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum(weight * values) / sum(weight)``, and 0 (with a zero gradient, graph kept) when ``sum(weight) == 0``."""
    total = (weight * values).sum()
    norm = weight.sum()
    return total / torch.where(norm > 0, norm, torch.ones_like(norm))


class WeightedCrossEntropyLoss(_Loss):
    """Pixel-wise weighted softmax cross-entropy ``E = -sum_x w(x) log p_{l(x)}(x)``.

    Args:
        reduction: ``"mean"``: ``sum(w * ce) / sum(w)``, the weighted average over every pixel of the batch, so
            weight-0 pixels are truly ignored (they count neither in the sum nor in the normaliser); 0 when all
            weights are 0. ``"sum"``: ``sum(w * ce)`` (the paper's E). ``"none"``: the map ``w * ce`` of shape
            ``(B, 1, *spatial)``.
        check_values: check that labels are integer class indices in range and weights are non-negative
            (costs one device sync per call; turn off on GPU once the data pipeline is trusted).

    Shapes (``forward(pred, label, weight=None)``):
        - pred: ``(B, C, *spatial)`` logits, 2D or 3D, any float dtype (the loss is computed in float32, also
          under bf16/fp16 autocast, via a stable ``log_softmax``).
        - label: ``(B, 1, *spatial_l)`` or ``(B, *spatial_l)`` class indices (integer or integer-valued float).
        - weight: same layout as ``label`` (``spatial_w`` may differ from ``spatial_l``), non-negative;
          ``None`` means all ones (plain cross-entropy).

        Label and weight may be larger than the prediction (valid networks): they are centre-cropped to
        ``spatial`` with ``(spatial_l - spatial) / 2`` removed per side, which must be a non-negative integer.

    Examples::

        >>> loss = WeightedCrossEntropyLoss()
        >>> pred = torch.randn(1, 2, 388, 388, requires_grad=True)       # UNet(2, 1, 2) on a 572 tile
        >>> label = torch.randint(0, 2, (1, 1, 572, 572))
        >>> weight = torch.rand(1, 1, 572, 572)
        >>> loss(pred, label, weight).backward()
    """

    def __init__(self, reduction: LossReduction | str = LossReduction.MEAN, check_values: bool = True) -> None:
        reduction = str(reduction.value if isinstance(reduction, LossReduction) else reduction)
        if reduction not in {r.value for r in LossReduction}:
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        super().__init__(reduction=reduction)
        self.check_values = check_values

    def prepare(
        self, pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Validate and crop: returns ``pred``, ``label`` ``(B, 1, *spatial)`` int64 and ``weight`` (or None)."""
        pred = _plain(pred)
        if pred.ndim < 3:
            raise ValueError(f"pred must be (B, C, *spatial) logits, got shape {tuple(pred.shape)}.")
        label = to_prediction_layout(pred, label, "label")
        weight = to_prediction_layout(pred, weight, "weight")
        if self.check_values:
            _check_values(label, weight, pred.shape[1])
        return pred, label.long(), weight

    def forward(self, pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        pred, label, weight = self.prepare(pred, label, weight)
        return self.reduce(cross_entropy_map(pred, label), weight)

    def reduce(self, ce: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        """Apply the weights and the reduction to a ``(B, 1, *spatial)`` float32 cross-entropy map."""
        if weight is None:
            weight = torch.ones_like(ce)
        weight = weight.to(ce.dtype)
        if self.reduction == LossReduction.MEAN.value:
            return weighted_mean(ce, weight)
        if self.reduction == LossReduction.SUM.value:
            return (weight * ce).sum()
        return weight * ce


def cross_entropy_map(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``-log softmax(pred)[label]`` in float32.

    ``pred`` ``(B, C, *s)`` logits and ``label`` ``(B, 1, *s)`` int64 give ``(B, 1, *s)``; autocast is switched off.
    """
    with torch.autocast(device_type=pred.device.type, enabled=False):
        log_p = F.log_softmax(pred.float(), dim=1)
        return -log_p.gather(1, label)
