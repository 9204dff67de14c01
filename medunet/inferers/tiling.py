"""Where the windows go, and how a window that reaches past the image border is filled by mirroring.

All positions are in image coordinates along one axis. A window reads input ``[start, start + in_size)`` and its
prediction covers ``[start + margin, start + margin + out_size)``; ``margin`` is 0 for same-padded networks.
Positions outside ``[0, size)`` are read through :func:`mirror_index`, so no padded copy of the image is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["PADDING_MODES", "AxisPlan", "mirror_index", "plan_same_axis", "plan_valid_axis"]

PADDING_MODES = ("reflect", "symmetric", "replicate", "circular", "constant")


@dataclass(frozen=True)
class AxisPlan:
    """Windows along one axis: ``starts`` of input windows of ``in_size`` predicting ``out_size`` from ``margin``."""

    size: int
    in_size: int
    out_size: int
    margin: int
    starts: tuple[int, ...]


def plan_valid_axis(
    size: int,
    roi: int,
    margin: int,
    alignment: int,
    output_size: Callable[[int], int],
    valid_input_size: Callable[[int], int],
) -> AxisPlan:
    """Overlap-tile plan for a valid (unpadded) network, as in the 2015 paper.

    Output tiles start at multiples of ``alignment`` (the network's pooling factor), so every window's pooling
    grid lines up with that of the whole mirror-padded image and the stitched result equals one pass over it.
    Windows step by the largest multiple of ``alignment`` not above the output tile; their number is the minimum
    that covers the image at such a step, spread evenly. When the image is smaller than one output tile the
    window shrinks to the smallest valid input covering it (``valid_input_size``).
    """
    out = output_size(roi)
    if out >= size:  # one window: the smallest valid input whose output covers the image
        roi = valid_input_size(size)
        return AxisPlan(size, roi, output_size(roi), margin, (-margin,))
    step = out // alignment * alignment
    if step < 1:
        raise ValueError(
            f"roi_size {roi} gives an output tile of {out}, smaller than the network's pooling factor {alignment}: "
            f"windows at pooling-aligned offsets cannot cover the image. Use an roi_size of at least "
            f"{valid_input_size(alignment)}."
        )
    last = math.ceil((size - out) / alignment) * alignment
    count = math.ceil(last / step) + 1
    units = last // alignment
    starts = tuple(alignment * ((i * units + (count - 1) // 2) // (count - 1)) - margin for i in range(count))
    return AxisPlan(size, roi, out, margin, starts)


def plan_same_axis(size: int, roi: int, overlap: float) -> AxisPlan:
    """Sliding-window plan for a same-padded network: windows spread evenly, the first and last flush with the
    image borders (no squeezed last window); an image smaller than the window gets one centred window."""
    if size <= roi:
        return AxisPlan(size, roi, roi, 0, (-((roi - size) // 2),))
    stride = max(roi * (1.0 - overlap), 1.0)
    count = math.ceil((size - roi) / stride) + 1
    starts = tuple(round(i * (size - roi) / (count - 1)) for i in range(count))
    return AxisPlan(size, roi, roi, 0, starts)


def mirror_index(start: int, length: int, size: int, mode: str) -> slice | torch.Tensor | None:
    """Indices into an axis of ``size`` for positions ``start .. start + length - 1``.

    Returns a ``slice`` when the range lies inside the axis, otherwise a LongTensor of indices folded back into
    the axis by ``mode`` ("reflect": ``d c b | a b c d | c b a``, "symmetric": ``c b a | a b c d | d c b``,
    "replicate", "circular"). For ``"constant"`` (zeros) it returns None outside; the caller fills zeros.
    """
    if start >= 0 and start + length <= size:
        return slice(start, start + length)
    if mode == "constant":
        return None
    i = torch.arange(start, start + length)
    if mode == "reflect":
        if size == 1:
            return torch.zeros_like(i)
        period = 2 * (size - 1)
        i = i.remainder(period)
        return torch.where(i >= size, period - i, i)
    if mode == "symmetric":
        i = i.remainder(2 * size)
        return torch.where(i >= size, 2 * size - 1 - i, i)
    if mode == "replicate":
        return i.clamp(0, size - 1)
    if mode == "circular":
        return i.remainder(size)
    raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {mode!r}.")


def read_window(image: torch.Tensor, starts: Sequence[int], lengths: Sequence[int], mode: str) -> torch.Tensor:
    """The window ``[starts, starts + lengths)`` of ``image`` (C, *spatial), mirrored where it leaves the image."""
    out = image
    for axis, (start, length) in enumerate(zip(starts, lengths)):
        dim = axis + 1
        index = mirror_index(start, length, image.shape[dim], mode)
        if isinstance(index, slice):
            out = out[(slice(None),) * dim + (index,)]
        elif index is not None:
            out = out.index_select(dim, index.to(out.device))
        else:  # constant: zeros around the part inside the image
            lo, hi = max(start, 0), min(start + length, image.shape[dim])
            shape = list(out.shape)
            shape[dim] = length
            padded = out.new_zeros(shape)
            if hi > lo:
                src = out[(slice(None),) * dim + (slice(lo, hi),)]
                padded[(slice(None),) * dim + (slice(lo - start, hi - start),)] = src
            out = padded
    return out
