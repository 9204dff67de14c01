"""Writers of segmentation outputs: NIfTI and TIFF / PNG label maps, atomic, never onto an input.

- :func:`write_nifti`, :func:`write_tiff`, :func:`write_label_image`: one file, complete under its name or absent.
- :func:`protected_files` / :func:`refuse_protected`: the input files of a datalist, which no output may replace.
- :class:`SaveLabelImaged`, :class:`SaveNiftid`: the dictionary transforms bundle postprocessing ends with.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import tifffile
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform
from PIL import Image

from medunet.utils.arrays import as_label_array, output_keys
from medunet.utils.files import atomic_path

__all__ = [
    "SaveLabelImaged",
    "SaveNiftid",
    "protected_files",
    "refuse_protected",
    "write_label_image",
    "write_nifti",
    "write_tiff",
]

logger = logging.getLogger(__name__)

PATH_KEYS = ("image", "label")
FILE = "filename_or_obj"


def write_tiff(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write one 2D/3D array as a (zlib-compressed) TIFF, atomically, keeping its dtype."""
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, compression="zlib")
    return Path(path)


def write_nifti(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray) -> Path:
    """Write a NIfTI-1 image (``.nii`` or ``.nii.gz``) with both qform and sform set to ``affine`` (code 1, scanner
    coordinates), millimetre units, atomically. The array's dtype is stored as is."""
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units(xyz="mm")
    with atomic_path(path) as tmp:
        nib.save(image, tmp)
    return Path(path)


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or (os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b))


def write_label_image(
    path: str | os.PathLike, array: NdarrayOrTensor, protect: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write a 2D label image (instance ids, a class map) as a 16-bit TIFF or PNG, atomically.

    The file appears complete under its name or not at all (:func:`medunet.utils.files.atomic_path`); its folder is
    created. ``.tif`` / ``.tiff``: zlib-compressed uint16, or uint32 when an id exceeds 65535; ``.png``: uint16
    (ids above 65535 raise).

    Args:
        path: the output file, ``.tif``, ``.tiff`` or ``.png``.
        array: ``(H, W)`` or ``(1, H, W)`` whole non-negative numbers (numpy or torch).
        protect: files that must never be written over (the inputs); ``path`` naming one of them raises.

    Returns:
        ``path``.

    Raises:
        ValueError: ``path`` is an input file, an unsupported suffix, the wrong shape, or values that do not fit.
    """
    path = Path(path)
    if any(_same_file(path, p) for p in protect):
        raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff", ".png"):
        raise ValueError(f"label images are written as .tif, .tiff or .png, got {path.name!r}.")
    labels = as_label_array(array, "array")
    if labels.ndim == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 2:
        raise ValueError(f"`array` must be (H, W) or (1, H, W), got shape {tuple(labels.shape)} for {path}.")
    top = int(labels.max(initial=0))
    if top > np.iinfo(np.uint16).max and suffix == ".png":
        raise ValueError(f"{path}: ids up to {top} do not fit a 16-bit PNG (expected <= 65535; write a .tif).")
    dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
    with atomic_path(path) as tmp:
        if suffix == ".png":
            Image.fromarray(labels.astype(dtype)).save(tmp, format="PNG")
        else:
            tifffile.imwrite(tmp, labels.astype(dtype), compression="zlib")
    return path


def _input_files(data: Mapping[Hashable, Any]) -> list[str]:
    """Every file path an item refers to (its image and label entries and the image's meta file name)."""
    files = []
    for value in (data.get(k) for k in PATH_KEYS):
        values = value if isinstance(value, (list, tuple)) else [value]
        files += [os.fspath(v) for v in values if isinstance(v, (str, os.PathLike))]
        files += [str(v.meta["filename_or_obj"]) for v in values if isinstance(v, MetaTensor) and v.meta.get(FILE)]
    return files


def protected_files(inputs: Iterable[Mapping[Hashable, Any] | str | os.PathLike]) -> frozenset[str]:
    """The resolved paths of the files of ``inputs``, datalist items (their image and label entries) or paths, that a
    writer must never write over: pass a whole datalist so that no output lands on any input, not only on its own
    item's. Resolved once, so that checking an output against thousands of inputs is one set look-up."""
    files: list[str] = []
    for entry in inputs:
        files += _input_files(entry) if isinstance(entry, Mapping) else [os.fspath(entry)]
    return frozenset(os.path.realpath(f) for f in files)


def refuse_protected(path: Path, protected: frozenset[str]) -> None:
    """Raise ValueError if ``path`` is one of the :func:`protected_files`."""
    if os.path.realpath(path) in protected:
        raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")


class SaveLabelImaged(MapTransform):
    """Write label maps (instance ids, class maps) of 2D items with :func:`write_label_image`, one file per key.

    The file is ``output_dir / f"{name}_{postfix}{output_ext}"``: ``name`` is the item's ``name_key`` entry (the
    datalist ``"name"``), else the stem of the array's meta ``filename_or_obj`` (plus ``_<frame>`` for a page of a
    stack). Files the item was read from (``"image"``, ``"label"``, their meta file names) are never written over.

    Args:
        keys: label maps ``(1, H, W)`` or ``(H, W)``; probabilities must be turned into a map first
            (``AsDiscreted(argmax=True)``).
        output_dir: the output folder (created).
        output_postfix: one per key, or None: the key names (``cell_000_instances.tif``, ``cell_000_semantic.tif``).
        output_ext: ``".tif"`` (default), ``".tiff"`` or ``".png"``.
        name_key: item entry naming the output.
        protect: more files never to write over, besides the item's own: datalist items or paths (the bundle passes
            its whole inference datalist, so an output never lands on another input of the same folder).
        allow_missing_keys: skip missing keys.

    Example (cell bundle postprocessing)::

        {"_target_": "medunet.data.writers.SaveLabelImaged", "keys": ["instances", "semantic"],
         "output_dir": "$@bundle_root + '/predictions'", "protect": "@datalist"}
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        output_postfix: str | Sequence[str] | None = None,
        output_ext: str = ".tif",
        name_key: str = "name",
        protect: Iterable[Mapping[Hashable, Any] | str | os.PathLike] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.protect = protected_files(protect)
        if output_ext.lower() not in (".tif", ".tiff", ".png"):
            raise ValueError(f"`output_ext` must be '.tif', '.tiff' or '.png', got {output_ext!r}.")
        self.output_dir, self.output_ext, self.name_key = Path(output_dir), output_ext, name_key
        self.postfixes = output_keys(tuple(map(str, self.keys)), output_postfix, "output_postfix")

    def _name(self, data: Mapping[Hashable, Any], array: Any) -> str:
        if data.get(self.name_key):
            return str(data[self.name_key])
        meta = getattr(array, "meta", {})
        if not meta.get(FILE):
            raise ValueError(f"cannot name the output: no {self.name_key!r} entry and no meta {FILE!r} in the item.")
        stem = Path(str(meta[FILE])).name.split(".")[0]
        return f"{stem}_{int(meta['frame']):03d}" if meta.get("frame") else stem

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        protect = _input_files(d)
        for key, postfix in self.key_iterator(d, self.postfixes):
            path = self.output_dir / f"{self._name(d, d[key])}_{postfix}{self.output_ext}"
            refuse_protected(path, self.protect)
            write_label_image(path, d[key], protect + _input_files({"image": d[key]}))
            logger.info("wrote %s", path)
        return d


class SaveNiftid(MapTransform):
    """Write label maps of 3D items as NIfTI files, atomically, in the space of their MetaTensor.

    After ``Invertd`` the prediction is back on the input's grid, so the file has the input's shape, affine and
    orientation. The file is ``output_dir / f"{name}_{postfix}.nii.gz"``: ``name`` is the item's ``name_key`` entry,
    else the meta ``case`` entry, else the stem of the meta ``filename_or_obj``. It appears complete or not at all
    (:func:`write_nifti`), and files the item was read from are never written over.

    Args:
        keys: label maps ``(1, X, Y, Z)`` or ``(X, Y, Z)`` with an ``affine`` (MetaTensor).
        output_dir: the output folder (created).
        output_postfix: one per key, or None: the key names.
        dtype: stored data type (uint8 fits class maps up to 255).
        name_key: item entry naming the output.
        protect: more files never to write over, besides the item's own: datalist items or paths.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | os.PathLike,
        output_postfix: str | Sequence[str] | None = "seg",
        dtype: Any = np.uint8,
        name_key: str = "case",
        protect: Iterable[Mapping[Hashable, Any] | str | os.PathLike] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.protect = protected_files(protect)
        self.output_dir, self.dtype, self.name_key = Path(output_dir), np.dtype(dtype), name_key
        self.postfixes = output_keys(tuple(map(str, self.keys)), output_postfix, "output_postfix")

    def _name(self, data: Mapping[Hashable, Any], array: Any) -> str:
        meta = getattr(array, "meta", {}) or {}
        for name in (data.get(self.name_key), meta.get(self.name_key)):
            if name:
                return str(name)
        source = meta.get(FILE)
        if isinstance(source, (list, tuple)):
            source = source[0]
        if not source:
            raise ValueError(f"cannot name the output: no {self.name_key!r} entry and no meta {FILE!r} in the item.")
        return Path(str(source)).name.split(".")[0]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        protect = _input_files(d)
        for key, postfix in self.key_iterator(d, self.postfixes):
            array = d[key]
            if not isinstance(array, MetaTensor):
                raise TypeError(f"{key!r} must be a MetaTensor with an affine to be saved as NIfTI, got {type(array)}.")
            labels = array.detach().cpu().numpy()
            if labels.ndim == 4 and labels.shape[0] == 1:
                labels = labels[0]
            if labels.ndim != 3:
                raise ValueError(f"{key!r} must be (1, X, Y, Z) or (X, Y, Z), got shape {tuple(array.shape)}.")
            path = self.output_dir / f"{self._name(d, array)}_{postfix}.nii.gz"
            refuse_protected(path, self.protect)
            if any(_same_file(path, p) for p in protect + _input_files({"image": array})):
                raise ValueError(f"refusing to write {path}: it is an input file (expected an output path elsewhere).")
            write_nifti(path, labels.astype(self.dtype), array.affine.detach().cpu().numpy().astype(np.float64))
            logger.info("wrote %s", path)
        return d
