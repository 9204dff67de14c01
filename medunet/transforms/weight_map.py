"""The U-Net loss weight map (Ronneberger et al. 2015, eq. 2), exact and fast, for 2D images and 3D volumes.

.. math::

    w(x) = w_c(x) + w_0 \\exp\\left(-\\frac{(d_1(x) + d_2(x))^2}{2\\sigma^2}\\right)

``d1`` / ``d2`` are the Euclidean distances from a background pixel to the nearest and the second-nearest instance
(two different instances), in the units of ``spacing`` (pixels by default). The separation term is evaluated on
background pixels (instance label 0) only; instance pixels get ``w_c`` alone.

How it is computed: the separation term is below ``1e-5`` wherever ``d1 + d2 > sigma * sqrt(2 ln(w0 / 1e-5))``
(the *reach*), and ``d2 <= d1 + d2``, so only instances within the reach of a pixel can matter. Each instance gets
one Euclidean distance transform on its bounding box grown by the reach, and every pixel keeps the two smallest
distances it receives (each from a different instance, since each instance contributes once). Inside the reach the
distances are bit-identical to full-image transforms; outside, the dropped term is below ``1e-5``. On a 512x512
image with 125 touching cells this is about 50x faster than one full transform per instance.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, ensure_tuple_rep
from scipy import ndimage as ndi

from medunet.utils.arrays import as_label_array, check_spacing, from_numpy_like, output_keys, split_channel

__all__ = ["UNetWeightMap", "UNetWeightMapd", "class_weight_map", "nearest_instance_distances", "unet_weight_map"]

NEGLIGIBLE = 1e-5
"""Separation-term values below this are dropped (set to 0); the map is exact to within this."""


def _explicit_class_weights(class_weights: str | Sequence[float] | None) -> np.ndarray | None:
    """Validate ``class_weights``; the explicit weights as float64, None for ``"balanced"`` and None."""
    if class_weights is None or isinstance(class_weights, str):
        if class_weights not in (None, "balanced"):
            raise ValueError(f"`class_weights` must be 'balanced', a sequence or None, got {class_weights!r}.")
        return None
    per_class = np.asarray(class_weights, np.float64)
    if per_class.ndim != 1 or not np.all(np.isfinite(per_class)) or np.any(per_class < 0):
        raise ValueError(f"`class_weights` must be non-negative finite numbers, got {class_weights!r}.")
    return per_class


def class_weight_map(classes: NdarrayOrTensor, class_weights: str | Sequence[float] | None = "balanced") -> np.ndarray:
    """The class-frequency term ``w_c(x)`` of the U-Net weight map.

    Args:
        classes: class id per pixel, any shape (for example ``instance_labels > 0``, or the background / cell /
            border map of :class:`~medunet.transforms.InstanceToSemanticd`).
        class_weights: ``"balanced"``: with ``n_k`` pixels of class ``k``, ``N`` pixels in all and ``K`` classes
            present, class ``k`` gets ``N / (K * n_k)``, so every present class carries the same total weight and
            the map averages exactly 1 over the image (an image of one class is all ones). A sequence: explicit
            weights, ``class_weights[k]`` for class ``k`` (one entry per class id up to the largest present).
            ``None``: 1 everywhere.

    Returns:
        float32 array of the shape of ``classes``.

    Raises:
        ValueError: for an unknown string, a negative or non-finite weight, or too few weights for the classes.
    """
    classes = as_label_array(classes, "classes")
    explicit = _explicit_class_weights(class_weights)
    if class_weights is None:
        return np.ones(classes.shape, np.float32)
    counts = np.bincount(classes.ravel())
    if explicit is None:
        present = counts > 0
        per_class = np.zeros(counts.shape, np.float64)
        per_class[present] = classes.size / (present.sum() * counts[present])
    else:
        per_class = explicit
        if classes.size and per_class.size < counts.size:
            raise ValueError(
                f"`class_weights` has {per_class.size} entries but the class map holds class id {counts.size - 1}."
            )
    return per_class.astype(np.float32)[classes]


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber sparse ids (``max > size``) so that ``find_objects`` does not allocate one slot per unused id."""
    if labels.size == 0 or labels.max() <= labels.size:
        return labels
    ids, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape) + (1 if ids[0] != 0 else 0)


def nearest_instance_distances(
    instance_labels: NdarrayOrTensor,
    spacing: Sequence[float] | float | None = None,
    max_distance: float = math.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from every pixel to its nearest and second-nearest instance (two different instance ids).

    Args:
        instance_labels: ``(H, W)`` or ``(H, W, D)`` integer ids, 0 = background; ids need not be consecutive.
        spacing: pixel size per axis (or one number for all); distances are in these units, pixels by default.
        max_distance: distances above it are reported as ``inf``; each instance is then only transformed on its
            bounding box grown by this much, which is what makes the computation fast.

    Returns:
        ``(d1, d2)``, float64 arrays of the input's shape: ``d1 = 0`` inside an instance, ``d2`` is the distance to
        the nearest *other* instance there; ``inf`` where fewer than one / two instances lie within
        ``max_distance``. Values up to ``max_distance`` equal a full-image Euclidean distance transform exactly.
    """
    labels = as_label_array(instance_labels, "instance_labels")
    sampling = check_spacing(spacing, labels.ndim)
    if not max_distance > 0:
        raise ValueError(f"`max_distance` must be positive, got {max_distance!r}.")
    labels = _consecutive(labels)
    d1 = np.full(labels.shape, np.inf)
    d2 = np.full(labels.shape, np.inf)
    steps = (1.0,) * labels.ndim if sampling is None else sampling
    grow = [
        labels.shape[a] if math.isinf(max_distance) else math.ceil(max_distance / steps[a]) for a in range(len(steps))
    ]
    for instance, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = tuple(slice(max(s.start - g, 0), min(s.stop + g, n)) for s, g, n in zip(box, grow, labels.shape))
        distance = ndi.distance_transform_edt(labels[box] != instance, sampling=sampling)
        nearest, second = d1[box], d2[box]  # views: updated in place
        np.minimum(second, np.maximum(nearest, distance), out=second)
        np.minimum(nearest, distance, out=nearest)
    if not math.isinf(max_distance):
        d1[d1 > max_distance] = np.inf
        d2[d2 > max_distance] = np.inf
    return d1, d2


def _check_parameters(w0: float, sigma: float) -> None:
    if not (math.isfinite(w0) and w0 >= 0):
        raise ValueError(f"`w0` must be a finite number >= 0, got {w0!r}.")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be a finite number > 0, got {sigma!r}.")


def unet_weight_map(
    instance_labels: NdarrayOrTensor,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: str | Sequence[float] | None = "balanced",
    spacing: Sequence[float] | float | None = None,
    classes: NdarrayOrTensor | None = None,
) -> np.ndarray:
    """The U-Net weight map ``w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` of an instance label image.

    Args:
        instance_labels: ``(H, W)`` or ``(H, W, D)`` integer instance ids (numpy or torch; whole-number floats
            accepted), 0 = background. Ids need not be consecutive.
        w0: weight of the separation term (10 in the paper).
        sigma: width of the separation term, in the units of ``spacing`` (pixels by default; ~5 in the paper).
        class_weights: the ``w_c`` term, see :func:`class_weight_map`: ``"balanced"``, a sequence, or None (1).
        spacing: pixel size per axis for anisotropic images (or one number for all axes).
        classes: class map that ``w_c`` balances over, same shape; default ``instance_labels > 0``
            (background / foreground).

    Returns:
        float32 array of the input's spatial shape.

    Edge cases: with no instance (label 0 only) or a single one, ``d2`` is undefined and there is nothing to
    separate, so the separation term is 0 and ``w = w_c``. The term is evaluated on background pixels only.
    """
    labels = as_label_array(instance_labels, "instance_labels")
    if labels.ndim not in (2, 3):
        raise ValueError(f"`instance_labels` must be 2D (H, W) or 3D (H, W, D), got shape {labels.shape}.")
    _check_parameters(w0, sigma)
    class_map = labels > 0 if classes is None else as_label_array(classes, "classes")
    if class_map.shape != labels.shape:
        raise ValueError(f"`classes` must have the shape of the labels {labels.shape}, got {class_map.shape}.")
    weight = class_weight_map(class_map, class_weights)
    if w0 <= NEGLIGIBLE:
        return weight
    reach = sigma * math.sqrt(2.0 * math.log(w0 / NEGLIGIBLE))
    d1, d2 = nearest_instance_distances(labels, spacing, max_distance=reach)
    gaps = (labels == 0) & np.isfinite(d2)
    weight[gaps] += w0 * np.exp(-((d1[gaps] + d2[gaps]) ** 2) / (2.0 * sigma**2))
    return weight


class UNetWeightMap(Transform):
    """Array transform: instance labels -> U-Net weight map (see :func:`unet_weight_map`).

    Input ``(1, *spatial)`` channel-first or plain ``(*spatial)``, 2D or 3D, numpy or torch; the output has the
    same layout and kind (float32 numpy, float32 tensor on the input's device, or MetaTensor with its meta).
    Pass ``classes`` (same layout) to balance ``w_c`` over another class map.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: str | Sequence[float] | None = "balanced",
        spacing: Sequence[float] | float | None = None,
    ) -> None:
        _check_parameters(w0, sigma)
        _explicit_class_weights(class_weights)
        self.w0, self.sigma, self.class_weights, self.spacing = w0, sigma, class_weights, spacing

    def __call__(self, instance_labels: NdarrayOrTensor, classes: NdarrayOrTensor | None = None) -> NdarrayOrTensor:
        labels, channel = split_channel(as_label_array(instance_labels, "instance_labels"), "instance_labels")
        class_map = None if classes is None else split_channel(as_label_array(classes, "classes"), "classes")[0]
        weight = unet_weight_map(labels, self.w0, self.sigma, self.class_weights, self.spacing, class_map)
        return from_numpy_like(weight, instance_labels, channel, np.float32)


class UNetWeightMapd(MapTransform):
    """Dictionary transform: writes the U-Net weight map of ``d[key]`` (instance labels) to ``d[weight_key]``.

    Place it after the spatial augmentation, so the map is computed from (and matches) the deformed labels
    (resample labels with ``mode="nearest"``).

    Args:
        keys: instance label key(s).
        weight_key: output key(s), one per key.
        w0, sigma, class_weights, spacing: see :func:`unet_weight_map`.
        class_key: optional key(s) of a class map that ``w_c`` balances over, e.g. the background / cell /
            border target written by :class:`~medunet.transforms.InstanceToSemanticd`; default: the instance
            labels' background / foreground.
        allow_missing_keys: skip missing keys instead of raising.

    Example (bundle config)::

        {"_target_": "medunet.transforms.UNetWeightMapd", "keys": "label", "weight_key": "weight",
         "class_key": "target", "w0": 10.0, "sigma": 5.0}
    """

    backend = UNetWeightMap.backend

    def __init__(
        self,
        keys: KeysCollection,
        weight_key: str | Sequence[str] = "weight",
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: str | Sequence[float] | None = "balanced",
        spacing: Sequence[float] | float | None = None,
        class_key: str | Sequence[str | None] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.weight_keys = output_keys(self.keys, weight_key, "weight_key")
        self.class_keys = ensure_tuple_rep(class_key, len(self.keys))
        self.weight_map = UNetWeightMap(w0, sigma, class_weights, spacing)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, weight_key, class_key in self.key_iterator(d, self.weight_keys, self.class_keys):
            d[weight_key] = self.weight_map(d[key], None if class_key is None else d[class_key])
        return d
