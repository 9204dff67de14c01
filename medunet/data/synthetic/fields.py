"""Random smooth fields, the building block of the synthetic images: textures, irregular boundaries, bias fields."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["smooth_noise"]


def _cubic_bspline_weights(f: np.ndarray) -> np.ndarray:
    """The 4 cubic B-spline weights ``(4, len(f))`` of the grid points ``i - 1 .. i + 2`` for positions ``i + f``."""
    return np.stack([(1 - f) ** 3 / 6, (3 * f**3 - 6 * f**2 + 4) / 6, (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6, f**3 / 6])


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], scale: float | Sequence[float]) -> np.ndarray:
    """A random field of ``shape`` (any dimension) with features about ``scale`` voxels wide, zero mean, unit std.

    White noise on a grid ``scale`` times coarser is upsampled with cubic B-spline weights, one axis at a time (4
    taps per voxel and axis), so the cost does not depend on the scale (a Gaussian filter of a large sigma costs
    ``O(sigma)`` per voxel). The grid is sampled at a random sub-cell offset, so fields do not align on a lattice.

    Args:
        rng: the random generator.
        shape: output shape.
        scale: feature size in voxels, one for all axes or one per axis, >= 1.

    Returns:
        float32 array of ``shape``.
    """
    scales = np.broadcast_to(np.asarray(scale, dtype=float), (len(shape),))
    if np.any(scales < 1):
        raise ValueError(f"`scale` must be >= 1 voxel, got {scale}.")
    field = rng.standard_normal([int(np.ceil(n / s)) + 4 for n, s in zip(shape, scales)]).astype(np.float32)
    for axis, (n, s) in enumerate(zip(shape, scales)):
        x = 1 + rng.random() + np.arange(n) / s  # within [1, len - 3): the 4 neighbours exist
        i = np.floor(x).astype(np.int64)
        weights = _cubic_bspline_weights((x - i).astype(np.float32))
        along = [1] * len(shape)
        along[axis] = n
        field = sum(w.reshape(along) * np.take(field, i + k - 1, axis=axis) for k, w in enumerate(weights))
    field = field - field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)
