"""Rand error of the ISBI 2012 EM segmentation challenge: the foreground-restricted adapted Rand error.

Definition (Arganda-Carreras et al., "Crowdsourcing the creation of image segmentation algorithms for
connectomics", Front. Neuroanat. 9:142, 2015, doi:10.3389/fnana.2015.00142; the same formula as
``skimage.metrics.adapted_rand_error``). Let ``p_ij`` count the voxels with true segment ``i`` and predicted segment
``j``, counted only where the ground truth is foreground (true label != 0: "foreground-restricted"), ``t_i = sum_j
p_ij`` and ``s_j = sum_i p_ij`` the segment sizes and ``n`` the number of counted voxels. With ordered pairs of
distinct voxels,

    pairs in the same segment in both:  P = sum_ij p_ij^2 - n
    ... in the prediction:              S = sum_j s_j^2 - n
    ... in the ground truth:            T = sum_i t_i^2 - n

    precision = P / S,  recall = P / T,  Rand error = 1 - 2 P / (S + T)  (one minus their harmonic mean).

A predicted label 0 inside the true foreground is one segment like any other (as in scikit-image). Note: scikit-image
0.26 returns this precision and recall swapped relative to its own docstring (scikit-image issue #6485); the error,
symmetric in the two, is the same. Undefined ratios (no pairs at all) are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from monai.utils import MetricReduction

from medunet.metrics.base import LabelMapMetric
from medunet.metrics.utils import as_tensor, check_label_components, check_same_shape, contingency, instance_maps

__all__ = ["RandErrorMetric", "RandScores", "rand_error"]


class RandScores(NamedTuple):
    """Adapted Rand error with the pair precision and recall it combines."""

    error: float
    precision: float
    recall: float


def _rand_scores(pred: torch.Tensor, true: torch.Tensor) -> RandScores:
    """Rand scores of two instance label maps of one image (0 in ``true`` is ignored)."""
    table = contingency(true, pred)
    keep = table.true_ids[table.true_index] != 0
    counts = table.counts[keep].astype(np.float64)
    n = counts.sum()
    true_sizes = table.true_sizes[table.true_ids != 0].astype(np.float64)
    pred_sizes = np.bincount(table.pred_index[keep], weights=counts, minlength=len(table.pred_ids))
    both = counts @ counts - n
    in_pred = pred_sizes @ pred_sizes - n
    in_true = true_sizes @ true_sizes - n
    with np.errstate(invalid="ignore", divide="ignore"):
        return RandScores(float(1 - 2 * both / (in_pred + in_true)), float(both / in_pred), float(both / in_true))


def rand_error(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    label_components: str = "pred",
    connectivity: int | None = None,
) -> RandScores:
    """Adapted Rand error of one image (2D or 3D), see the module docstring for the definition.

    Args:
        pred: predicted labels ``(*spatial)``, integer; semantic classes or instance ids (see ``label_components``).
        target: true labels ``(*spatial)``; voxels labelled 0 are not counted.
        label_components: which inputs are semantic maps to split into connected components of their foreground
            (label > 0) before scoring: ``"pred"`` (default: a network's class map against instance labels),
            ``"target"``, ``"both"`` (ISBI 2012: cell interior vs membrane maps on both sides) or ``"none"``
            (both already are instance/segment label maps).
        connectivity: neighbourhood of the connected components, 1 (faces) to ndim (all neighbours, the default).

    Returns:
        ``RandScores(error, precision, recall)`` as floats; 0 error means identical segmentations.

    Example:
        >>> rand_error(np.array([[1, 1, 2, 2]]), np.array([[1, 1, 2, 2]]), label_components="none").error
        0.0
    """
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    check_same_shape(pred, target)
    return _rand_scores(*instance_maps(pred, target, label_components, connectivity))


class RandErrorMetric(LabelMapMetric):
    """Cumulative adapted Rand error (ISBI 2012), per image, averaged over images.

    Inputs are batch-first ``(B, C, *spatial)`` (or lists of channel-first items) with 2 or 3 spatial axes: ``C ==
    1`` holds integer labels, ``C > 1`` is one-hot or class scores (argmax). Per image it buffers ``(error,
    precision, recall)``; :meth:`aggregate` returns the NaN-ignoring mean of ``metric_name``.

    Args:
        label_components: which inputs are semantic and split into connected components, see :func:`rand_error`.
        connectivity: neighbourhood of the connected components (default: all neighbours).
        metric_name: ``"error"`` (default), ``"precision"``, ``"recall"``, or a sequence of them (returns a dict).
        reduction: MONAI reduction over images; ``"none"`` gives the per-image values ``(B, 1)``.
        get_not_nans: also return the count of non-NaN values.

    Example::

        metric = RandErrorMetric(label_components="both")  # ISBI 2012: cell/membrane maps on both sides
        metric(y_pred=pred_classes, y=true_classes)          # (B, 1, H, W) each
        metric.aggregate().item()
    """

    stats = RandScores._fields

    def __init__(
        self,
        label_components: str = "pred",
        connectivity: int | None = None,
        metric_name: str | Sequence[str] = "error",
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(metric_name, reduction, get_not_nans)
        self.label_components = check_label_components(label_components)
        self.connectivity = connectivity

    def _image_stats(self, pred: torch.Tensor, true: torch.Tensor) -> list[float]:
        return list(_rand_scores(*instance_maps(pred, true, self.label_components, self.connectivity)))
