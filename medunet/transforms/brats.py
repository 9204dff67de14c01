"""BraTS label conventions: MSD Task01 labels <-> the three nested evaluation regions, and the BraTS numbering.

Two numberings of the same three tumour classes are in use:

======================================  ====================  ===========================
class                                   MSD Task01 (medunet)  BraTS 2017-2022 originals
======================================  ====================  ===========================
peritumoral edema (ED)                  1                     2
necrosis / non-enhancing core (NCR)     2                     1 (and 3 = NET before 2017)
GD-enhancing tumour (ET)                3                     4
======================================  ====================  ===========================

BraTS is evaluated on nested regions, not classes: whole tumour ``WT = {ED, NCR, ET}``, tumour core
``TC = {NCR, ET}``, enhancing tumour ``ET``; with MSD labels ``WT = {1, 2, 3}``, ``TC = {2, 3}``, ``ET = {3}``.
Region networks predict the three regions as independent sigmoid channels (WT, TC, ET).

MONAI's ``ConvertToMultiChannelBasedOnBratsClasses`` assumes the original BraTS numbering (and orders TC, WT, ET);
these transforms use the MSD numbering and the order WT, TC, ET.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_tensor

__all__ = [
    "BRATS_MODALITIES",
    "BRATS_TO_MSD",
    "MSD_LABELS",
    "MSD_MODALITIES",
    "MSD_TO_BRATS",
    "REGION_NAMES",
    "BratsRegionsToMSDLabel",
    "BratsRegionsToMSDLabeld",
    "ConvertMSDToBratsRegions",
    "ConvertMSDToBratsRegionsd",
    "MapBratsLabelsToMSD",
    "MapBratsLabelsToMSDd",
]

REGION_NAMES = ("WT", "TC", "ET")
# the four MR contrasts, in channel order: as MSD Task01's dataset.json names them, and as BraTS names its files
MSD_MODALITIES = ("FLAIR", "T1w", "t1gd", "T2w")
BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
# label names exactly as MSD Task01's dataset.json writes them (its own spelling)
MSD_LABELS = ("background", "edema", "non-enhancing tumor", "enhancing tumour")
# the one BraTS -> MSD label map: 1 NCR -> 2, 2 ED -> 1, 4 ET -> 3; the pre-2017 label 3 NET joins the core (-> 2)
BRATS_TO_MSD = {0: 0, 1: 2, 2: 1, 3: 2, 4: 3}
# MSD -> the BraTS 2017+ numbering (no NET)
MSD_TO_BRATS = {0: 0, 1: 2, 2: 1, 3: 4}
_BRATS_LUT = tuple(BRATS_TO_MSD[i] for i in range(max(BRATS_TO_MSD) + 1))


def _check_labels(img: NdarrayOrTensor, largest: int, what: str) -> None:
    """Raise ValueError if ``img`` holds labels outside ``0..largest``."""
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > largest:
        raise ValueError(f"{what} labels must lie in 0..{largest}, got values in [{lo:g}, {hi:g}].")


class ConvertMSDToBratsRegions(Transform):
    """MSD Task01 label map ``(1, *spatial)`` -> region masks ``(3, *spatial)`` in the order WT, TC, ET.

    ``WT = label in {1, 2, 3}``, ``TC = label in {2, 3}``, ``ET = label == 3``. The output keeps the input's type
    (numpy, torch, MetaTensor with its metadata) and dtype (float labels give float masks, ready for a loss).

    Raises:
        ValueError: if the input has no single leading channel or holds labels outside 0..3 (BraTS numbering with
            label 4: apply :class:`MapBratsLabelsToMSD` first).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if img.ndim < 2 or img.shape[0] != 1:
            raise ValueError(f"expected a channel-first label map (1, *spatial), got shape {tuple(img.shape)}.")
        _check_labels(img, 3, "MSD Task01")
        label = img[0]
        regions = [label >= 1, label >= 2, label == 3]
        out = torch.stack(regions) if isinstance(img, torch.Tensor) else np.stack(regions)
        return convert_to_dst_type(out, dst=img, dtype=img.dtype)[0]


class BratsRegionsToMSDLabel(Transform):
    """Region channels ``(3, *spatial)`` (WT, TC, ET probabilities or masks) -> MSD label map ``(1, *spatial)``.

    Each channel is thresholded, then ``ET -> 3``, ``TC \\ ET -> 2``, ``WT \\ TC -> 1``: a voxel takes the label of the
    innermost region it belongs to, so non-nested predictions (ET outside TC) still get a label.

    Args:
        threshold: a voxel belongs to a region when its channel value exceeds this (0.5 for sigmoid outputs; 0 for
            logits).
        dtype: output dtype (default uint8, what the MSD labels use).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, threshold: float = 0.5, dtype: DtypeLike | torch.dtype = np.uint8) -> None:
        self.threshold = threshold
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if img.ndim < 2 or img.shape[0] != 3:
            raise ValueError(f"expected 3 region channels (WT, TC, ET) first, got shape {tuple(img.shape)}.")
        inside = img > self.threshold
        label = inside[0].astype(np.uint8) if isinstance(img, np.ndarray) else inside[0].to(torch.uint8)
        label[inside[1]] = 2
        label[inside[2]] = 3
        return convert_to_dst_type(label[None], dst=img, dtype=self.dtype)[0]


class MapBratsLabelsToMSD(Transform):
    """Original BraTS label numbering -> MSD Task01 numbering, for label maps of any shape.

    ``1 NCR -> 2``, ``2 ED -> 1``, ``4 ET -> 3``, ``0 -> 0``; the pre-2017 label ``3 NET`` (non-enhancing tumour)
    joins the core, ``3 -> 2``, as in MSD Task01. Type and dtype are kept.

    Raises:
        ValueError: for labels outside 0..4.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        _check_labels(img, 4, "BraTS")
        if isinstance(img, torch.Tensor):
            index = convert_to_tensor(img, dtype=torch.long, track_meta=False)
            out = torch.as_tensor(_BRATS_LUT, device=img.device)[index]
        else:
            out = np.asarray(_BRATS_LUT)[img.astype(np.int64)]
        return convert_to_dst_type(out, dst=img, dtype=img.dtype)[0]


class _Dictionary(MapTransform):
    """Apply ``self.transform`` to each key."""

    transform: Transform

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d


class ConvertMSDToBratsRegionsd(_Dictionary):
    """Dictionary version of :class:`ConvertMSDToBratsRegions`."""

    backend = ConvertMSDToBratsRegions.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = ConvertMSDToBratsRegions()


class BratsRegionsToMSDLabeld(_Dictionary):
    """Dictionary version of :class:`BratsRegionsToMSDLabel`."""

    backend = BratsRegionsToMSDLabel.backend

    def __init__(
        self,
        keys: KeysCollection,
        threshold: float = 0.5,
        dtype: DtypeLike | torch.dtype = np.uint8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = BratsRegionsToMSDLabel(threshold, dtype)


class MapBratsLabelsToMSDd(_Dictionary):
    """Dictionary version of :class:`MapBratsLabelsToMSD`."""

    backend = MapBratsLabelsToMSD.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = MapBratsLabelsToMSD()
