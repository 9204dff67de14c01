"""From network output back to instance labels: seeds from the cell class, cut apart by the border class.

The inverse of :func:`medunet.transforms.instance_to_semantic`:

1. classes: ``argmax`` over the channels of the probabilities (or the given class map);
2. seeds: the *cell* class (1), or ``probs[1] >= threshold``; border pixels (class 2) separate touching cells;
3. connected components of the seeds (``connectivity`` 1 = face neighbours);
4. optional seeded watershed: each seed grows back over the cell + border pixels it reaches (nearest seed first,
   by distance), so instances regain the border band that training carved out of them; background is never entered;
5. instances with fewer than ``min_size`` pixels are removed and the rest renumbered ``1..N``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends
from scipy import ndimage as ndi
from skimage.measure import label as connected_components
from skimage.segmentation import relabel_sequential, watershed

from medunet.transforms.targets import BACKGROUND, CELL
from medunet.utils.arrays import from_numpy_like, output_keys, to_numpy

__all__ = ["SemanticToInstances", "SemanticToInstancesd", "semantic_to_instances"]


def _check_options(threshold: float | None, min_size: int, connectivity: int) -> None:
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"`threshold` must be a probability in [0, 1] or None, got {threshold!r}.")
    if not (isinstance(min_size, (int, np.integer)) and min_size >= 0):
        raise ValueError(f"`min_size` must be an int >= 0, got {min_size!r}.")
    if connectivity not in (1, 2, 3):
        raise ValueError(f"`connectivity` must be 1, 2 or 3 (face, edge, corner neighbours), got {connectivity!r}.")


def _classes_and_seeds(pred: np.ndarray, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Class map (argmax, or the rounded label map for one channel) and the seed mask."""
    if pred.shape[0] == 1:
        if threshold is not None:
            raise ValueError("`threshold` needs probabilities (2 or 3 channels), got a 1-channel class map.")
        classes = np.rint(pred[0]).astype(np.int64)
        return classes, classes == CELL
    classes = np.argmax(pred, axis=0)
    seeds = classes == CELL if threshold is None else pred[CELL] >= threshold
    return classes, seeds


def semantic_to_instances(
    pred: NdarrayOrTensor,
    threshold: float | None = None,
    watershed_growth: bool = True,
    min_size: int = 0,
    connectivity: int = 1,
) -> np.ndarray:
    """Instance labels from background / cell / border probabilities, 2D or 3D.

    Args:
        pred: ``(C, *spatial)`` with ``C = 3`` (background, cell, border) or ``C = 2`` (background, cell)
            probabilities or logits (numpy or torch), or ``C = 1``: a class map of ids 0 / 1 / 2 (e.g. the output
            of ``AsDiscrete(argmax=True)``).
        threshold: None: seeds are the pixels whose argmax is *cell*; a number: seeds are ``pred[1] >= threshold``
            (probabilities only).
        watershed_growth: grow the seeds back over the cell and border pixels (seeded watershed on the distance
            to the seeds). Off: instances are the seed components alone, without the border band.
        min_size: instances with fewer pixels are removed (set to 0), counted after the growth.
        connectivity: neighbourhood of the components and the growth: 1 face, 2 edge, 3 corner (3D) neighbours.

    Returns:
        int32 array ``(*spatial)``, 0 = background, instances numbered ``1..N``.
    """
    _check_options(threshold, min_size, connectivity)
    pred = to_numpy(pred)
    if pred.ndim not in (3, 4) or not 1 <= pred.shape[0] <= 3:
        raise ValueError(f"`pred` must be (C, H, W) or (C, H, W, D) with C in 1..3, got shape {pred.shape}.")
    connectivity = min(connectivity, pred.ndim - 1)
    classes, seeds = _classes_and_seeds(pred, threshold)
    instances = connected_components(seeds, connectivity=connectivity)
    if watershed_growth and instances.any():
        distance = ndi.distance_transform_edt(~seeds)
        footprint = ndi.generate_binary_structure(seeds.ndim, connectivity)
        instances = watershed(distance, instances, connectivity=footprint, mask=seeds | (classes != BACKGROUND))
    if min_size > 1:
        sizes = np.bincount(instances.ravel())
        instances[sizes[instances] < min_size] = 0
    return relabel_sequential(instances)[0].astype(np.int32)


class SemanticToInstances(Transform):
    """Array transform of :func:`semantic_to_instances`: ``(C, *spatial)`` in, ``(1, *spatial)`` int32 out, of the
    input's kind (numpy, tensor on the input's device, or MetaTensor with the input's meta)."""

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        threshold: float | None = None,
        watershed_growth: bool = True,
        min_size: int = 0,
        connectivity: int = 1,
    ) -> None:
        _check_options(threshold, min_size, connectivity)
        self.options = dict(
            threshold=threshold, watershed_growth=watershed_growth, min_size=min_size, connectivity=connectivity
        )

    def __call__(self, pred: NdarrayOrTensor) -> NdarrayOrTensor:
        return from_numpy_like(semantic_to_instances(pred, **self.options), pred, True, np.int32)


class SemanticToInstancesd(MapTransform):
    """Dictionary transform of :func:`semantic_to_instances`, for a bundle's postprocessing.

    Args:
        keys: prediction key(s), ``(C, *spatial)`` each.
        threshold, watershed_growth, min_size, connectivity: see :func:`semantic_to_instances`.
        instance_key: output key(s), one per key; None (default) replaces the prediction.
        allow_missing_keys: skip missing keys instead of raising.

    Example (bundle postprocessing)::

        {"_target_": "Compose", "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "softmax": true},
            {"_target_": "medunet.postprocessing.SemanticToInstancesd", "keys": "pred", "min_size": 20}]}
    """

    backend = SemanticToInstances.backend

    def __init__(
        self,
        keys: KeysCollection,
        threshold: float | None = None,
        watershed_growth: bool = True,
        min_size: int = 0,
        connectivity: int = 1,
        instance_key: str | Sequence[str] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = output_keys(self.keys, instance_key, "instance_key")
        self.converter = SemanticToInstances(threshold, watershed_growth, min_size, connectivity)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, output_key in self.key_iterator(d, self.output_keys):
            d[output_key] = self.converter(d[key])
        return d
