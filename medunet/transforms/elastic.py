"""Elastic deformations of the two U-Net papers, as MONAI dictionary transforms.

Both draw random displacement vectors on a coarse control grid and interpolate them with a cubic kernel to a
smooth per-pixel displacement field ``u``; every key is then resampled at ``x + u(x)`` with the same field:

- :class:`PaperElastic2Dd` (Ronneberger et al. 2015): a 3x3 grid spanning the image (corners, edge midpoints,
  centre), ``N(0, 10 px)`` vectors, bicubic interpolation. Built on MONAI's :class:`~monai.transforms.Rand2DElasticd`
  (random state, optional rotation/shear/shift/scale, resampler).
- :class:`GridElastic3Dd` / :class:`GridElasticd` (Cicek et al. 2016): ``N(0, 4)`` voxel vectors on a grid of
  32-voxel spacing covering the volume, interpolating cubic B-spline. MONAI's ``Rand3DElasticd`` (dense noise
  smoothed by a Gaussian) is a different scheme.

The control grid carries one ring of extra random points outside the image on every side, so the interpolation
kernel has its four supports everywhere inside the image. Displacements are in pixels/voxels of the array axes.
The dense field is separable: one small ``(size, n_control)`` matrix per axis, contracted with the control
offsets, which costs a few tens of milliseconds for a 128^3 volume.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import get_track_meta
from monai.transforms import MapTransform, Rand2DElasticd, RandomizableTransform, Resample
from monai.transforms.utils import create_grid
from monai.utils import convert_to_tensor, ensure_tuple, ensure_tuple_rep

__all__ = [
    "GridElastic3Dd",
    "GridElasticd",
    "PaperElastic2Dd",
    "control_grid_shape",
    "dense_displacement",
]

_INTERPOLATIONS = ("bspline", "bicubic")
_BICUBIC_A = -0.75  # torch's (and so MONAI's) bicubic kernel parameter


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel (interpolating, support 2) with ``a = -0.75`` as ``torch`` bicubic."""
    a, x = _BICUBIC_A, np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _cubic_bspline(x: np.ndarray) -> np.ndarray:
    """The cubic B-spline basis function (smoothing, C2, support 2)."""
    x = np.abs(x)
    near = (4 - 6 * x * x + 3 * x**3) / 6
    far = (2 - x) ** 3 / 6
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _mirrored_basis(positions: np.ndarray, n: int, kernel) -> np.ndarray:
    """``(len(positions), n)`` kernel weights of the control indices ``0..n-1`` at fractional ``positions``,
    with the indices -1 and n folded onto 1 and n-2 (whole-sample mirror, scipy's ``mode="mirror"``)."""
    basis = kernel(positions[:, None] - np.arange(-1, n + 1)[None, :])
    basis[:, 2] += basis[:, 0]
    basis[:, n - 1] += basis[:, n + 1]
    return basis[:, 1 : n + 1]


@lru_cache(maxsize=128)
def _axis_weights(size: int, n: int, spacing: float, interpolation: str) -> torch.Tensor:
    """Interpolation matrix ``W`` of one axis: ``u[k] = sum_j W[k, j] * offset[j]`` for voxels ``k < size``.

    The ``n`` control points are ``spacing`` voxels apart and centred on the axis: control index ``(n - 1) / 2``
    sits on voxel ``(size - 1) / 2``. Both kernels interpolate (``u`` equals the offset on a control point); the
    B-spline's coefficients come from the mirror-boundary prefilter, exactly as ``scipy.ndimage.map_coordinates``
    with ``order=3, mode="mirror"``.
    """
    positions = (n - 1) / 2 + (np.arange(size) - (size - 1) / 2) / spacing
    if interpolation == "bicubic":
        weights = _mirrored_basis(positions, n, _keys_cubic)
    else:
        at_knots = _mirrored_basis(np.arange(n, dtype=float), n, _cubic_bspline)
        weights = _mirrored_basis(positions, n, _cubic_bspline) @ np.linalg.inv(at_knots)
    return torch.from_numpy(weights.astype(np.float32))


def control_grid_shape(spatial_size: Sequence[int], spacing: Sequence[float]) -> tuple[int, ...]:
    """Control points per axis for a grid of ``spacing`` voxels covering ``spatial_size``, plus one outer ring:
    ``ceil((size - 1) / spacing) + 1 + 2``. E.g. 128 voxels at spacing 32 -> 5 + 2 = 7."""
    return tuple(math.ceil((n - 1) / g - 1e-6) + 3 for n, g in zip(spatial_size, spacing))


def dense_displacement(
    offsets: torch.Tensor, spatial_size: Sequence[int], spacing: Sequence[float], interpolation: str = "bspline"
) -> torch.Tensor:
    """Interpolate control-point displacements to every voxel.

    Args:
        offsets: ``(D, *control_shape)`` displacement vectors (voxels) on a centred control grid of ``spacing``
            voxels (see :func:`control_grid_shape`); at least 3 points per axis.
        spatial_size: ``D`` voxel counts.
        spacing: control-point distance in voxels per axis (float allowed).
        interpolation: ``"bspline"`` (interpolating cubic B-spline, C2) or ``"bicubic"`` (Keys cubic convolution,
            torch's bicubic kernel, C1).

    Returns:
        ``(D, *spatial_size)`` float displacement field, equal to ``offsets`` on the control points.
    """
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}.")
    dims = len(spatial_size)
    if offsets.ndim != dims + 1 or offsets.shape[0] != dims or min(offsets.shape[1:]) < 3:
        raise ValueError(
            f"offsets must be (D, *control_shape) with D = {dims} and >= 3 points per axis, got {tuple(offsets.shape)}."
        )
    if len(spacing) != dims or min(spacing) <= 0:
        raise ValueError(f"spacing must be {dims} positive control-point distances, got {tuple(spacing)!r}.")
    field = offsets.float()
    for size, g in zip(spatial_size, spacing):
        weights = _axis_weights(int(size), field.shape[1], float(g), interpolation)
        # contract the leading control axis; the new voxel axis is appended last, so after D steps the order is
        # (D, size_0, ..., size_{D-1})
        field = torch.tensordot(field, weights.to(field.device), dims=([1], [1]))
    return field


def _per_key(value, keys: tuple, name: str) -> tuple:
    """One ``mode``/``padding_mode`` per key: a single value is repeated, a sequence must match the keys."""
    if isinstance(value, (str, int)):
        return (value,) * len(keys)
    value = tuple(value)
    if len(value) != len(keys):
        raise ValueError(
            f"{name} needs one entry per key: got {len(value)} ({value!r}) for {len(keys)} keys {keys!r}; "
            f'pass e.g. {name}=("bilinear", "nearest", "nearest") for (image, label, weight).'
        )
    return value


def _identity_plus(displacement: torch.Tensor, homogeneous: bool) -> torch.Tensor:
    """MONAI's centred voxel grid (``create_grid``) moved by ``displacement`` ``(D, *spatial)``."""
    size = displacement.shape[1:]
    grid = create_grid(size, homogeneous=homogeneous, dtype=torch.float32, device=displacement.device, backend="torch")
    grid[: len(size)] += displacement
    return grid


def _warp_keys(transform: MapTransform, d: dict, grid: torch.Tensor | None, resampler: Resample) -> dict:
    """Resample every key with the same ``grid`` (with the transform's per-key modes); ``None``: no warp, only the
    float32 conversion that resampling would do, so batches collate whether or not the transform fired."""
    for key, mode, padding_mode in transform.key_iterator(d, transform.mode, transform.padding_mode):
        if grid is None:
            d[key] = convert_to_tensor(d[key], dtype=torch.float32, track_meta=get_track_meta())
        else:
            d[key] = resampler(d[key], grid, mode=mode, padding_mode=padding_mode)
    return d


def _spatial_size(d: dict, key: Hashable, dims: int, name: str) -> tuple[int, ...]:
    size = tuple(int(n) for n in d[key].shape[1:])
    if len(size) != dims:
        raise ValueError(
            f"{name} expects channel-first {dims}D data (C, *spatial), got {key!r} of shape {tuple(d[key].shape)}."
        )
    return size


class PaperElastic2Dd(Rand2DElasticd):
    """The 2015 U-Net's elastic deformation: ``N(0, magnitude)`` pixel displacements on a ``grid x grid`` control
    grid spanning each image, interpolated bicubically.

    Control points sit on the image corners, edge midpoints and centre for ``grid=3`` (spacing
    ``(size - 1) / (grid - 1)`` per axis, recomputed for every image size), plus one ring outside the image.
    Each control point gets a vector with components ``N(0, magnitude)`` pixels; the dense field interpolates them
    with torch's bicubic kernel (Keys, a = -0.75), so the displacement std is ``magnitude`` on the control points,
    ``0.72 * magnitude`` at the cell centres and about ``0.85 * magnitude`` averaged over the image.

    MONAI's ``Rand2DElasticd`` upsamples its control grid with ``interpolate(scale_factor=spacing)`` and a centre
    crop; for a grid this coarse that misplaces the field (even at zero magnitude it shifts the image by pixels), so
    this subclass keeps MONAI's random state, affine options and resampler and builds the field exactly instead.

    Args:
        keys: keys to deform with the same field, channel-first ``(C, H, W)``.
        prob: probability of deforming a sample (default 1.0: every training sample, as in the paper; MONAI's
            default 0.1 is too low for a recipe built on augmentation). Outputs are float32 either way.
        magnitude: displacement std in pixels (the paper: 10).
        grid: control points per axis across the image (the paper: 3).
        mode: one interpolation per key (``"bilinear"`` images, ``"nearest"`` labels), or one for all keys.
        padding_mode: ``"reflection"`` (default), ``"border"`` or ``"zeros"``, per key or one for all.
        rotate_range, shear_range, translate_range, scale_range: optional random affine on top of the elastic
            field, as in :class:`~monai.transforms.Rand2DElasticd` (the paper also shifts and rotates).
        device: device for the field; defaults to the data's.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        PaperElastic2Dd(["image", "label", "weight"], mode=("bilinear", "nearest", "bilinear"))
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 1.0,
        magnitude: float = 10.0,
        grid: int = 3,
        mode: str | Sequence[str] = ("bilinear", "nearest"),
        padding_mode: str | Sequence[str] = "reflection",
        rotate_range: Sequence | float | None = None,
        shear_range: Sequence | float | None = None,
        translate_range: Sequence | float | None = None,
        scale_range: Sequence | float | None = None,
        device: torch.device | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        if magnitude < 0:
            raise ValueError(f"magnitude must be >= 0 pixels, got {magnitude!r}.")
        if int(grid) != grid or grid < 2:
            raise ValueError(f"grid must be an integer >= 2 (control points per axis), got {grid!r}.")
        keys_t = ensure_tuple(keys)
        super().__init__(
            keys,
            spacing=1.0,  # unused: the spacing is derived from each image's size
            magnitude_range=(magnitude, magnitude),
            prob=prob,
            rotate_range=rotate_range,
            shear_range=shear_range,
            translate_range=translate_range,
            scale_range=scale_range,
            mode=_per_key(mode, keys_t, "mode"),
            padding_mode=_per_key(padding_mode, keys_t, "padding_mode"),
            device=device,
            allow_missing_keys=allow_missing_keys,
        )
        self.magnitude = float(magnitude)
        self.grid = int(grid)

    def spacing_for(self, spatial_size: Sequence[int]) -> tuple[float, ...]:
        """Control-point spacing in pixels for an image of ``spatial_size``: ``(size - 1) / (grid - 1)``."""
        return tuple(max(n - 1, 1) / (self.grid - 1) for n in spatial_size)

    def randomize(self, data: object = None) -> None:
        """Decide whether to deform, and draw the ``(2, grid + 2, grid + 2)`` control offsets (ring included)."""
        super().randomize(None)
        if self._do_transform:
            self.rand_2d_elastic.deform_grid.randomize((self.grid + 2,) * 2)

    def displacement(self, spatial_size: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
        """The dense ``(2, H, W)`` elastic displacement in pixels of the current offsets (no affine part)."""
        deform = self.rand_2d_elastic.deform_grid
        if getattr(deform, "random_offset", None) is None:
            raise RuntimeError("call randomize() before displacement().")
        offsets = torch.as_tensor(deform.rand_mag * deform.random_offset, device=device)
        return dense_displacement(offsets, spatial_size, self.spacing_for(spatial_size), "bicubic")

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        first_key = self.first_key(d)
        if first_key == ():
            return d
        size = _spatial_size(d, first_key, 2, type(self).__name__)
        self.randomize(None)
        if not self._do_transform:
            return _warp_keys(self, d, None, self.rand_2d_elastic.resampler)
        elastic = self.rand_2d_elastic
        device = elastic.device or getattr(d[first_key], "device", None)
        grid = _identity_plus(self.displacement(size, device), homogeneous=True)
        grid = elastic.rand_affine_grid(grid=grid)
        return _warp_keys(self, d, grid, elastic.resampler)


class GridElasticd(RandomizableTransform, MapTransform):
    """The 3D U-Net's elastic deformation (Cicek et al. 2016), for 2D or 3D: ``N(0, sigma)`` voxel displacement
    vectors on a control grid of ``grid_spacing`` voxels, interpolated by a cubic B-spline to a smooth dense field.

    The control grid is centred on the volume and covers it (``ceil((size - 1) / grid_spacing) + 1`` points per
    axis) plus one ring outside; every point gets a vector with independent ``N(0, sigma)`` components (voxels).
    The B-spline interpolates and is twice continuously differentiable: the field equals the vectors on the control
    points (std ``sigma`` there), ``0.73 * sigma`` at the cell centres in 3D and about ``0.87 * sigma`` averaged over
    the volume. All keys are resampled with the same field through MONAI's :class:`~monai.transforms.Resample` in
    float32.

    Args:
        keys: keys to deform with the same field, channel-first ``(C, *spatial)``.
        spatial_dims: 2 or 3.
        prob: probability of deforming a sample (default 1.0). Outputs are float32 either way.
        sigma: displacement std in voxels, one value or one per axis (the paper: 4).
        grid_spacing: control-point distance in voxels, one value or one per axis (the paper: 32).
        interpolation: ``"bspline"`` (the paper) or ``"bicubic"``.
        mode: one interpolation per key (``"bilinear"`` images, ``"nearest"`` labels and sparse-annotation weight
            maps), or one for all keys.
        padding_mode: ``"reflection"`` (default), ``"border"`` or ``"zeros"``, per key or one for all.
        device: device for the field; defaults to the data's.
        allow_missing_keys: don't raise if a key is missing.

    Metadata: MetaTensor inputs stay MetaTensors with their meta (affine unchanged: the image is warped within its
    own voxel grid). The warp is random and not invertible, so, like MONAI's ``Rand*Elasticd``, it records no
    entry in ``applied_operations``; ``Invertd`` of the other transforms of a pipeline is unaffected.
    """

    backend = Resample.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: int = 3,
        prob: float = 1.0,
        sigma: float | Sequence[float] = 4.0,
        grid_spacing: float | Sequence[float] = 32,
        interpolation: str = "bspline",
        mode: str | Sequence[str] = ("bilinear", "nearest"),
        padding_mode: str | Sequence[str] = "reflection",
        device: torch.device | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        self.sigma = tuple(float(s) for s in ensure_tuple_rep(sigma, spatial_dims))
        self.grid_spacing = tuple(float(g) for g in ensure_tuple_rep(grid_spacing, spatial_dims))
        if min(self.sigma) < 0:
            raise ValueError(f"sigma must be >= 0 voxels, got {sigma!r}.")
        if min(self.grid_spacing) <= 0:
            raise ValueError(f"grid_spacing must be > 0 voxels, got {grid_spacing!r}.")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}.")
        self.spatial_dims = spatial_dims
        self.interpolation = interpolation
        self.mode = _per_key(mode, self.keys, "mode")
        self.padding_mode = _per_key(padding_mode, self.keys, "padding_mode")
        self.device = device
        self.resampler = Resample(device=device, dtype=torch.float32)
        self.offsets: np.ndarray | None = None

    def randomize(self, spatial_size: Sequence[int]) -> None:
        """Decide whether to deform, and draw the control offsets ``(D, *control_shape)`` for ``spatial_size``."""
        super().randomize(None)
        if not self._do_transform:
            return
        shape = control_grid_shape(spatial_size, self.grid_spacing)
        sigma = np.asarray(self.sigma, dtype=np.float32).reshape(-1, *([1] * self.spatial_dims))
        self.offsets = self.R.standard_normal((self.spatial_dims, *shape)).astype(np.float32) * sigma

    def displacement(self, spatial_size: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
        """The dense ``(D, *spatial_size)`` field of the current offsets (after :meth:`randomize`)."""
        if self.offsets is None:
            raise RuntimeError("call randomize(spatial_size) before displacement().")
        offsets = torch.as_tensor(self.offsets, device=device)
        return dense_displacement(offsets, spatial_size, self.grid_spacing, self.interpolation)

    def __call__(self, data: Mapping[Hashable, torch.Tensor], randomize: bool = True) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        first_key = self.first_key(d)
        if first_key == ():
            return d
        size = _spatial_size(d, first_key, self.spatial_dims, type(self).__name__)
        if randomize:
            self.randomize(size)
        if not self._do_transform:
            return _warp_keys(self, d, None, self.resampler)
        device = self.device or getattr(d[first_key], "device", None)
        grid = _identity_plus(self.displacement(size, device), homogeneous=False)
        return _warp_keys(self, d, grid, self.resampler)


class GridElastic3Dd(GridElasticd):
    """:class:`GridElasticd` for volumes (``spatial_dims=3``) with the 3D U-Net's parameters as defaults:
    ``N(0, 4)`` voxel vectors on a 32-voxel grid, cubic B-spline. Takes every argument of :class:`GridElasticd`
    but ``spatial_dims``.

    Example::

        GridElastic3Dd(["image", "label", "weight"], mode=("bilinear", "nearest", "nearest"))
    """

    def __init__(self, keys: KeysCollection, **kwargs: Any) -> None:
        super().__init__(keys, spatial_dims=3, **kwargs)
