"""Foreground and background locations computed once per case, for foreground-oversampled patch crops.

MONAI's ``RandCropByPosNegLabeld`` scans the whole label (and image) for foreground and background voxels on every
call unless it is given their indices. On a cropped BraTS case that is ~3 million voxels per patch, every
iteration. :class:`ForegroundLocationsd` computes the indices once, before the cache, and keeps an evenly strided
subset of at most ``max_locations`` of each (nnU-Net keeps 10,000 sampled locations per class the same way), so
the cache grows by kilobytes per case instead of by the size of the label.

Example (train preprocessing, deterministic part cached)::

    ForegroundLocationsd("label", image_key="image"),
    RandCropByPosNegLabeld(["image", "label"], "label", (96, 96, 96), fg_indices_key="label_fg_indices",
                           bg_indices_key="label_bg_indices"),
    DeleteItemsd(["label_fg_indices", "label_bg_indices"]),
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform
from monai.transforms.utils import map_binary_to_indices
from monai.utils import convert_to_numpy, convert_to_tensor

__all__ = ["ForegroundLocationsd", "strided_subset"]


def strided_subset(indices: NdarrayOrTensor, max_locations: int | None) -> np.ndarray:
    """At most ``max_locations`` of the sorted flat ``indices``, evenly strided over them (so over the volume)."""
    indices = convert_to_numpy(indices, dtype=np.int64)
    if max_locations is None or indices.size <= max_locations:
        return indices
    positions = np.linspace(0, indices.size - 1, max_locations).round().astype(np.int64)
    return indices[positions]


class ForegroundLocationsd(MapTransform):
    """Store the flat indices of foreground (label > 0) and background voxels of each key, as
    ``RandCropByPosNegLabeld``'s ``fg_indices_key`` / ``bg_indices_key`` expect them.

    Args:
        keys: label keys, (1, *spatial) or (C, *spatial) (any channel non-zero is foreground).
        image_key: if given, background voxels are only those where some image channel exceeds ``image_threshold``
            (as in ``RandCropByPosNegLabeld``), e.g. inside the brain of a skull-stripped MRI.
        image_threshold: see ``image_key``.
        max_locations: keep at most this many of each, evenly strided; None keeps all.
        fg_postfix, bg_postfix: the output keys are ``f"{key}{fg_postfix}"`` and ``f"{key}{bg_postfix}"``.

    Place it after every transform that changes the spatial shape (padding included): the indices refer to the
    shape it sees. A case without foreground gets an empty foreground array, which ``RandCropByPosNegLabeld``
    handles by sampling background only (it warns).
    """

    def __init__(
        self,
        keys: KeysCollection,
        image_key: str | None = None,
        image_threshold: float = 0.0,
        max_locations: int | None = 10_000,
        fg_postfix: str = "_fg_indices",
        bg_postfix: str = "_bg_indices",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if max_locations is not None and max_locations < 1:
            raise ValueError(f"max_locations must be >= 1 or None, got {max_locations!r}.")
        self.image_key = image_key
        self.image_threshold = image_threshold
        self.max_locations = max_locations
        self.fg_postfix = fg_postfix
        self.bg_postfix = bg_postfix

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        image = d[self.image_key] if self.image_key is not None else None
        for key in self.key_iterator(d):
            if image is not None and tuple(image.shape[1:]) != tuple(d[key].shape[1:]):
                raise ValueError(
                    f"{key!r} has spatial shape {tuple(d[key].shape[1:])} but {self.image_key!r} has "
                    f"{tuple(image.shape[1:])}; they must match."
                )
            # as bool: MONAI's background is ``~label``, which on an integer label is a bitwise not
            foreground = convert_to_tensor(d[key], track_meta=False) != 0
            fg, bg = map_binary_to_indices(foreground, image, self.image_threshold)
            d[f"{key}{self.fg_postfix}"] = strided_subset(fg, self.max_locations)
            d[f"{key}{self.bg_postfix}"] = strided_subset(bg, self.max_locations)
        return d
