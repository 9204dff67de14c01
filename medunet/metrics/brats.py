"""BraTS region metrics: Dice and HD95 on the nested regions WT, TC, ET, built on MONAI's ``DiceMetric`` and
``HausdorffDistanceMetric``.

Inputs are batch-first ``(B, C, *spatial)`` (or lists of channel-first items), prediction and target each in any of:

- ``C == 1``: an MSD Task01 label map (0 background, 1 edema, 2 non-enhancing/necrosis, 3 enhancing);
- ``C == 4``: one-hot (or scores) over those four classes, reduced by argmax;
- ``C == 3``: binary region masks in the order WT, TC, ET (a region network's thresholded sigmoid output).

Label maps become regions as ``WT = {1, 2, 3}``, ``TC = {2, 3}``, ``ET = {3}``. Empty regions follow the BraTS
challenge: Dice is 1 when the region is absent from both prediction and truth and 0 when absent from one only;
HD95 is 0 when absent from both and ``empty_value`` (NaN by default, skipped by the reductions; BraTS uses 373.13 mm)
when absent from one only.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.metrics import DiceMetric, HausdorffDistanceMetric
from monai.utils import MetricReduction

from medunet.metrics.utils import as_tensor, check_same_shape, to_label_map
from medunet.transforms.brats import REGION_NAMES

__all__ = ["BratsRegionDiceMetric", "BratsRegionHausdorffDistanceMetric", "brats_region_dice", "brats_region_hd95"]


def to_brats_regions(x: torch.Tensor, name: str = "y_pred") -> torch.Tensor:
    """``(B, 1 | 3 | 4, *spatial)`` -> float region masks ``(B, 3, *spatial)`` (WT, TC, ET), see the module doc."""
    if x.ndim < 3 or x.shape[1] not in (1, 3, 4):
        raise ValueError(
            f"`{name}` must be (B, C, *spatial) with C = 1 (MSD labels), 3 (WT, TC, ET masks) or 4 (one-hot MSD "
            f"classes), got shape {tuple(x.shape)}."
        )
    if x.shape[1] == 3:
        return x.float()
    label = to_label_map(x, name)
    if label.min() < 0 or label.max() > 3:
        raise ValueError(
            f"`{name}` must hold MSD Task01 labels 0..3, got values in [{int(label.min())}, {int(label.max())}] "
            "(BraTS numbering? map it with medunet.transforms.MapBratsLabelsToMSD)."
        )
    return torch.stack([label >= 1, label >= 2, label == 3], dim=1).float()


class BratsRegionDiceMetric(DiceMetric):
    """Dice of the BraTS regions WT, TC, ET: MONAI's ``DiceMetric`` on region channels made from label maps.

    The buffer holds ``(B, 3)`` Dice values per image and region.

    Args:
        reduction: MONAI reduction; ``"mean"`` (default) averages over images and regions, ``"mean_batch"`` gives one
            value per region.
        get_not_nans: also return the count of non-NaN values.
        ignore_empty: ``False`` (default) follows BraTS (1 when both are empty); ``True`` makes such cases NaN.
        return_with_label: with ``reduction="mean_batch"``, return ``{"WT": .., "TC": .., "ET": ..}`` (ignite then
            records each region as its own metric).
    """

    def __init__(
        self,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        ignore_empty: bool = False,
        return_with_label: bool = False,
    ) -> None:
        labels = list(REGION_NAMES) if return_with_label else False
        super().__init__(True, reduction, get_not_nans, ignore_empty, return_with_label=labels)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super()._compute_tensor(to_brats_regions(y_pred, "y_pred"), to_brats_regions(y, "y"))


class BratsRegionHausdorffDistanceMetric(HausdorffDistanceMetric):
    """95th-percentile Hausdorff distance (HD95, symmetric) of the regions WT, TC, ET, via MONAI.

    The buffer holds ``(B, 3)`` distances per image and region, in voxels, or in mm when the call passes
    ``spacing=...`` (as MONAI's metric does: ``metric(y_pred, y, spacing=(1.0, 1.0, 1.0))``) or when
    ``spacing="meta"`` and the predictions are MetaTensors (the voxel size is then read from their affine, which is
    how handlers that cannot pass ``spacing`` get distances in mm).

    Args:
        percentile: percentile of the surface distances (95 for HD95; ``None`` for the maximum).
        empty_value: the value when a region is absent from exactly one of prediction and truth.
        reduction: MONAI reduction, see :class:`BratsRegionDiceMetric`.
        get_not_nans: also return the count of non-NaN values.
        spacing: ``None`` (voxels unless the call passes ``spacing``) or ``"meta"`` (from the prediction's affine).
    """

    def __init__(
        self,
        percentile: float | None = 95,
        empty_value: float = float("nan"),
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        spacing: str | None = None,
    ) -> None:
        super().__init__(include_background=True, percentile=percentile, reduction=reduction, get_not_nans=get_not_nans)
        if spacing not in (None, "meta"):
            raise ValueError(f"spacing must be None or 'meta', got {spacing!r}.")
        self.empty_value = empty_value
        self.spacing = spacing

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs) -> torch.Tensor:  # type: ignore[override]
        if self.spacing == "meta" and "spacing" not in kwargs and isinstance(y_pred, MetaTensor):
            kwargs["spacing"] = [float(v) for v in affine_to_spacing(y_pred.affine.reshape(-1, 4, 4)[0])]
        pred, true = to_brats_regions(y_pred, "y_pred"), to_brats_regions(y, "y")
        with warnings.catch_warnings():  # absent regions are expected (no ET in a case) and handled below
            warnings.filterwarnings("ignore", message=".*is all 0, this may result in nan/inf distance")
            hd = super()._compute_tensor(pred, true, **kwargs)
        spatial = tuple(range(2, pred.ndim))
        has_pred, has_true = pred.any(dim=spatial), true.any(dim=spatial)
        hd = torch.where(has_pred ^ has_true, torch.full_like(hd, self.empty_value), hd)
        return torch.where(~has_pred & ~has_true, torch.zeros_like(hd), hd)


def _regions_of_image(metric, pred, target, **kwargs) -> dict[str, float]:
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    check_same_shape(pred, target)
    values = metric(pred[None, None], target[None, None], **kwargs)[0]
    return dict(zip(REGION_NAMES, values.double().tolist()))


def brats_region_dice(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Dice of WT, TC, ET for one case: MSD label maps ``(*spatial)`` (numpy or torch) -> ``{"WT", "TC", "ET"}``."""
    return _regions_of_image(BratsRegionDiceMetric(), pred, target)


def brats_region_hd95(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    spacing: float | tuple[float, ...] | None = None,
    empty_value: float = float("nan"),
) -> dict[str, float]:
    """HD95 of WT, TC, ET for one case: MSD label maps ``(*spatial)`` -> distances in mm if ``spacing`` is given
    (one value or one per axis), else in voxels."""
    return _regions_of_image(BratsRegionHausdorffDistanceMetric(empty_value=empty_value), pred, target, spacing=spacing)
