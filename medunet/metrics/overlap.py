"""Voxel-overlap metrics: per-class IoU and Dice on label maps (built on MONAI's ``MeanIoU``/``DiceMetric``) and the
ISBI 2012 pixel error.

The U-Net paper reports the foreground IoU for the ISBI cell tracking data (PhC-U373 0.9203, DIC-HeLa 0.7756) and
the pixel error for the ISBI 2012 EM data (0.0611). The pixel error here is the fraction of misclassified pixels:
for binary maps, the squared Euclidean distance between the two label images over the pixel count, the original
definition of the challenge (later leaderboards moved to ``1 - max F-score``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.metrics import MeanIoU
from monai.metrics.meandice import compute_dice
from monai.metrics.meaniou import compute_iou
from monai.networks.utils import one_hot
from monai.utils import MetricReduction

from medunet.metrics.base import LabelMapMetric
from medunet.metrics.utils import as_tensor, check_same_shape, to_label_map

__all__ = ["IoUMetric", "PixelErrorMetric", "dice", "iou", "pixel_error"]


def _one_hot_pair(y_pred: torch.Tensor, y: torch.Tensor, num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring a batch pair ``(B, C, *spatial)`` to one-hot with the same ``C``: label maps (``C == 1``) are expanded
    to ``num_classes`` channels, or to the channel count of the other input when that one is one-hot."""
    if y_pred.shape[1] > 1 and y.shape[1] > 1:
        return y_pred, y
    n = num_classes or max(y_pred.shape[1], y.shape[1])
    if n < 2:
        raise ValueError(
            "both inputs are label maps (B, 1, *spatial): pass `num_classes` (counting the background, 2 for a "
            f"binary mask), got num_classes={num_classes}."
        )
    pred = one_hot(to_label_map(y_pred, "y_pred")[:, None], n) if y_pred.shape[1] == 1 else y_pred
    true = one_hot(to_label_map(y, "y")[:, None], n) if y.shape[1] == 1 else y
    return pred, true


class IoUMetric(MeanIoU):
    """MONAI's ``MeanIoU`` that also takes label maps, and scores only the foreground classes by default.

    Inputs are batch-first ``(B, C, *spatial)`` or lists of channel-first items: ``C > 1`` one-hot (binarised),
    ``C == 1`` integer label maps expanded to ``num_classes`` channels. The buffer holds the IoU per image and class
    ``(B, num_classes - 1)`` (with the background excluded); reductions are MONAI's.

    Args:
        num_classes: classes including the background; needed when both inputs are label maps (2 for a binary mask).
        include_background: also score class 0. Defaults to ``False``: the foreground IoU of the U-Net paper.
        reduction, get_not_nans, ignore_empty, ignore_index: as in ``monai.metrics.MeanIoU``
            (``ignore_empty=True``: NaN, skipped by the reduction, where the true class is absent).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        include_background: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        ignore_empty: bool = True,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__(include_background, reduction, get_not_nans, ignore_empty, ignore_index)
        self.num_classes = num_classes

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super()._compute_tensor(*_one_hot_pair(y_pred, y, self.num_classes))


def _per_class(
    compute: Callable[..., torch.Tensor],
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    num_classes: int | None = None,
    include_background: bool = False,
    ignore_empty: bool = True,
) -> np.ndarray:
    """Run a MONAI per-class metric on two label maps of one image, returning one float64 value per class."""
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    check_same_shape(pred, target)
    pred, target = to_label_map(pred[None, None], "pred"), to_label_map(target[None, None], "target")
    n = num_classes or max(2, int(max(pred.max(), target.max())) + 1)
    pair = _one_hot_pair(pred[:, None], target[:, None], n)
    values = compute(*pair, include_background=include_background, ignore_empty=ignore_empty)
    return values[0].double().numpy()


def iou(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, **options) -> np.ndarray:
    """IoU per class of one image: label maps ``(*spatial)`` (numpy or torch) -> ``(num_classes - 1,)`` float64.

    Options (keywords): ``num_classes`` (default: the largest label + 1, at least 2), ``include_background=False``,
    ``ignore_empty=True`` (a class absent from ``target`` scores NaN; with ``False``, 1 if also absent from ``pred``,
    else 0). ``iou(p, t)[0]`` of binary masks is the foreground IoU.
    """
    return _per_class(compute_iou, pred, target, **options)


def dice(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, **options) -> np.ndarray:
    """Dice per class of one image, through ``monai.metrics.compute_dice``; options and result as in :func:`iou`.

    For batches use ``monai.metrics.DiceMetric(num_classes=..., include_background=False)``, which already takes
    label maps.
    """
    return _per_class(compute_dice, pred, target, **options)


def _pixel_error(pred: torch.Tensor, true: torch.Tensor, binary: bool) -> float:
    if binary:
        pred, true = pred > 0, true > 0
    return float(torch.count_nonzero(pred != true)) / max(pred.numel(), 1)


def pixel_error(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, binary: bool = False) -> float:
    """Fraction of pixels whose label differs, for one image ``(*spatial)`` (numpy or torch).

    Args:
        pred: predicted class labels.
        target: true class labels.
        binary: compare foreground (label > 0) against background only, so that instance labels or several
            foreground classes count as one class.
    """
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    check_same_shape(pred, target)
    return _pixel_error(pred, target, binary)


class PixelErrorMetric(LabelMapMetric):
    """Cumulative pixel error (fraction of misclassified pixels) per image, averaged over images.

    Inputs are batch-first ``(B, C, *spatial)`` or lists of channel-first items: ``C == 1`` integer labels, ``C > 1``
    one-hot or class scores (argmax). The buffer holds one value per image ``(B, 1)``.

    Args:
        binary: compare foreground (label > 0) against background only, see :func:`pixel_error`.
        reduction: MONAI reduction over images; ``"none"`` keeps the per-image values.
        get_not_nans: also return the count of non-NaN values.
    """

    stats = ("error",)

    def __init__(
        self, binary: bool = False, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False
    ) -> None:
        super().__init__("error", reduction, get_not_nans)
        self.binary = binary

    def _image_stats(self, pred: torch.Tensor, true: torch.Tensor) -> list[float]:
        return [_pixel_error(pred, true, self.binary)]
