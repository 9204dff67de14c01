"""2D cell microscopy datasets: find the images of a folder, check them, load them as MONAI MetaTensors.

Four layouts, auto-detected (or forced with ``layout=``):

- ``"folders"``: ``images/x.tif`` + ``labels/x.tif`` (TIFF or PNG, matched by file stem); labels are instance ids,
  or a binary mask (0/1 or 0/255) that becomes instances by connected components.
- ``"ctc"``: the Cell Tracking Challenge (the U-Net paper's PhC-U373, DIC-HeLa): sequences ``01/t000.tif`` ...,
  ground truth ``01_GT/SEG/man_seg000.tif`` (16-bit instance ids) for some frames only; the annotated frames are
  taken (``man_seg<t>`` matched to ``t<t>`` by number, so 3- and 4-digit numbering mix).
- ``"isbi2012"``: ``train-volume.tif`` (multipage, 30 frames) + ``train-labels.tif`` (255 cell interior,
  0 membrane): one item per frame; instances are the connected components of the interior.
- ``"dsb2018"``: ``<id>/images/<id>.png`` (RGBA) + ``<id>/masks/*.png`` (one binary mask per nucleus), painted into
  one instance image with ids 1..N in file-name order.

Datalist items: ``{"image": path, "label": path | [mask paths], "name": unique id, "annotation": "instance" |
"binary" | "membrane" | "masks"}`` plus ``"frame"`` (page index) for multipage stacks and ``"sequence"`` for CTC.
Arrays are ``(H, W)`` as numpy / tifffile / Pillow store them (rows first), not MONAI's PIL-reader ``(W, H)``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tifffile
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from PIL import Image
from skimage.measure import label as connected_components

from medunet.data.discovery import (
    DatasetError,
    common_folder,
    duplicate_problems,
    folder_error,
    prepare_dataset,
    raise_problems,
    visible_entries,
    visible_files,
)
from medunet.utils.arrays import as_label_array

__all__ = [
    "ANNOTATIONS",
    "CELL_LAYOUTS",
    "ImageInfo",
    "LoadCellImaged",
    "check_cell_images",
    "find_cell_images",
    "image_info",
    "prepare_cell_dataset",
    "read_image_file",
]

CELL_LAYOUTS = ("folders", "ctc", "isbi2012", "dsb2018")
ANNOTATIONS = ("instance", "binary", "membrane", "masks")
SUFFIXES = (".tif", ".tiff", ".png")
LAYOUTS = (
    "folders (images/<name>.tif + labels/<name>.tif), ctc (01/t000.tif + 01_GT/SEG/man_seg000.tif), "
    "isbi2012 (train-volume.tif + train-labels.tif) or dsb2018 (<id>/images/<id>.png + <id>/masks/*.png)"
)
_FRAME = re.compile(r"^t(\d+)\.tiff?$")
_SEG = re.compile(r"^man_seg(\d+)\.tiff?$")
_PNG_MODES = {"1": (1, "bool"), "L": (1, "uint8"), "P": (1, "uint8"), "LA": (2, "uint8"), "RGB": (3, "uint8")}
_PNG_MODES |= {"RGBA": (4, "uint8"), "I": (1, "int32"), "F": (1, "float32")}


class ImageInfo(NamedTuple):
    """What a file's header says: page count, size, channels (samples per pixel), dtype name."""

    frames: int
    height: int
    width: int
    channels: int
    dtype: str


def image_info(path: str | os.PathLike) -> ImageInfo:
    """The header of a TIFF (any page layout: frames are the axes other than Y, X and samples) or PNG file.

    Raises:
        DatasetError: the file is missing or not a readable TIFF / PNG, naming it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: file not found")
    try:
        if path.lower().endswith(".png"):
            with Image.open(path) as image:
                channels, dtype = _PNG_MODES.get(image.mode, (1, "uint16" if image.mode.startswith("I;16") else ""))
                if not dtype:
                    raise ValueError(f"unsupported PNG mode {image.mode!r}")
                return ImageInfo(1, image.height, image.width, channels, dtype)
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            sizes = dict(zip(series.axes, series.shape))
            frames = int(np.prod([n for a, n in sizes.items() if a not in "YXS"]))
            return ImageInfo(frames, sizes["Y"], sizes["X"], sizes.get("S", 1), series.dtype.name)
    except Exception as e:  # Pillow and tifffile raise many types for a bad file
        raise DatasetError(f"{path}: not a readable TIFF / PNG image ({type(e).__name__}: {e})") from e


def _frame_problem(path: str, info: ImageInfo, frame: int | None) -> str | None:
    if frame is None and info.frames > 1:
        return f"{path}: {info.frames} frames (expected one image, or items with a 'frame')"
    if frame is not None and not 0 <= frame < info.frames:
        return f"{path}: no frame {frame} (expected 0..{info.frames - 1})"
    return None


def read_image_file(path: str | os.PathLike, frame: int | None = None, palette: str = "rgb") -> np.ndarray:
    """Pixels of one image (page ``frame`` of a stack) as ``(H, W)`` or ``(H, W, C)``, in the file's dtype.

    Planar TIFF samples are moved last. A palette PNG gives its colours (``palette="rgb"``) or its palette indices
    (``palette="indices"``, for label images whose ids are the indices).

    Raises:
        DatasetError: unreadable file, or a stack without ``frame`` / ``frame`` out of range, naming the file.
    """
    problem = _frame_problem(os.fspath(path), image_info(path), frame)
    if problem:
        raise DatasetError(problem)
    try:
        if os.fspath(path).lower().endswith(".png"):
            with Image.open(path) as image:
                return np.array(image.convert("RGBA") if image.mode == "P" and palette == "rgb" else image)
        with tifffile.TiffFile(path) as tif:
            array = tif.asarray(key=frame or 0)
            axes = [a for a in tif.series[0].axes if a in "YXS"]
    except Exception as e:  # a header that reads but pixels that do not
        raise DatasetError(f"{path}: cannot read the pixels ({type(e).__name__}: {e})") from e
    return np.moveaxis(array, axes.index("S"), -1) if "S" in axes else array


def _folders(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    """``images/`` + ``labels/``, matched by file stem."""
    images, names = visible_files(folder / "images", SUFFIXES), {}
    for image in images:
        if image.stem in names:
            problems.append(f"{image}: same name as {names[image.stem]} (expected one file per image)")
        names[image.stem] = image
    if not labels:
        return [{"image": str(p), "name": p.stem} for p in images]
    by_stem = {p.stem: p for p in visible_files(folder / "labels", SUFFIXES)}
    problems += [f"{p}: no label {p.stem}.tif or .png in {folder / 'labels'}" for p in images if p.stem not in by_stem]
    problems += [f"{p}: no image {p.stem}.* in {folder / 'images'}" for s, p in by_stem.items() if s not in names]
    return [
        {"image": str(p), "label": str(by_stem[p.stem]), "name": p.stem, "annotation": "instance"}
        for p in images
        if p.stem in by_stem
    ]


def _numbered(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    return {int(m.group(1)): p for p in visible_files(folder, SUFFIXES) if (m := pattern.match(p.name))}


def _ctc(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    """Sequences ``01/``, ``02/`` ...; with labels only the frames that ``<seq>_GT/SEG`` annotates."""
    items = []
    for sequence in (p for p in visible_entries(folder) if p.is_dir() and p.name.isdigit()):
        frames, seg = _numbered(sequence, _FRAME), folder / f"{sequence.name}_GT" / "SEG"
        annotated = _numbered(seg, _SEG) if labels else dict.fromkeys(frames)
        if not annotated:
            problems.append(f"{seg}: no man_seg<t>.tif ground truth (expected the annotations of {sequence})")
        for t, label in sorted(annotated.items()):
            if t not in frames:
                problems.append(f"{label}: no frame t{t:03d}.tif in {sequence} (expected the annotated image)")
                continue
            item = {"image": str(frames[t]), "name": f"{sequence.name}_{frames[t].stem}", "sequence": sequence.name}
            items.append(item | ({"label": str(label), "annotation": "instance"} if labels else {}))
    return items


def _isbi2012(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    """``train-volume.tif`` (+ ``train-labels.tif``): one item per frame; without labels every ``*-volume.tif``."""
    volumes = [p for p in visible_files(folder, SUFFIXES) if p.stem.endswith("-volume")]
    volumes = [folder / "train-volume.tif"] if labels else volumes
    items = []
    for volume in volumes:
        frames = image_info(volume).frames
        item = {"image": str(volume)}
        if labels:
            label = folder / "train-labels.tif"
            label_frames = image_info(label).frames
            if label_frames != frames:
                problems.append(f"{label}: {label_frames} frames (expected {frames}, like {volume})")
            frames = min(frames, label_frames)
            item |= {"label": str(label), "annotation": "membrane"}
        items += [{**item, "frame": k, "name": f"{volume.stem}_{k:03d}"} for k in range(frames)]
    return items


def _dsb2018(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    """``<id>/images/<id>.png`` (+ ``<id>/masks/*.png``)."""
    items = []
    for case in (p for p in visible_entries(folder) if (p / "images").is_dir()):
        images, masks = visible_files(case / "images", SUFFIXES), visible_files(case / "masks", SUFFIXES)
        if len(images) != 1:
            problems.append(f"{case / 'images'}: {len(images)} images (expected one, {case.name}.png)")
            continue
        item = {"image": str(images[0]), "name": case.name}
        if labels and not masks:
            problems.append(f"{case / 'masks'}: no mask files (expected one binary PNG per nucleus)")
        elif labels:
            item |= {"label": [str(m) for m in masks], "annotation": "masks"}
        items.append(item)
    return items


_FINDERS = {"folders": _folders, "ctc": _ctc, "isbi2012": _isbi2012, "dsb2018": _dsb2018}


def _detect(folder: Path) -> list[str]:
    """The layouts whose landmarks ``folder`` holds."""
    subdirs = [p for p in visible_entries(folder) if p.is_dir()]
    found = {
        "folders": (folder / "images").is_dir(),
        "ctc": any(p.name.isdigit() and _numbered(p, _FRAME) for p in subdirs),
        "isbi2012": any(p.stem.endswith("-volume") for p in visible_files(folder, SUFFIXES)),
        "dsb2018": any((p / "images").is_dir() for p in subdirs),
    }
    return [name for name, present in found.items() if present]


def _stack_items(path: Path) -> list[dict]:
    """A plain image file as inference items: one, or one per frame of a stack."""
    frames = image_info(path).frames
    if frames == 1:
        return [{"image": str(path), "name": path.stem}]
    return [{"image": str(path), "frame": k, "name": f"{path.stem}_{k:03d}"} for k in range(frames)]


def find_cell_images(dataset_dir: str | os.PathLike, layout: str = "auto", labels: bool = True) -> list[dict]:
    """The images (and labels) of a cell microscopy folder, one item per 2D image.

    Args:
        dataset_dir: the dataset folder; with ``labels=False`` also a single TIFF / PNG file.
        layout: ``"auto"`` (detected from the folder's landmarks) or one of :data:`CELL_LAYOUTS`.
        labels: True: labelled items for training / evaluation. False: inference inputs, items without
            ``"label"``; a folder of any layout, a plain folder of TIFF / PNG files, or one file; multipage TIFFs
            give one item per frame.

    Returns:
        items (module docstring) with absolute paths. Hidden files (``._*``, ``.DS_Store``) are ignored.

    Raises:
        DatasetError: folder missing, empty or of no layout (naming the layouts), a folder that fits several
            layouts with ``layout="auto"``, or listing every unmatched image / label and unannotated sequence.
    """
    folder = Path(os.path.abspath(dataset_dir))
    if layout != "auto" and layout not in _FINDERS:
        raise ValueError(f"`layout` must be 'auto' or one of {CELL_LAYOUTS}, got {layout!r}.")
    if not labels and folder.is_file():
        return _stack_items(folder)
    if not folder.is_dir():
        raise folder_error(folder, "cell images", LAYOUTS)
    layouts = _detect(folder) if layout == "auto" else [layout]
    if len(layouts) > 1:
        raise DatasetError(f"{folder}: fits several layouts {layouts} (expected one; pass layout=...)")
    problems: list[str] = []
    if layouts:
        items = _FINDERS[layouts[0]](folder, labels, problems)
    else:
        items = [i for p in visible_files(folder, SUFFIXES) for i in _stack_items(p)] if not labels else []
    raise_problems(problems, f"cell dataset {folder} ({layouts[0] if layouts else 'plain'} layout)", items)
    if not items:
        raise folder_error(folder, "cell images", f"the {layouts[0]} layout" if layouts else LAYOUTS)
    return items


def _info(path: str, frame: int | None, problems: list[str]) -> ImageInfo | None:
    """The header of ``path`` if it is readable and holds ``frame``, else None with the problem noted."""
    try:
        info = image_info(path)
    except DatasetError as e:
        problems.append(str(e))
        return None
    problem = _frame_problem(path, info, frame)
    if problem:
        problems.append(problem)
    return None if problem else info


def _check_item(item: dict, problems: list[str]) -> None:
    image, frame = os.fspath(item["image"]), item.get("frame")
    info = _info(image, frame, problems)
    if info is None or item.get("label") is None:
        return
    label = item["label"]
    for path in [os.fspath(label)] if isinstance(label, (str, os.PathLike)) else map(os.fspath, label):
        label_info = _info(path, frame if isinstance(label, (str, os.PathLike)) else None, problems)
        if label_info is None:
            continue
        size, expected = (label_info.height, label_info.width), (info.height, info.width)
        if size != expected:
            problems.append(f"{path}: size {size[0]}x{size[1]} (expected {expected[0]}x{expected[1]}, like {image})")
        if label_info.channels != 1:
            problems.append(f"{path}: {label_info.channels} channels (expected a single-channel label image)")
        if not (label_info.dtype == "bool" or np.issubdtype(np.dtype(label_info.dtype), np.integer)):
            problems.append(f"{path}: {label_info.dtype} pixels (expected integer labels)")


def check_cell_images(items: Sequence[dict]) -> list[dict]:
    """Check every item from the file headers: readable TIFF / PNG, the frame exists (a stack needs a ``"frame"``),
    label and image of the same size (both files and sizes named), labels single-channel and integer, names unique.

    Returns:
        ``items``, unchanged (so calls chain).

    Raises:
        DatasetError: one error listing every problem, ``"path: problem (expected ...)"`` per line.
    """
    problems = duplicate_problems(items, "name")
    for item in items:
        _check_item(item, problems)
    raise_problems(problems, f"cell dataset {common_folder(items)}")
    return list(items)


def _label_array(path: str, frame: int | None = None) -> np.ndarray:
    array = read_image_file(path, frame, palette="indices")
    if array.ndim != 2:
        raise DatasetError(f"{path}: shape {array.shape} (expected a single-channel label image)")
    try:
        return as_label_array(array, "label")
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: {e}") from e


def _is_binary(labels: np.ndarray) -> bool:
    """A 0/1 or 0/255 mask (rather than instance ids)."""
    top = labels.max(initial=0)
    return top in (1, 255) and bool(np.all((labels == 0) | (labels == top)))


def _paint_masks(paths: Sequence[str]) -> np.ndarray:
    """One instance image from one binary mask per object: mask ``i`` (file-name order) -> id ``i + 1``; where
    masks overlap the earlier one keeps the pixel."""
    labels = None
    for i, path in enumerate(paths, start=1):
        mask = _label_array(path) > 0
        if labels is None:
            labels = np.zeros(mask.shape, np.int32)
        elif mask.shape != labels.shape:
            raise DatasetError(f"{path}: size {mask.shape} (expected {labels.shape}, like {paths[0]})")
        labels[mask & (labels == 0)] = i
    if labels is None:
        raise DatasetError("no mask files (expected one binary mask per object)")
    return labels


def _meta(path: str, frame: int | None, shape: tuple[int, ...]) -> dict:
    return {"filename_or_obj": path, "frame": frame or 0, "spatial_shape": np.asarray(shape[-2:])}


class LoadCellImaged(MapTransform):
    """Load a 2D microscopy item: the image as float32 ``(C, H, W)``, the label as int32 instance ids ``(1, H, W)``.

    Image: any bit depth (8/16-bit, float); grey -> 1 channel, RGB -> 3 channels, alpha dropped (``color="keep"``,
    the default, so a grey network needs ``color="grey"`` for RGB data such as DSB 2018's RGBA PNGs). Then per image,
    over all channels together: ``normalize="percentile"`` (default) maps the ``percentiles`` (1 %, 99.8 %) to 0 and 1
    linearly (not clipped: the brightest pixels exceed 1), ``"zscore"``: zero mean, unit variance; None: the raw
    values as float32 (0..255 for 8-bit, 0..65535 for 16-bit). A constant image becomes zeros. These are the maps of
    MONAI's ``ScaleIntensityRangePercentiles(clip=False)`` / ``NormalizeIntensity()``, computed in numpy: a 512x512
    16-bit TIFF loads in ~6 ms, against ~90 ms with MONAI's ``LoadImaged`` + percentile transform
    (``benchmarks/bench_datasets.py``).

    Label, by the item's ``"annotation"`` (default ``"instance"``):

    - ``"instance"``: ids as stored; a 0/1 or 0/255 mask is taken as binary (below);
    - ``"binary"``: connected components of the pixels > 0;
    - ``"membrane"``: connected components of the cell interior (> 0), membranes (0) become background;
    - ``"masks"``: a list of binary mask files, painted with ids 1..N.

    Components use ``connectivity`` (1: 4-neighbours, so a one-pixel diagonal membrane still separates cells; 2: 8).
    Outputs are MetaTensors whose meta holds ``filename_or_obj`` (the file; the masks folder for ``"masks"``),
    ``frame`` (0 for single images) and ``spatial_shape``, for writers to name their outputs.

    Args:
        keys: keys to load; ``label_key`` is loaded as a label, the others as images.
        label_key: the label key.
        color: ``"keep"``, ``"grey"`` (RGB -> luma 0.299 R + 0.587 G + 0.114 B) or ``"rgb"`` (grey repeated).
        normalize: ``"percentile"``, ``"zscore"`` or None.
        percentiles: lower and upper percentile for ``"percentile"``.
        connectivity: 1 or 2, for binary and membrane labels.
        allow_missing_keys: skip missing keys (e.g. ``"label"`` at inference).

    Raises:
        DatasetError: unreadable files, a missing frame, image and label of different sizes, non-integer labels.
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        label_key: str = "label",
        color: str = "keep",
        normalize: str | None = "percentile",
        percentiles: Sequence[float] = (1.0, 99.8),
        connectivity: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if color not in ("keep", "grey", "rgb"):
            raise ValueError(f"`color` must be 'keep', 'grey' or 'rgb', got {color!r}.")
        if normalize not in ("percentile", "zscore", None):
            raise ValueError(f"`normalize` must be 'percentile', 'zscore' or None, got {normalize!r}.")
        if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise ValueError(
                f"`percentiles` must be (lower, upper) with 0 <= lower < upper <= 100, got {percentiles!r}."
            )
        if connectivity not in (1, 2):
            raise ValueError(f"`connectivity` must be 1 (4-neighbours) or 2 (8-neighbours), got {connectivity!r}.")
        self.label_key, self.color, self.connectivity = label_key, color, connectivity
        self.normalize, self.percentiles = normalize, tuple(percentiles)

    def _normalized(self, image: np.ndarray) -> np.ndarray:
        """Per-image intensity normalisation over all channels together; a constant image becomes zeros."""
        if self.normalize == "percentile":
            low, high = np.percentile(image, self.percentiles)
        elif self.normalize == "zscore":
            low, high = image.mean(dtype=np.float64), image.std(dtype=np.float64)
            high += low
        else:
            return image
        scale = np.float32(1 / (high - low)) if high > low else np.float32(0)
        return (image - np.float32(low)) * scale

    def _image(self, path: str, frame: int | None) -> MetaTensor:
        array = read_image_file(path, frame)
        if array.ndim == 3:
            if array.shape[-1] not in (1, 2, 3, 4):
                raise DatasetError(f"{path}: {array.shape[-1]} channels (expected grey or RGB, with or without alpha)")
            array = array[..., : 1 if array.shape[-1] <= 2 else 3]  # drop alpha
        image = np.moveaxis(np.atleast_3d(array), -1, 0).astype(np.float32)
        if self.color == "grey" and image.shape[0] == 3:
            image = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), image, axes=1)[None]
        elif self.color == "rgb" and image.shape[0] == 1:
            image = np.repeat(image, 3, axis=0)
        image = np.ascontiguousarray(self._normalized(image), dtype=np.float32)
        return MetaTensor(torch.from_numpy(image), meta=_meta(path, frame, image.shape))

    def _label(self, label: str | Sequence[str], kind: str, frame: int | None) -> MetaTensor:
        if kind not in ANNOTATIONS:
            raise ValueError(f"`annotation` must be one of {ANNOTATIONS}, got {kind!r} for {label}.")
        if kind == "masks":
            if isinstance(label, (str, os.PathLike)):
                raise DatasetError(f"{label}: annotation 'masks' needs a list of mask files, got one path")
            values, path = _paint_masks([os.fspath(p) for p in label]), os.path.dirname(os.fspath(label[0]))
        else:
            path = os.fspath(label)
            values = _label_array(path, frame)
            if kind != "instance" or _is_binary(values):
                values = connected_components(values > 0, connectivity=self.connectivity)
            if values.max(initial=0) > np.iinfo(np.int32).max:
                raise DatasetError(f"{path}: instance ids up to {values.max()} (expected ids that fit int32)")
        values = np.ascontiguousarray(values, dtype=np.int32)[None]
        return MetaTensor(torch.from_numpy(values), meta=_meta(path, frame, values.shape))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        frame, first = d.get("frame"), None
        for key in self.key_iterator(d):
            if key == self.label_key:
                d[key] = self._label(d[key], d.get("annotation", "instance"), frame)
            else:
                d[key] = self._image(os.fspath(d[key]), frame)
            name = d[key].meta["filename_or_obj"]
            if first is not None and d[key].shape[1:] != first[1]:
                size, expected = tuple(d[key].shape[1:]), tuple(first[1])
                raise DatasetError(f"{name}: size {size} (expected {expected}, the size of {first[0]})")
            first = first or (name, d[key].shape[1:])
        return d


def prepare_cell_dataset(
    dataset_dir: str | os.PathLike, make_synthetic: Any = None, layout: str = "auto"
) -> list[dict]:
    """:func:`~medunet.data.discovery.prepare_dataset` for cell images: the checked items of ``dataset_dir``,
    after generating a synthetic dataset with ``make_synthetic(folder)`` when it is missing or empty. Raises
    DatasetError for a folder that holds anything else than a valid dataset."""
    return prepare_dataset(
        dataset_dir,
        make_synthetic,
        find=functools.partial(find_cell_images, layout=layout),
        check=check_cell_images,
        description="synthetic cell",
    )
