"""PNG overlays of predictions (and ground truth) over the image, for a person to look at after an evaluation."""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from ignite.engine import Engine, Events
from matplotlib.colors import ListedColormap
from skimage.segmentation import find_boundaries

from medunet.data.writers import protected_files, refuse_protected
from medunet.utils.files import atomic_path

__all__ = ["OverlayWriter", "save_overlay"]

logger = logging.getLogger(__name__)

# class colours: 1 green, 2 red, 3 yellow, 4 blue, 5 magenta (MSD brain labels: edema, necrosis, enhancing)
_COLOURS = [(0, 0, 0, 0), (0.1, 0.8, 0.2, 1), (0.9, 0.1, 0.1, 1), (1.0, 0.9, 0.0, 1), (0.2, 0.4, 1.0, 1), (1, 0, 1, 1)]


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _squeeze_channel(x: np.ndarray, spatial_dims: int) -> np.ndarray:
    if x.ndim == spatial_dims + 1:
        if x.shape[0] != 1:
            raise ValueError(f"expected a label map (1, *spatial) or (*spatial), got shape {x.shape}.")
        x = x[0]
    return x


def _slices(masks: list[np.ndarray], axis: int, count: int) -> list[int]:
    """``count`` slices along ``axis`` spread over the labelled range (the most labelled one among them)."""
    size = masks[0].shape[axis]
    other = tuple(a for a in range(masks[0].ndim) if a != axis)
    area = sum((m > 0).sum(axis=other) for m in masks)
    hit = np.flatnonzero(area)
    if len(hit) == 0:
        return sorted({int(i) for i in np.linspace(size * 0.3, size * 0.7, count)})
    picks = np.linspace(hit[0], hit[-1], count + 2)[1:-1].round().astype(int) if count > 1 else []
    best = int(np.argmax(area))
    return sorted({*map(int, picks), best})[:count] if count > 1 else [best]


def _show(ax, background: np.ndarray, labels: np.ndarray | None, mode: str, title: str) -> None:
    lo, hi = np.percentile(background, (1, 99.5)) if background.size else (0, 1)
    ax.imshow(background.T, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, origin="lower")
    if labels is not None:
        if mode == "outlines":
            edges = find_boundaries(labels, mode="inner")
            ax.imshow(np.ma.masked_where(~edges.T, edges.T), cmap=ListedColormap([(1, 0.85, 0, 1)]), origin="lower")
        else:
            cmap = ListedColormap(_COLOURS[: max(int(labels.max()) + 1, 2)])
            shown = np.ma.masked_where(labels.T == 0, labels.T)
            ax.imshow(
                shown,
                cmap=cmap,
                vmin=0,
                vmax=max(int(labels.max()), 1),
                alpha=0.55,
                origin="lower",
                interpolation="nearest",
            )
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def save_overlay(
    path: str | os.PathLike,
    image,
    pred,
    label=None,
    num_slices: int = 3,
    axis: int = -1,
    mode: str = "labels",
    title: str = "",
) -> Path:
    """Write a PNG of ``pred`` (and ``label``) over ``image``, atomically.

    Args:
        path: the PNG file.
        image: ``(*spatial)`` or ``(1, *spatial)`` grey values (one channel, e.g. FLAIR).
        pred: label map of the same spatial shape (class ids, or instance ids for ``mode="outlines"``).
        label: optional ground truth label map, drawn in its own column.
        num_slices: 3D only: rows of slices along ``axis``, spread over the labelled range.
        axis: 3D only: the slicing axis (-1: the last, axial for RAS volumes).
        mode: ``"labels"`` (filled classes) or ``"outlines"`` (instance boundaries).
        title: figure title.
    """
    if mode not in ("labels", "outlines"):
        raise ValueError(f"mode must be 'labels' or 'outlines', got {mode!r}.")
    pred_np = _numpy(pred)
    spatial_dims = 3 if pred_np.ndim >= 3 and not (pred_np.ndim == 3 and pred_np.shape[0] == 1) else 2
    pred_np = _squeeze_channel(pred_np, spatial_dims).astype(np.int64)
    image_np = _squeeze_channel(_numpy(image), spatial_dims)
    label_np = None if label is None else _squeeze_channel(_numpy(label), spatial_dims).astype(np.int64)
    if image_np.shape != pred_np.shape or (label_np is not None and label_np.shape != pred_np.shape):
        shapes = [image_np.shape, pred_np.shape] + ([] if label_np is None else [label_np.shape])
        raise ValueError(f"image, prediction (and label) must have one spatial shape, got {shapes} for {path}.")
    if spatial_dims == 3:
        axis = axis % 3
        picks = _slices([m for m in (pred_np, label_np) if m is not None], axis, num_slices)
        views = [
            tuple(np.take(a, i, axis=axis) if a is not None else None for a in (image_np, pred_np, label_np))
            for i in picks
        ]
        names = [f"slice {i}" for i in picks]
    else:
        views, names = [(image_np, pred_np, label_np)], [""]
    columns = 3 if label_np is not None else 2
    fig, axes = plt.subplots(len(views), columns, figsize=(3 * columns, 3 * len(views)), squeeze=False)
    for row, ((img, prd, lab), name) in enumerate(zip(views, names)):
        _show(axes[row, 0], img, None, mode, f"image {name}".strip())
        if lab is not None:
            _show(axes[row, 1], img, lab, mode, "ground truth")
        _show(axes[row, columns - 1], img, prd, mode, "prediction")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return Path(path)


class OverlayWriter:
    """Ignite handler: after each iteration of an evaluator, one PNG per item with :func:`save_overlay`.

    Reads the decollated engine output and batch (lists of dicts, MONAI's convention after postprocessing; a key is
    looked up in the output first, then in the batch, where MONAI keeps the keys that came with the data). Files are
    named after the item's ``name_key`` entry, else the prediction's meta ``filename_or_obj``:
    ``<output_dir>/<name>_overlay.png``.

    Args:
        output_dir: folder of the PNGs (created).
        image_key, pred_key, label_key: entries of the output dict; ``label_key=None`` draws no ground truth.
        channel: image channel drawn under the labels (0: FLAIR in the MSD brain layout).
        num_slices, axis, mode: as :func:`save_overlay`.
        name_key: item entry naming the file.
        max_items: stop after this many PNGs (None: all).
        protect: files never to write over: datalist items or paths (an inference config passes its datalist, so an
            overlay written into the input folder cannot replace an input image).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        image_key: str = "image",
        pred_key: str = "pred",
        label_key: str | None = "label",
        channel: int = 0,
        num_slices: int = 3,
        axis: int = -1,
        mode: str = "labels",
        name_key: str | None = None,
        max_items: int | None = None,
        protect: Iterable[Mapping[Hashable, Any] | str | os.PathLike] = (),
    ) -> None:
        self.output_dir = Path(output_dir)
        self.image_key, self.pred_key, self.label_key = image_key, pred_key, label_key
        self.channel, self.num_slices, self.axis, self.mode = channel, num_slices, axis, mode
        self.name_key, self.max_items = name_key, max_items
        self.written: list[Path] = []
        self.protect = protected_files(protect)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _name(self, item: dict, index: int) -> str:
        if self.name_key and item.get(self.name_key):
            return str(item[self.name_key])
        meta = getattr(item[self.pred_key], "meta", {}) or {}
        source = meta.get("filename_or_obj")
        if isinstance(source, (list, tuple)):
            source = source[0]
        return Path(str(source)).name.split(".")[0] if source else f"item_{index:04d}"

    def __call__(self, engine: Engine) -> None:
        outputs, batches = engine.state.output, engine.state.batch
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        batches = batches if isinstance(batches, (list, tuple)) else [batches] * len(outputs)
        for output, batch in zip(outputs, batches):
            item = {**(batch if isinstance(batch, dict) else {}), **output}
            if self.max_items is not None and len(self.written) >= self.max_items:
                return
            name = self._name(item, len(self.written))
            image = item[self.image_key][self.channel]
            label = item.get(self.label_key) if self.label_key else None
            path = self.output_dir / f"{name}_overlay.png"
            refuse_protected(path, self.protect)
            save_overlay(path, image, item[self.pred_key], label, self.num_slices, self.axis, self.mode, name)
            self.written.append(path)
            logger.info("wrote %s", path)
