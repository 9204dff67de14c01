"""Training targets for touching cells: instance labels -> background / cell / border classes.

The paper separates touching cells by background pixels obtained with morphological operations, so that the network
learns to cut there. Here a pixel is *border* when it lies within ``border_distance`` of two different instances,
i.e. where the dilations of two instances (by a Euclidean ball of that radius) overlap. That marks both sides of a
touching interface and the background in narrow gaps. Border pixels are taken out of the cells.

Class ids (``mode="border"``): 0 background, 1 cell, 2 border. ``mode="separated"``: 0/1 with the border pixels
inside cells set to 0 (the paper's binary target). ``mode="binary"``: 0/1 plain foreground (``labels > 0``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from scipy import ndimage as ndi

from medunet.utils.arrays import as_label_array, check_spacing, from_numpy_like, output_keys, split_channel

__all__ = [
    "BACKGROUND",
    "BORDER",
    "CELL",
    "InstanceToSemantic",
    "InstanceToSemanticd",
    "instance_border",
    "instance_to_semantic",
]

BACKGROUND, CELL, BORDER = 0, 1, 2
MODES = ("border", "separated", "binary")


def _check_options(mode: str, border_distance: float) -> None:
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
    if not border_distance > 0:
        raise ValueError(f"`border_distance` must be positive, got {border_distance!r}.")


def _ball(radius: float, spacing: Sequence[float]) -> np.ndarray:
    """Boolean footprint of the offsets ``k`` with ``sum((k * spacing) ** 2) <= radius ** 2``."""
    half = [int(radius // s) for s in spacing]
    grid = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing)], indexing="ij")
    return sum(g**2 for g in grid) <= radius**2 + 1e-9


def instance_border(
    instance_labels: NdarrayOrTensor, border_distance: float = 1.5, spacing: Sequence[float] | float | None = None
) -> np.ndarray:
    """Pixels within ``border_distance`` of two different instances (background and instance pixels alike).

    Args:
        instance_labels: ``(H, W)`` or ``(H, W, D)`` integer ids, 0 = background.
        border_distance: ball radius in the units of ``spacing`` (pixels by default). 1 marks face neighbours of
            another instance, 1.5 (default) also the diagonal ones in 2D (8-neighbourhood; 18 in 3D).
        spacing: pixel size per axis (or one number for all).

    Returns:
        bool array of the input's shape.
    """
    _check_options("border", border_distance)
    labels = as_label_array(instance_labels, "instance_labels")
    footprint = _ball(border_distance, check_spacing(spacing, labels.ndim) or (1.0,) * labels.ndim)
    empty = int(labels.max(initial=0)) + 1  # stands for 'no instance' in the minimum filter
    highest = ndi.maximum_filter(labels, footprint=footprint, mode="constant", cval=0)
    lowest = ndi.minimum_filter(np.where(labels > 0, labels, empty), footprint=footprint, mode="constant", cval=empty)
    return (lowest != empty) & (lowest != highest)


def instance_to_semantic(
    instance_labels: NdarrayOrTensor,
    mode: str = "border",
    border_distance: float = 1.5,
    spacing: Sequence[float] | float | None = None,
) -> np.ndarray:
    """Instance labels -> semantic target for touching cells.

    Args:
        instance_labels: ``(H, W)`` or ``(H, W, D)`` integer ids (numpy or torch), 0 = background.
        mode: ``"border"``: 0 background, 1 cell, 2 border (the border overrides the cell);
            ``"separated"``: 1 for cell pixels off the border, else 0; ``"binary"``: ``labels > 0``.
        border_distance, spacing: see :func:`instance_border`.

    Returns:
        uint8 array of the input's shape.
    """
    _check_options(mode, border_distance)
    labels = as_label_array(instance_labels, "instance_labels")
    target = (labels > 0).astype(np.uint8)
    if mode == "binary":
        return target
    border = instance_border(labels, border_distance, spacing)
    target[border] = BORDER if mode == "border" else BACKGROUND
    return target


class InstanceToSemantic(Transform):
    """Array transform of :func:`instance_to_semantic`: ``(1, *spatial)`` or ``(*spatial)`` in, the same layout and
    kind out (uint8 numpy, uint8 tensor, or MetaTensor with the input's meta)."""

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self, mode: str = "border", border_distance: float = 1.5, spacing: Sequence[float] | float | None = None
    ) -> None:
        _check_options(mode, border_distance)
        self.mode, self.border_distance, self.spacing = mode, border_distance, spacing

    def __call__(self, instance_labels: NdarrayOrTensor) -> NdarrayOrTensor:
        labels, channel = split_channel(as_label_array(instance_labels, "instance_labels"), "instance_labels")
        target = instance_to_semantic(labels, self.mode, self.border_distance, self.spacing)
        return from_numpy_like(target, instance_labels, channel, np.uint8)


class InstanceToSemanticd(MapTransform):
    """Dictionary transform of :func:`instance_to_semantic`.

    Args:
        keys: instance label key(s).
        mode, border_distance, spacing: see :func:`instance_to_semantic`.
        semantic_key: output key(s), one per key; None (default) replaces the instance labels. Keep the
            instances (e.g. ``semantic_key="target"``) when :class:`~medunet.transforms.UNetWeightMapd` follows.
        allow_missing_keys: skip missing keys instead of raising.

    Example (bundle config)::

        {"_target_": "medunet.transforms.InstanceToSemanticd", "keys": "label", "semantic_key": "target"}
    """

    backend = InstanceToSemantic.backend

    def __init__(
        self,
        keys: KeysCollection,
        mode: str = "border",
        border_distance: float = 1.5,
        spacing: Sequence[float] | float | None = None,
        semantic_key: str | Sequence[str] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.semantic_keys = output_keys(self.keys, semantic_key, "semantic_key")
        self.converter = InstanceToSemantic(mode, border_distance, spacing)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, semantic_key in self.key_iterator(d, self.semantic_keys):
            d[semantic_key] = self.converter(d[key])
        return d
