"""Segmentation metrics as MONAI ``CumulativeIterationMetric`` classes (usable by ``IgniteMetricHandler`` and MONAI's
evaluators) plus plain functions for single images.

- :class:`IoUMetric` / :func:`iou`, :func:`dice`: per-class overlap on label maps (MONAI's ``MeanIoU`` and Dice).
- :class:`PixelErrorMetric` / :func:`pixel_error`: fraction of misclassified pixels (ISBI 2012).
- :class:`RandErrorMetric` / :func:`rand_error`: foreground-restricted adapted Rand error (ISBI 2012).
- :class:`InstanceMatchingMetric` / :func:`match_instances`: object F1, precision, recall at IoU >= 0.5.
- :class:`BratsRegionDiceMetric`, :class:`BratsRegionHausdorffDistanceMetric` / :func:`brats_region_dice`,
  :func:`brats_region_hd95`: WT/TC/ET region Dice and HD95 from MSD label maps or region channels.
"""

from medunet.metrics.base import LabelMapMetric
from medunet.metrics.brats import (
    BratsRegionDiceMetric,
    BratsRegionHausdorffDistanceMetric,
    brats_region_dice,
    brats_region_hd95,
    to_brats_regions,
)
from medunet.metrics.instance import InstanceMatch, InstanceMatchingMetric, match_instances
from medunet.metrics.overlap import IoUMetric, PixelErrorMetric, dice, iou, pixel_error
from medunet.metrics.rand import RandErrorMetric, RandScores, rand_error
from medunet.metrics.utils import connected_components, contingency

__all__ = [
    "BratsRegionDiceMetric",
    "BratsRegionHausdorffDistanceMetric",
    "InstanceMatch",
    "InstanceMatchingMetric",
    "IoUMetric",
    "LabelMapMetric",
    "PixelErrorMetric",
    "RandErrorMetric",
    "RandScores",
    "brats_region_dice",
    "brats_region_hd95",
    "connected_components",
    "contingency",
    "dice",
    "iou",
    "match_instances",
    "pixel_error",
    "rand_error",
    "to_brats_regions",
]
