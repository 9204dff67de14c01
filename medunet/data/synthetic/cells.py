"""Synthetic 2D cell microscopy: many touching, irregular cells with instance labels.

Each image is built in three steps:

1. Layout: cells are placed one by one, most of them grown onto an existing cell at 75-92 % of the sum of their
   radii (so clusters share long borders, the case the U-Net weight map was designed for), the others isolated.
2. Shapes: each cell is an ellipse with a random aspect ratio and orientation, a few random radial harmonics (lobes)
   and a shared smooth noise field for rough outlines. A pixel belongs to the cell with the smallest normalised
   distance (a weighted Voronoi split where cells overlap) when that distance is below 1.
3. Rendering: per-cell brightness, a dome-shaped profile, a nucleus, granular texture, darker or brighter borders
   between touching cells, uneven illumination, optical blur, shot and read noise ("fluorescence"); or a grey
   background with dark cells and bright halos ("phase", phase-contrast-like).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import measure

from medunet.data.synthetic.fields import smooth_noise
from medunet.data.writers import write_tiff

__all__ = ["CELL_STYLES", "make_cells", "write_cell_dataset"]

CELL_STYLES = ("fluorescence", "phase")
_CELLS_PER_PIXEL = 125 / 512**2  # ~125 cells in a 512 x 512 image
_HARMONICS = np.arange(2, 6)  # radial lobes of the outline


def _place_cells(
    rng: np.random.Generator, size: tuple[int, int], n_cells: int, radius: tuple[float, float], cluster: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(k, 2)`` and radii ``(k,)`` of up to ``n_cells`` cells, clustered with probability ``cluster``."""
    radii = rng.uniform(*radius, n_cells)
    centres = np.empty((n_cells, 2))
    k = 0
    for r in radii:
        for _ in range(30):
            if k and rng.random() < cluster:  # grow onto a placed cell, overlapping it
                j = rng.integers(k)
                angle = rng.uniform(0, 2 * np.pi)
                c = centres[j] + (r + radii[j]) * rng.uniform(0.75, 0.92) * np.array([np.cos(angle), np.sin(angle)])
                closest = 0.7
            else:  # an isolated cell
                c = rng.uniform(0, 1, 2) * np.asarray(size)
                closest = 1.05
            gaps = np.linalg.norm(centres[:k] - c, axis=1) / (r + radii[:k])
            inside = np.all((c > -0.3 * r) & (c < np.asarray(size) + 0.3 * r))
            if inside and np.all(gaps >= closest):
                centres[k], radii[k] = c, r
                k += 1
                break
    return centres[:k], radii[:k]


def _rasterise(
    rng: np.random.Generator, size: tuple[int, int], centres: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label map (0 background, 1..k), normalised distance to the own cell centre, and a soft nucleus map."""
    rough = 0.045 * smooth_noise(rng, size, 7.0)
    best = np.full(size, np.inf, dtype=np.float32)
    labels = np.zeros(size, dtype=np.int32)
    nucleus = np.zeros(size, dtype=np.float32)
    for i, (c, r) in enumerate(zip(centres, radii), start=1):
        aspect, theta = rng.uniform(1.0, 1.6), rng.uniform(0, np.pi)
        amp, phase = rng.uniform(0, 0.1, len(_HARMONICS)) / np.sqrt(_HARMONICS - 1), rng.uniform(0, 2 * np.pi, 4)
        extent = 1.5 * r * np.sqrt(aspect)
        lo = np.maximum(np.floor(c - extent).astype(int), 0)
        hi = np.minimum(np.ceil(c + extent).astype(int) + 1, size)
        if np.any(hi <= lo):
            continue
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        y, x = np.ogrid[lo[0] : hi[0], lo[1] : hi[1]]
        dy, dx = y - c[0], x - c[1]
        u, v = dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)
        angle = np.arctan2(v, u)[..., None]
        lobes = 1 + np.sum(amp * np.cos(_HARMONICS * angle + phase), axis=-1)
        rho = (np.hypot(u / np.sqrt(aspect), v * np.sqrt(aspect)) / (r * lobes) + rough[box]).astype(np.float32)
        closer = rho < best[box]
        best[box] = np.where(closer, rho, best[box])
        labels[box] = np.where(closer, i, labels[box])
        # nucleus: a smaller ellipse off the centre, soft-edged
        n_off = rng.normal(0, 0.15 * r, 2)
        n_rho = np.hypot(dy - n_off[0], (dx - n_off[1]) / rng.uniform(1.0, 1.4)) / (r * rng.uniform(0.3, 0.45))
        nucleus[box] = np.where(closer, np.clip((1 - n_rho) / 0.3, 0, 1), nucleus[box])
    inside = best < 1
    labels[~inside] = 0
    return _drop_fragments(labels), np.where(inside, best, 1.0), nucleus * inside


def _drop_fragments(labels: np.ndarray, min_area: int = 20) -> np.ndarray:
    """Keep each cell's largest connected piece if it has ``min_area`` pixels, drop the rest, renumber 1..k."""
    pieces = measure.label(labels, background=0, connectivity=1)  # connected regions of one label value each
    area = np.bincount(pieces.ravel())
    cell = np.zeros(len(area), dtype=np.int64)
    cell[pieces.ravel()] = labels.ravel()
    order = np.lexsort((-area[1:], cell[1:])) + 1  # pieces by cell, largest first
    largest = order[np.r_[True, cell[order][1:] != cell[order][:-1]]]
    largest = largest[area[largest] >= min_area]
    new = np.zeros(len(area), dtype=np.int32)
    new[largest] = np.arange(1, len(largest) + 1)
    return new[pieces]


def _borders(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels on a border between two touching cells, and pixels of a cell next to the background."""
    touching = np.zeros(labels.shape, dtype=bool)
    edge = np.zeros(labels.shape, dtype=bool)
    for axis in range(labels.ndim):
        a, b = np.moveaxis(labels, axis, 0)[:-1], np.moveaxis(labels, axis, 0)[1:]
        differ = a != b
        between = differ & (a > 0) & (b > 0)
        for target, mask in ((touching, between), (edge, differ & ((a == 0) | (b == 0)))):
            view = np.moveaxis(target, axis, 0)
            view[:-1] |= mask
            view[1:] |= mask
    return touching, edge & (labels > 0)


def _render(
    rng: np.random.Generator, labels: np.ndarray, rho: np.ndarray, nucleus: np.ndarray, style: str
) -> np.ndarray:
    """Microscope image of a cell layout, float32 in [0, 1]."""
    size = labels.shape
    inside = labels > 0
    k = int(labels.max())
    brightness = np.r_[0.0, rng.uniform(0.45, 1.0, k)][labels]  # per cell
    texture = 1 + rng.uniform(0.1, 0.25) * smooth_noise(rng, size, rng.uniform(1.5, 3.0))
    dome = 1 - rng.uniform(0.2, 0.5) * rho**2
    touching, _ = _borders(labels)
    border = ndimage.gaussian_filter(touching.astype(np.float32), rng.uniform(0.6, 1.2))
    border /= max(border.max(), 1e-6)
    background = smooth_noise(rng, size, max(size) / 3)
    if style == "fluorescence":
        cells = brightness * dome * texture * (1 + rng.uniform(-0.35, 0.6) * nucleus)
        img = np.where(inside, cells, 0) * (1 + rng.choice([-0.6, 0.5]) * rng.uniform(0.5, 1) * border)
        img = img + 0.08 + 0.03 * background
    else:  # phase contrast: grey background, darker cells with bright halos outside their edges
        halo = np.clip(ndimage.gaussian_filter(inside.astype(np.float32), 3.0) - inside, 0, None)
        cells = 0.25 * brightness * dome * texture * (1 + 0.5 * nucleus)
        img = 0.5 + 0.03 * background - np.where(inside, cells, 0) + rng.uniform(0.5, 0.9) * halo + 0.2 * border
    img = ndimage.gaussian_filter(img.astype(np.float32), rng.uniform(0.7, 1.5))
    img *= 1 + 0.12 * smooth_noise(rng, size, max(size) / 2)  # uneven illumination
    photons = rng.uniform(40, 250)
    img = rng.poisson(np.clip(img, 0, None) * photons) / photons + rng.normal(0, 0.01, size)
    lo, hi = np.percentile(img, (0.5, 99.8))
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def _one_image(
    rng: np.random.Generator,
    size: tuple[int, int],
    n_cells: int | None,
    radius: tuple[float, float],
    cluster: float,
    style: str,
) -> tuple[np.ndarray, np.ndarray]:
    count = n_cells if n_cells is not None else round(_CELLS_PER_PIXEL * size[0] * size[1] * rng.uniform(0.8, 1.2))
    centres, radii = _place_cells(rng, size, count, radius, cluster)
    labels, rho, nucleus = _rasterise(rng, size, centres, radii)
    return _render(rng, labels, rho, nucleus, style), labels


def make_cells(
    n: int = 1,
    size: tuple[int, int] = (512, 512),
    seed: int = 0,
    n_cells: int | None = None,
    radius: tuple[float, float] = (12.0, 26.0),
    cluster: float = 0.8,
    style: str = "fluorescence",
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic microscopy images of touching, irregular cells with their instance labels.

    Image ``i`` depends only on ``(seed, i)``: ``make_cells(4, seed=s)[0][2]`` equals ``make_cells(3, seed=s)[0][2]``.

    Args:
        n: number of images.
        size: ``(H, W)`` of each image.
        seed: random seed.
        n_cells: cells to place per image; default about 125 per 512 x 512 (+-20 % per image), scaled with the area.
            Fewer are kept when the image is too crowded to place them all.
        radius: range of the cells' mean radii in pixels (uniform).
        cluster: probability that a cell grows onto an existing one (touching) instead of standing alone.
        style: ``"fluorescence"`` (dark background, bright cells) or ``"phase"`` (grey background, dark cells with
            bright halos).

    Returns:
        ``(images, labels)``: float32 ``(n, H, W)`` in [0, 1] and int32 ``(n, H, W)`` instance labels, 0 background,
        cells numbered ``1..k`` per image.
    """
    if style not in CELL_STYLES:
        raise ValueError(f"`style` must be one of {CELL_STYLES}, got {style!r}.")
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"`size` must be (H, W) with both >= 16, got {size!r}.")
    if not 0 < radius[0] <= radius[1]:
        raise ValueError(f"`radius` must be (min, max) with 0 < min <= max, got {radius!r}.")
    size = (int(size[0]), int(size[1]))
    images = np.empty((n, *size), dtype=np.float32)
    labels = np.empty((n, *size), dtype=np.int32)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        images[i], labels[i] = _one_image(rng, size, n_cells, radius, cluster, style)
    return images, labels


def write_cell_dataset(
    directory: str | os.PathLike, n: int = 8, size: tuple[int, int] = (512, 512), seed: int = 0, **kwargs
) -> list[dict[str, str]]:
    """Write ``n`` synthetic cell images as folder pairs ``images/cell_000.tif`` + ``labels/cell_000.tif``.

    Images are 16-bit grey values (0-65535), labels 16-bit instance ids; each file is written atomically. Extra
    keyword arguments go to :func:`make_cells`.

    Returns:
        One ``{"image": path, "label": path}`` dict per case (absolute paths), ready for a MONAI ``Dataset``.
    """
    directory = Path(directory)
    images, labels = make_cells(n, size, seed, **kwargs)
    if labels.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError(f"too many cells for 16-bit labels: {labels.max()}.")
    items = []
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"cell_{i:03d}.tif"
        item = {
            "image": str(write_tiff(directory / "images" / name, np.round(image * 65535).astype(np.uint16))),
            "label": str(write_tiff(directory / "labels" / name, label.astype(np.uint16))),
        }
        items.append({k: str(Path(v).resolve()) for k, v in item.items()})
    return items
