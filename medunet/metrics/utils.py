"""Input handling shared by the metrics: batch-first tensors to label maps, connected components, contingency tables.

Every metric class takes MONAI's batch-first layout ``(B, C, *spatial)`` (or a list of channel-first
``(C, *spatial)`` items): ``C == 1`` is a label map of integer class indices or instance ids, ``C > 1`` is one-hot
(or per-class scores) and is turned into a label map by ``argmax`` over the channels. The plain functions take one
image ``(*spatial)`` as a numpy array or a torch tensor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "Contingency",
    "as_tensor",
    "check_same_shape",
    "connected_components",
    "contingency",
    "instance_maps",
    "to_label_map",
]

LABEL_COMPONENTS = ("none", "pred", "target", "both")


def as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a torch tensor (shares memory when it can); raises TypeError for anything else."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"`{name}` must be a numpy array or a torch tensor, got {type(x).__name__}.")


def check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise ValueError unless ``pred`` and ``target`` have the same shape."""
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}."
        )


def _integer_labels(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` (any shape) as int64, refusing non-integral floats (probabilities that were never thresholded)."""
    if x.dtype == torch.bool or not torch.is_floating_point(x):
        return x.long()
    if not torch.equal(x, torch.round(x)):
        raise ValueError(
            f"`{name}` with one channel must hold integer labels, got non-integral values (for example "
            f"{x[x != torch.round(x)].flatten()[0].item():.4g}); threshold or argmax the network output first."
        )
    return x.long()


def to_label_map(x: torch.Tensor, name: str = "y_pred") -> torch.Tensor:
    """Batch-first ``(B, C, *spatial)`` to a label map ``(B, *spatial)`` of int64.

    ``C == 1``: the channel already holds integer labels. ``C > 1``: one-hot or per-class scores, argmax over ``C``.
    """
    if x.ndim < 3:
        raise ValueError(f"`{name}` must be batch-first (B, C, *spatial) with 1-3 spatial axes, got {tuple(x.shape)}.")
    if x.shape[1] == 1:
        return _integer_labels(x[:, 0], name)
    return x.argmax(dim=1)


def connected_components(mask: torch.Tensor, connectivity: int | None = None) -> torch.Tensor:
    """Label the connected components of a foreground mask ``(*spatial)``: 0 background, 1..K components.

    Args:
        mask: any array whose non-zero entries are foreground.
        connectivity: neighbours counted as connected, 1 (faces, 4/6-connectivity) up to ``mask.ndim``
            (8/26-connectivity); ``None`` means full connectivity (``mask.ndim``).
    """
    ndim = mask.ndim
    connectivity = ndim if connectivity is None else connectivity
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"`connectivity` must be in [1, {ndim}] for a {ndim}D mask, got {connectivity}.")
    structure = ndimage.generate_binary_structure(ndim, connectivity)
    labels, _ = ndimage.label(mask.cpu().numpy() != 0, structure=structure)
    return torch.from_numpy(labels.astype(np.int64)).to(mask.device)


def check_label_components(label_components: str) -> str:
    """Validate the ``label_components`` option of the instance metrics."""
    if label_components not in LABEL_COMPONENTS:
        raise ValueError(f"`label_components` must be one of {LABEL_COMPONENTS}, got {label_components!r}.")
    return label_components


def instance_maps(
    pred: torch.Tensor, true: torch.Tensor, label_components: str = "pred", connectivity: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Instance label maps of one image: the inputs named by ``label_components`` are semantic (foreground = label > 0)
    and become connected components; the others already are instance labels (0 = background) and stay as they are.
    """
    check_label_components(label_components)
    if label_components in ("pred", "both"):
        pred = connected_components(pred > 0, connectivity)
    if label_components in ("target", "both"):
        true = connected_components(true > 0, connectivity)
    return pred, true


class Contingency(NamedTuple):
    """Sparse contingency table of two label maps, labels renumbered ``0..n-1`` in sorted order of the originals.

    ``counts[k]`` voxels carry true label ``true_index[k]`` and predicted label ``pred_index[k]``;
    ``true_ids``/``pred_ids`` map the new numbers back to the original labels; ``true_sizes``/``pred_sizes`` are
    the voxel counts per label. All entries are int64 numpy arrays.
    """

    true_index: np.ndarray
    pred_index: np.ndarray
    counts: np.ndarray
    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_sizes: np.ndarray
    pred_sizes: np.ndarray


def contingency(true: torch.Tensor | np.ndarray, pred: torch.Tensor | np.ndarray) -> Contingency:
    """Contingency table of two integer label maps of one image, with no loop over labels: one counting pass over
    the voxels when the labels are small non-negative integers (the usual case), sorting otherwise."""
    true = np.asarray(true.cpu() if isinstance(true, torch.Tensor) else true, dtype=np.int64).reshape(-1)
    pred = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred, dtype=np.int64).reshape(-1)
    if true.size and min(true.min(), pred.min()) >= 0:
        rows, cols = int(true.max()) + 1, int(pred.max()) + 1
        if rows * cols <= 4 * true.size + 1024:
            dense = np.bincount(true * cols + pred, minlength=rows * cols).reshape(rows, cols)
            true_sizes, pred_sizes = dense.sum(axis=1), dense.sum(axis=0)
            true_ids, pred_ids = np.flatnonzero(true_sizes), np.flatnonzero(pred_sizes)
            table = dense[np.ix_(true_ids, pred_ids)]
            true_index, pred_index = np.nonzero(table)
            counts = table[true_index, pred_index]
            return Contingency(
                true_index, pred_index, counts, true_ids, pred_ids, true_sizes[true_ids], pred_sizes[pred_ids]
            )
    true_ids, t, true_sizes = np.unique(true, return_inverse=True, return_counts=True)
    pred_ids, p, pred_sizes = np.unique(pred, return_inverse=True, return_counts=True)
    joint, counts = np.unique(t.reshape(-1) * len(pred_ids) + p.reshape(-1), return_counts=True)
    return Contingency(
        true_index=joint // len(pred_ids),
        pred_index=joint % len(pred_ids),
        counts=counts,
        true_ids=true_ids,
        pred_ids=pred_ids,
        true_sizes=true_sizes,
        pred_sizes=pred_sizes,
    )
