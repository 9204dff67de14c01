"""Synthetic 4-modality brain tumour MRI (FLAIR, T1w, T1gd, T2w) with MSD Task01 labels.

Each case is a tissue map turned into four contrasts:

1. Head: a rotated, shifted, scaled ellipsoid with scalp, skull and a CSF layer; inside it a brain with a folded
   cortex (grey matter with CSF sulci), white matter, deep grey nuclei, lateral ventricles and the interhemispheric
   fissure. Boundaries are perturbed by smooth noise so no two heads are alike.
2. Tumour, at a random position in one hemisphere: an irregular core (a thresholded noisy ellipsoid) made of an
   enhancing rim (label 3) around a necrotic centre (label 2; small or absent in some cases, and some cases with a
   non-enhancing part, also label 2), inside an irregular edema (label 1) that spreads through white matter more
   than through cortex and never into CSF.
3. Contrast per modality as in real MRI (FLAIR: edema bright, CSF dark; T1w: tumour hypo-intense, white matter
   brighter than grey; T1gd: the enhancing rim bright; T2w: CSF, edema and necrosis bright), with per-case jitter
   of every tissue value, tissue texture, partial-volume blur, a smooth multiplicative bias field per modality,
   Rician noise and a random global intensity scale (arbitrary scanner units).

The default grid is ``(64, 64, 48)`` voxels of 3 mm, chosen for CPU training: its 192 x 192 x 144 mm field of
view holds an adult brain (about 140 x 170 x 115 mm); every axis is a multiple of 16, so a U-Net of up to 5 levels
runs on the whole volume without padding; one case is 0.2 M voxels, so a small 3D U-Net's forward and backward pass
over a whole case takes about half a second on 2 CPU cores (over a thousand iterations in 10 minutes); and the
enhancing rim, at least 2 voxels thick, stays learnable. ``shape=(96, 96, 64)`` gives 2 mm voxels of the same head
(about 3 times the compute); any shape keeps the field of view :data:`FOV_MM` and adapts the isotropic voxel size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from medunet.data.synthetic.fields import smooth_noise
from medunet.data.writers import write_nifti
from medunet.transforms.brats import BRATS_MODALITIES, MSD_LABELS, MSD_MODALITIES, MSD_TO_BRATS
from medunet.utils.files import write_json

__all__ = [
    "DEFAULT_SHAPE",
    "FOV_MM",
    "brain_affine",
    "make_brain_tumor_cases",
    "write_brats_dataset",
    "write_msd_dataset",
]

DEFAULT_SHAPE = (64, 64, 48)
FOV_MM = (192.0, 192.0, 128.0)  # left-right, posterior-anterior, inferior-superior
_MSD_TO_BRATS = np.array([MSD_TO_BRATS[i] for i in range(len(MSD_TO_BRATS))], dtype=np.uint8)
_AIR, _SCALP, _SKULL, _CSF, _GM, _WM, _DEEP, _EDEMA, _NECROSIS, _ENHANCING, _NON_ENHANCING = range(11)
# mean signal of each tissue (columns in the order above) per modality, relative to white matter in T1w ~ 0.8
_CONTRAST = np.array(
    [
        [0.0, 0.60, 0.05, 0.08, 0.56, 0.42, 0.50, 0.92, 0.45, 0.72, 0.78],  # FLAIR
        [0.0, 0.95, 0.08, 0.22, 0.55, 0.80, 0.63, 0.48, 0.25, 0.50, 0.45],  # T1w
        [0.0, 0.95, 0.08, 0.25, 0.58, 0.82, 0.65, 0.50, 0.28, 1.20, 0.48],  # T1gd
        [0.0, 0.55, 0.06, 1.00, 0.56, 0.38, 0.48, 0.80, 0.92, 0.66, 0.72],  # T2w
    ],
    dtype=np.float32,
)
_HEAD_MM = np.array([72.0, 90.0, 68.0])  # mean semi-axes of the head, scalp included
_BRAIN_FRACTION = 0.85  # the brain surface, as a fraction of the head's normalised radius
_MSD_LABEL = np.zeros(11, dtype=np.uint8)
_MSD_LABEL[[_EDEMA, _NECROSIS, _NON_ENHANCING, _ENHANCING]] = (1, 2, 2, 3)


def default_spacing(shape: tuple[int, int, int]) -> float:
    """Isotropic voxel size (mm) for which ``shape`` covers at least :data:`FOV_MM`."""
    return float(max(f / n for f, n in zip(FOV_MM, shape)))


def brain_affine(shape: tuple[int, int, int], spacing: float | None = None) -> np.ndarray:
    """RAS voxel-to-world affine (mm): axes left->right, posterior->anterior, inferior->superior, world origin at
    the centre of the volume."""
    spacing = default_spacing(shape) if spacing is None else float(spacing)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -spacing * (np.asarray(shape) - 1) / 2
    return affine


def _noise(rng: np.random.Generator, shape, scale_mm: float, spacing: float) -> np.ndarray:
    """:func:`smooth_noise` with its feature size in mm (at least one voxel)."""
    return smooth_noise(rng, shape, max(scale_mm / spacing, 1.0))


def _rotation(rng: np.random.Generator, max_degrees: tuple[float, float, float]) -> np.ndarray:
    """A random rotation matrix from angles about the three axes, each within +-max_degrees."""
    out = np.eye(3)
    for axis, limit in enumerate(max_degrees):
        a = np.deg2rad(rng.uniform(-limit, limit))
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i] = r[j, j] = np.cos(a)
        r[i, j], r[j, i] = -np.sin(a), np.sin(a)
        out = out @ r
    return out


def _head_coordinates(rng: np.random.Generator, shape, spacing: float) -> np.ndarray:
    """World coordinates (mm) of every voxel in the frame of a randomly placed and rotated head, ``(3, *shape)``."""
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * spacing for n in shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))
    centre = np.array([0.0, 0.0, -8.0]) + rng.uniform(-4, 4, 3)
    rot = _rotation(rng, (6.0, 4.0, 8.0)).astype(np.float32)
    return np.einsum("ij,j...->i...", rot.T, grid - centre.reshape(3, 1, 1, 1).astype(np.float32))


def _ellipsoid(coords: np.ndarray, centre, semi_axes) -> np.ndarray:
    """Normalised ellipsoid radius (1 on the surface) at each voxel."""
    return np.sqrt(sum(((coords[i] - centre[i]) / semi_axes[i]) ** 2 for i in range(3)))


def _anatomy(rng: np.random.Generator, coords: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Tissue map (uint8, the ``_AIR.._DEEP`` codes) of a head, and the brain mask (parenchyma, ventricles, sulci)."""
    shape = coords.shape[1:]

    semi = _HEAD_MM * rng.uniform(0.93, 1.03) * rng.uniform(0.96, 1.04, 3)
    q = _ellipsoid(coords, (0, 0, 0), semi) + 0.012 * _noise(rng, shape, 25, spacing)
    tissue = np.full(shape, _AIR, dtype=np.uint8)
    tissue[q <= 1.0] = _SCALP
    tissue[q <= 0.93] = _SKULL
    tissue[q <= 0.865] = _CSF
    brain = q <= _BRAIN_FRACTION
    qb = q / _BRAIN_FRACTION  # 1 on the brain surface

    # cortex: a grey band whose inner border folds (gyri), cut by CSF sulci along zero-crossings of a noise field
    folds = _noise(rng, shape, 7, spacing)
    white = qb < 0.86 + 0.05 * folds
    tissue[brain] = _GM
    tissue[brain & white] = _WM
    sulci = brain & (np.abs(_noise(rng, shape, 6, spacing)) < 0.22) & (qb > 0.8 + 0.05 * folds)
    tissue[sulci] = _CSF
    fissure = np.abs(coords[0]) < max(1.2, 0.6 * spacing)  # interhemispheric, at least one voxel wide
    tissue[brain & fissure & (coords[2] > -10 + 12 * folds)] = _CSF

    # deep grey nuclei and the lateral ventricles (a curved pair, size varying between cases)
    for side in (-1, 1):
        nucleus = _ellipsoid(coords, (side * 17, -4, -2), np.array([9.0, 15.0, 10.0]) * rng.uniform(0.85, 1.15))
        tissue[brain & (nucleus < 1)] = _DEEP
        size = rng.uniform(0.7, 1.5)
        arch = coords.copy()
        arch[2] = coords[2] + 0.012 * coords[1] ** 2  # horns bend downwards front and back
        ventricle = _ellipsoid(arch, (side * 9, -5, 12), np.array([5.0 * size, 26.0, 7.0 * size]))
        tissue[brain & (ventricle < 1)] = _CSF
    return tissue, brain


def _tumor(rng: np.random.Generator, coords: np.ndarray, tissue: np.ndarray, brain: np.ndarray, spacing: float):
    """Draw a tumour into ``tissue`` (in place) at a random place in one hemisphere."""
    shape = tissue.shape
    inside = np.argwhere(brain & (np.abs(coords[0]) > 14) & (tissue != _CSF))
    depth = _ellipsoid(coords, (0, 0, 0), _HEAD_MM * _BRAIN_FRACTION)
    candidates = inside[depth[tuple(inside.T)] < 0.7]
    centre_voxel = candidates[rng.integers(len(candidates))] if len(candidates) else np.array(shape) // 2
    centre = coords[(slice(None), *centre_voxel)]

    core_radius = rng.uniform(9, 25)
    rot = _rotation(rng, (90.0, 90.0, 90.0)).astype(np.float32)
    local = np.einsum("ij,j...->i...", rot, coords - centre.reshape(3, 1, 1, 1))
    aspect = rng.uniform(0.75, 1.3, 3)
    core_field = _ellipsoid(local, (0, 0, 0), core_radius * aspect) + 0.22 * _noise(
        rng, shape, core_radius * 0.5, spacing
    )
    hemisphere = brain & (np.sign(coords[0]) == np.sign(centre[0]))  # the falx stops the tumour
    core = (core_field < 1) & hemisphere

    # edema: a larger, more irregular blob around the core, mostly in white matter, never in CSF or outside brain
    edema_radius = core_radius + rng.uniform(4, 20)
    offset = rng.normal(0, 0.15 * core_radius, 3)
    edema_field = _ellipsoid(local, offset, edema_radius * rng.uniform(0.8, 1.25, 3))
    edema_field = edema_field + 0.3 * _noise(rng, shape, edema_radius * 0.35, spacing)
    edema = hemisphere & (tissue != _CSF) & ((edema_field < 0.75) | ((edema_field < 1) & (tissue == _WM)))
    tissue[edema & ~core] = _EDEMA

    # core = enhancing rim (at least 4 mm and 2 voxels thick) around a necrotic centre; some cases without necrosis
    max_fraction = 1 - max(4.0, 2 * spacing) / core_radius
    fraction = rng.uniform(0.55, 0.9) if rng.random() > 0.2 else 0.0
    fraction = min(fraction, max_fraction) if max_fraction >= 0.3 else 0.0
    necrosis = core_field + 0.06 * _noise(rng, shape, 3, spacing) < fraction
    tissue[core] = _ENHANCING
    tissue[core & necrosis] = _NECROSIS
    if rng.random() < 0.3:  # a non-enhancing part of the core
        tissue[core & ~necrosis & (_noise(rng, shape, core_radius * 0.6, spacing) > 0.7)] = _NON_ENHANCING


def _render(rng: np.random.Generator, tissue: np.ndarray, spacing: float) -> np.ndarray:
    """Four MR contrasts ``(4, *shape)`` float32 of a tissue map."""
    shape = tissue.shape
    contrast = _CONTRAST * rng.uniform(0.9, 1.1, _CONTRAST.shape).astype(np.float32)
    tumour = tissue >= _EDEMA
    common_bias = _noise(rng, shape, 90, spacing)
    images = np.empty((len(MSD_MODALITIES), *shape), dtype=np.float32)
    for m in range(len(MSD_MODALITIES)):
        texture = 1 + 0.035 * _noise(rng, shape, 1.5, spacing) + 0.08 * tumour * _noise(rng, shape, 4, spacing)
        image = ndimage.gaussian_filter(contrast[m][tissue] * texture, 0.6)  # partial volume
        bias = np.exp(rng.uniform(0.08, 0.2) * (0.7 * common_bias + 0.3 * _noise(rng, shape, 70, spacing)))
        sigma = rng.uniform(0.012, 0.035)
        real, imag = image * bias + rng.normal(0, sigma, shape), rng.normal(0, sigma, shape)
        images[m] = np.hypot(real, imag) * rng.uniform(300, 3000)  # Rician magnitude, arbitrary scanner units
    return images


def _one_case(
    rng: np.random.Generator, shape: tuple[int, int, int], spacing: float, skull_stripped: bool
) -> tuple[np.ndarray, np.ndarray]:
    coords = _head_coordinates(rng, shape, spacing)
    tissue, brain = _anatomy(rng, coords, spacing)
    _tumor(rng, coords, tissue, brain, spacing)
    images = _render(rng, tissue, spacing)
    if skull_stripped:
        images *= ndimage.binary_dilation(brain, iterations=1)
    return images, _MSD_LABEL[tissue]


def make_brain_tumor_cases(
    n: int = 1,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    seed: int = 0,
    spacing: float | None = None,
    skull_stripped: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic brain tumour MRI cases with MSD Task01 labels (see the module docstring for what is modelled).

    Case ``i`` depends only on ``(seed, i)`` (and the shape), so a dataset can be grown without changing its first
    cases.

    Args:
        n: number of cases.
        shape: ``(X, Y, Z)`` voxels along left-right, posterior-anterior, inferior-superior.
        seed: random seed.
        spacing: isotropic voxel size in mm; default: the one that makes ``shape`` cover :data:`FOV_MM` (2 mm for
            the default shape).
        skull_stripped: zero everything outside the (slightly dilated) brain, like the BraTS preprocessing.

    Returns:
        ``(images, labels, affine)``: float32 ``(n, 4, X, Y, Z)`` with channels FLAIR, T1w, T1gd, T2w; uint8
        ``(n, X, Y, Z)`` with 0 background, 1 edema, 2 necrosis / non-enhancing tumour, 3 enhancing tumour; and the
        4 x 4 RAS affine (mm) shared by all cases.
    """
    shape, spacing = _check_geometry(shape, spacing)
    images = np.empty((n, len(MSD_MODALITIES), *shape), dtype=np.float32)
    labels = np.empty((n, *shape), dtype=np.uint8)
    for i, (image, label) in enumerate(_cases(n, shape, seed, spacing, skull_stripped)):
        images[i], labels[i] = image, label
    return images, labels, brain_affine(shape, spacing)


def _check_geometry(shape, spacing: float | None) -> tuple[tuple[int, int, int], float]:
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"`shape` must be (X, Y, Z) with every size >= 16, got {shape!r}.")
    shape = tuple(int(s) for s in shape)
    spacing = default_spacing(shape) if spacing is None else float(spacing)
    if spacing <= 0:
        raise ValueError(f"`spacing` must be positive, got {spacing}.")
    return shape, spacing


def _cases(n: int, shape, seed: int, spacing: float, skull_stripped: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Case ``i`` of a dataset, generated one at a time (the writers never hold the whole dataset)."""
    for i in range(n):
        yield _one_case(np.random.default_rng([seed, i]), shape, spacing, skull_stripped)


def write_msd_dataset(
    directory: str | os.PathLike,
    n: int = 16,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    seed: int = 0,
    spacing: float | None = None,
    skull_stripped: bool = False,
) -> dict:
    """Write synthetic cases in the Medical Segmentation Decathlon Task01_BrainTumour layout.

    ``directory/dataset.json`` (written last, so its presence means the dataset is complete), ``imagesTr/BRATS_001
    .nii.gz`` 4D float32 ``(X, Y, Z, 4)`` with channels FLAIR, T1w, T1gd, T2w, and ``labelsTr/BRATS_001.nii.gz`` 3D
    uint8 in the MSD numbering; qform and sform hold the RAS affine. Every file is written atomically. Arguments as
    in :func:`make_brain_tumor_cases`.

    Returns:
        The ``dataset.json`` content; its ``training`` entries are relative to ``directory``, as in MSD.
    """
    directory = Path(directory)
    shape, spacing = _check_geometry(shape, spacing)
    affine = brain_affine(shape, spacing)
    training = []
    for i, (image, label) in enumerate(_cases(n, shape, seed, spacing, skull_stripped), start=1):
        item = {"image": f"./imagesTr/BRATS_{i:03d}.nii.gz", "label": f"./labelsTr/BRATS_{i:03d}.nii.gz"}
        write_nifti(directory / item["image"], np.moveaxis(image, 0, -1), affine)
        write_nifti(directory / item["label"], label, affine)
        training.append(item)
    dataset = {
        "name": "BRATS",
        "description": "Synthetic gliomas (medunet.data.synthetic): FLAIR, T1w, T1gd, T2w with tumour labels",
        "reference": f"medunet synthetic brain tumour generator, seed {seed}",
        "licence": "CC0-1.0",
        "release": "1.0",
        "tensorImageSize": "4D",
        "modality": {str(i): m for i, m in enumerate(MSD_MODALITIES)},
        "labels": {str(i): name for i, name in enumerate(MSD_LABELS)},
        "numTraining": n,
        "numTest": 0,
        "training": training,
        "test": [],
    }
    write_json(directory / "dataset.json", dataset)
    return dataset


def write_brats_dataset(
    directory: str | os.PathLike,
    n: int = 16,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    seed: int = 0,
    spacing: float | None = None,
    skull_stripped: bool = True,
    prefix: str = "BraTS2021",
) -> list[dict]:
    """Write synthetic cases in the BraTS 2021 layout: one folder per case, one 3D NIfTI per modality.

    ``directory/BraTS2021_00000/BraTS2021_00000_{flair,t1,t1ce,t2,seg}.nii.gz``; images float32, ``seg`` uint8 in
    the original BraTS numbering (1 necrosis/non-enhancing, 2 edema, 4 enhancing). Skull-stripped by default, as
    BraTS distributes its data. Files are written atomically.

    Returns:
        One ``{"image": [flair, t1, t1ce, t2], "label": seg}`` dict of absolute paths per case (image channels in the
        MSD order, so ``LoadImaged`` + ``EnsureChannelFirstd`` give the same channels as the MSD layout).
    """
    directory = Path(directory)
    shape, spacing = _check_geometry(shape, spacing)
    affine = brain_affine(shape, spacing)
    items = []
    for i, (image, label) in enumerate(_cases(n, shape, seed, spacing, skull_stripped)):
        case = directory / f"{prefix}_{i:05d}"
        paths = [case / f"{case.name}_{suffix}.nii.gz" for suffix in BRATS_MODALITIES]
        for path, channel in zip(paths, image):
            write_nifti(path, channel, affine)
        seg = write_nifti(case / f"{case.name}_seg.nii.gz", _MSD_TO_BRATS[label], affine)
        items.append({"image": [str(p.resolve()) for p in paths], "label": str(seg.resolve())})
    return items
