"""Array plumbing shared by the label transforms: numpy/torch in, numpy compute, the input's kind back out.

The transforms follow MONAI's channel-first convention but also accept a plain spatial array. The layout is read
from the shape alone:

- ``(H, W)`` or ``(H, W, D)`` with ``H > 1``: spatial only, no channel axis;
- ``(1, H, W)`` or ``(1, H, W, D)``: one channel in front.

A 3D volume whose first axis has length 1 is therefore read as a channel-first 2D image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.utils import convert_to_dst_type, ensure_tuple_rep

__all__ = ["as_label_array", "check_spacing", "from_numpy_like", "output_keys", "split_channel", "to_numpy"]


def to_numpy(data: NdarrayOrTensor | Sequence) -> np.ndarray:
    """``data`` (numpy array, torch tensor on any device, MetaTensor, nested sequence) as a numpy array."""
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    return np.asarray(data)


def as_label_array(data: NdarrayOrTensor | Sequence, name: str = "labels") -> np.ndarray:
    """Integer label map as ``int64`` numpy; floats are accepted when they hold whole numbers (nearest resampling).

    Raises:
        TypeError: for a non-numeric array.
        ValueError: for negative, fractional or non-finite labels.
    """
    array = to_numpy(data)
    if array.dtype == bool:
        return array.astype(np.int64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"`{name}` must hold integer labels, got an array of dtype {array.dtype}.")
    floating = np.issubdtype(array.dtype, np.floating)
    if floating and not (np.all(np.isfinite(array)) and np.array_equal(array, np.round(array))):
        raise ValueError(f"`{name}` must hold whole-number labels, got fractional or non-finite values.")
    labels = array.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ValueError(f"`{name}` must be non-negative (0 = background), got a minimum of {labels.min()}.")
    return labels


def split_channel(array: np.ndarray, name: str = "labels") -> tuple[np.ndarray, bool]:
    """Drop a leading channel axis of size 1: ``(1, *spatial) -> spatial``; returns the array and whether it had one.

    Raises:
        ValueError: unless ``array`` is 2D or 3D, with or without one leading channel.
    """
    if array.ndim == 2 or (array.ndim == 3 and array.shape[0] != 1):
        return array, False
    if array.ndim in (3, 4) and array.shape[0] == 1:
        return array[0], True
    raise ValueError(f"`{name}` must be (H, W), (H, W, D), (1, H, W) or (1, H, W, D), got shape {tuple(array.shape)}.")


def from_numpy_like(result: np.ndarray, like: NdarrayOrTensor, channel: bool, dtype: type) -> NdarrayOrTensor:
    """``result`` (spatial) in the kind, device and layout of ``like``: numpy, tensor, or MetaTensor with its meta."""
    if channel:
        result = result[None]
    if isinstance(like, torch.Tensor):
        dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    return convert_to_dst_type(result, like, dtype=dtype)[0]


def check_spacing(spacing: Sequence[float] | float | None, ndim: int) -> tuple[float, ...] | None:
    """``spacing`` as one positive float per spatial axis (a scalar applies to all), or None.

    Raises:
        ValueError: for the wrong length or a non-positive entry.
    """
    if spacing is None:
        return None
    values = (float(spacing),) * ndim if np.isscalar(spacing) else tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(s > 0 and np.isfinite(s) for s in values):
        raise ValueError(f"`spacing` must be {ndim} positive numbers (one per spatial axis), got {spacing!r}.")
    return values


def output_keys(keys: tuple, output: str | Sequence[str] | None, name: str) -> tuple:
    """One output key per input key: ``keys`` themselves for None (write in place), else ``output`` repeated.

    Raises:
        ValueError: when two keys would write to the same output key.
    """
    outputs = keys if output is None else ensure_tuple_rep(output, len(keys))
    if len(set(outputs)) != len(outputs):
        raise ValueError(f"each key needs its own `{name}`, got {outputs!r} for keys {keys!r}.")
    return outputs
