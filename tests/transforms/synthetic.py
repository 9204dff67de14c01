"""Test and benchmark helpers: synthetic touching cells and the naive U-Net weight map (the oracle)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def slabs(shape: tuple[int, ...], spans: dict[int, tuple[int, int]]) -> np.ndarray:
    """Hand-checkable labels: ``{id: (start, stop)}``, each id fills columns ``start..stop-1`` of the last axis."""
    labels = np.zeros(shape, np.int64)
    for instance, (start, stop) in spans.items():
        labels[..., start:stop] = instance
    return labels


def touching_cells(shape: tuple[int, ...], count: int, radius: float, seed: int = 0) -> np.ndarray:
    """Instance labels ``1..count``: the Voronoi cells of random seeds, cut to within ``radius`` of their seed.

    Neighbouring cells touch along their Voronoi faces; the cut leaves background between the clusters.
    """
    rng = np.random.default_rng(seed)
    points = np.stack([rng.integers(0, n, count) for n in shape], axis=1)
    seeds = np.zeros(shape, bool)
    seeds[tuple(points.T)] = True
    distance, nearest = ndi.distance_transform_edt(~seeds, return_indices=True)
    ids = np.zeros(shape, np.int32)
    ids[tuple(points.T)] = np.arange(1, count + 1)
    labels = ids[tuple(nearest)]
    labels[distance > radius] = 0
    return labels


def naive_separation_term(labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0, spacing=None) -> np.ndarray:
    """``w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` on background pixels, by the definition: one full Euclidean
    distance transform per instance, the two smallest per pixel. 0 where fewer than two instances exist."""
    ids = np.unique(labels[labels > 0])
    if ids.size < 2:
        return np.zeros(labels.shape)
    distances = np.stack([ndi.distance_transform_edt(labels != i, sampling=spacing) for i in ids])
    distances = np.partition(distances, 1, axis=0)
    term = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2.0 * sigma**2))
    return np.where(labels == 0, term, 0.0)
