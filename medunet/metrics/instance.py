"""Object-level detection scores: one-to-one matching of predicted and true instances at an IoU threshold.

A predicted object and a true object match when their IoU is at least ``iou_threshold`` (0.5 by default, the
usual choice for cell and nucleus segmentation), each object matching at most one other. Matched pairs are true
positives (TP), unmatched predictions false positives (FP), unmatched true objects false negatives (FN)::

    precision = TP / (TP + FP),  recall = TP / (TP + FN),  F1 = 2 TP / (2 TP + FP + FN).

IoUs come from one contingency table of the two label maps (no loop over pairs of masks). Above 0.5 a match is
necessarily unique (two objects cannot both overlap a third by more than half of their union); at exactly 0.5 and
below, candidate pairs can conflict and the matching maximises the number of matches, then their total IoU
(``scipy.optimize.linear_sum_assignment`` on the conflicting candidates only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.utils import MetricReduction
from scipy.optimize import linear_sum_assignment

from medunet.metrics.base import LabelMapMetric
from medunet.metrics.utils import as_tensor, check_label_components, check_same_shape, contingency, instance_maps

__all__ = ["InstanceMatch", "InstanceMatchingMetric", "match_instances"]


def _ratios(tp, fp, fn):
    """precision, recall, F1 from counts (numpy or torch); 0/0 gives NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


@dataclass(frozen=True)
class InstanceMatch:
    """Result of :func:`match_instances`: counts, scores, and the matched pairs by their original labels."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    pairs: np.ndarray  # (TP, 2): (predicted label, true label) per match
    ious: np.ndarray  # (TP,): IoU of each matched pair


def _one_to_one(rows: np.ndarray, cols: np.ndarray, ious: np.ndarray) -> np.ndarray:
    """Indices of a one-to-one subset of the candidate pairs ``(rows[k], cols[k])``: all of them when no object is in
    two candidates, else a maximum matching with the largest total IoU among the conflicting ones."""
    _, r, r_count = np.unique(rows, return_inverse=True, return_counts=True)
    _, c, c_count = np.unique(cols, return_inverse=True, return_counts=True)
    conflict = (r_count[r] > 1) | (c_count[c] > 1)
    if not conflict.any():
        return np.arange(len(rows))
    # matching many pairs beats any gain in IoU: weight = (#candidates + 1) + IoU per candidate pair
    weights = np.zeros((r_count.size, c_count.size))
    weights[r[conflict], c[conflict]] = conflict.sum() + 1 + ious[conflict]
    best_r, best_c = linear_sum_assignment(weights, maximize=True)
    chosen = np.zeros_like(weights, dtype=bool)
    chosen[best_r, best_c] = weights[best_r, best_c] > 0
    return np.flatnonzero(~conflict | chosen[r, c])


def _match(pred: torch.Tensor, true: torch.Tensor, iou_threshold: float) -> InstanceMatch:
    """Match the instances of two label maps of one image (0 = background in both)."""
    table = contingency(true, pred)
    t_ids, p_ids = table.true_ids[table.true_index], table.pred_ids[table.pred_index]
    overlap = (t_ids != 0) & (p_ids != 0)
    inter = table.counts[overlap]
    ti, pi = table.true_index[overlap], table.pred_index[overlap]
    iou = inter / (table.true_sizes[ti] + table.pred_sizes[pi] - inter)
    candidate = iou >= iou_threshold
    ti, pi, iou = ti[candidate], pi[candidate], iou[candidate]
    keep = _one_to_one(pi, ti, iou)
    tp = len(keep)
    fp = int(np.count_nonzero(table.pred_ids)) - tp
    fn = int(np.count_nonzero(table.true_ids)) - tp
    precision, recall, f1 = (float(v) for v in _ratios(np.float64(tp), np.float64(fp), np.float64(fn)))
    pairs = np.stack([table.pred_ids[pi[keep]], table.true_ids[ti[keep]]], axis=1).reshape(tp, 2)
    return InstanceMatch(tp, fp, fn, precision, recall, f1, pairs, iou[keep].astype(np.float64))


def _check_threshold(iou_threshold: float) -> float:
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"`iou_threshold` must be in (0, 1], got {iou_threshold}.")
    return float(iou_threshold)


def match_instances(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    iou_threshold: float = 0.5,
    label_components: str = "pred",
    connectivity: int | None = None,
) -> InstanceMatch:
    """Match predicted to true objects of one image (2D or 3D) at ``IoU >= iou_threshold``, one to one.

    Args:
        pred: predicted labels ``(*spatial)``: a semantic map (see ``label_components``) or instance ids, 0 background.
        target: true instance labels ``(*spatial)``, 0 background (or semantic, see ``label_components``).
        iou_threshold: smallest IoU of a match, in (0, 1].
        label_components: which inputs are semantic maps to split into connected components of their foreground:
            ``"pred"`` (default: a network's class map against instance labels), ``"target"``, ``"both"``, ``"none"``.
        connectivity: neighbourhood of the connected components, 1 (faces) to ndim (all neighbours, the default).

    Returns:
        :class:`InstanceMatch` with TP/FP/FN, precision, recall, F1 (NaN where a ratio is 0/0: no objects at all),
        the matched ``(pred label, true label)`` pairs and their IoUs.

    Example:
        >>> m = match_instances(np.array([[1, 1, 0, 2]]), np.array([[3, 3, 3, 0]]), label_components="none")
        >>> (m.tp, m.fp, m.fn, m.pairs.tolist())
        (1, 1, 0, [[1, 3]])
    """
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    check_same_shape(pred, target)
    maps = instance_maps(pred, target, label_components, connectivity)
    return _match(*maps, _check_threshold(iou_threshold))


class InstanceMatchingMetric(LabelMapMetric):
    """Cumulative object detection scores (one-to-one matching at an IoU threshold): F1, precision, recall.

    Inputs are batch-first ``(B, C, *spatial)`` (or lists of channel-first items) with 2 or 3 spatial axes: ``C ==
    1`` holds integer labels, ``C > 1`` is one-hot or class scores (argmax). Per image it buffers ``(tp, fp, fn,
    precision, recall, f1)``.

    Args:
        iou_threshold: smallest IoU of a match, in (0, 1].
        label_components: which inputs are semantic and split into connected components, see :func:`match_instances`.
        connectivity: neighbourhood of the connected components (default: all neighbours).
        metric_name: ``"f1"`` (default), ``"precision"``, ``"recall"``, ``"tp"``, ``"fp"``, ``"fn"``, or a sequence of
            them (returns a dict).
        pooled: ``True`` (default): precision, recall and F1 of the TP/FP/FN summed over all images, so every object
            counts once; ``False``: the per-image scores reduced with ``reduction`` (images without any object are
            NaN and skipped). Counts are always summed unless ``reduction="none"``.
        reduction: MONAI reduction over images for the unpooled case; ``"none"`` gives per-image values ``(B, 1)``.
        get_not_nans: also return the count of non-NaN values.
    """

    stats = ("tp", "fp", "fn", "precision", "recall", "f1")

    def __init__(
        self,
        iou_threshold: float = 0.5,
        label_components: str = "pred",
        connectivity: int | None = None,
        metric_name: str | Sequence[str] = "f1",
        pooled: bool = True,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(metric_name, reduction, get_not_nans)
        self.iou_threshold = _check_threshold(iou_threshold)
        self.label_components = check_label_components(label_components)
        self.connectivity = connectivity
        self.pooled = pooled

    def _image_stats(self, pred: torch.Tensor, true: torch.Tensor) -> list[float]:
        m = _match(*instance_maps(pred, true, self.label_components, self.connectivity), self.iou_threshold)
        return [m.tp, m.fp, m.fn, m.precision, m.recall, m.f1]

    def _reduce(self, values: torch.Tensor, name: str, reduction: MetricReduction | str):
        if reduction == MetricReduction.NONE:
            return super()._reduce(values, name, reduction)
        if name in ("tp", "fp", "fn"):
            return super()._reduce(values, name, MetricReduction.SUM)
        if not self.pooled:
            return super()._reduce(values, name, reduction)
        ratios = dict(zip(("precision", "recall", "f1"), _ratios(*values[:, :3].sum(dim=0))))
        value = ratios[name].float()
        return value, (~value.isnan()).float()
