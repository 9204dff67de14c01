"""Brain tumour MRI datasets: find the cases of a folder, check them from the headers, load them for MONAI.

Two layouts are recognised, each with four MRI contrasts in the order FLAIR, T1, T1 + gadolinium, T2:

- MSD Task01_BrainTumour: ``dataset.json`` + ``imagesTr/BRATS_001.nii.gz`` (4D, ``(X, Y, Z, 4)``) +
  ``labelsTr/BRATS_001.nii.gz`` (3D), labels 1 edema, 2 non-enhancing tumour / necrosis, 3 enhancing tumour.
- BraTS 2021: one folder per case, ``BraTS2021_00000/BraTS2021_00000_{flair,t1,t1ce,t2,seg}.nii.gz`` (or ``.nii``),
  labels 1 necrosis (NCR), 2 edema (ED), 4 enhancing (ET). :class:`LoadBrainTumorCased` maps them to the MSD
  numbering (1 -> 2, 2 -> 1, 4 -> 3), so a model sees one numbering whatever the layout.

Datalist items: ``{"image": path | [flair, t1, t1ce, t2], "label": path, "case": id, "numbering": "msd" |
"brats"}`` with absolute paths; inference items have no ``"label"``. (No item key starts with ``label_`` or
``image_``: MONAI's ``Spacingd`` takes every such key as a metadata dict of the NIfTI it resamples.)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor, NibabelReader
from monai.data.folder_layout import default_name_formatter
from monai.transforms import LoadImage, MapTransform
from monai.utils import convert_to_dst_type

from medunet.data.discovery import (
    DatasetError,
    common_folder,
    duplicate_problems,
    folder_error,
    is_hidden,
    prepare_dataset,
    raise_problems,
    visible_entries,
    visible_files,
)
from medunet.transforms.brats import BRATS_MODALITIES, BRATS_TO_MSD, MSD_MODALITIES
from medunet.utils.arrays import as_label_array

__all__ = [
    "LoadBrainTumorCased",
    "case_name_formatter",
    "check_brain_tumor_cases",
    "find_brain_tumor_cases",
    "find_brain_tumor_images",
    "prepare_brain_tumor_dataset",
    "read_image_datalist",
]

logger = logging.getLogger(__name__)

LABEL_VALUES = {"msd": (0, 1, 2, 3), "brats": tuple(BRATS_TO_MSD)}
NIFTI = (".nii.gz", ".nii")
LAYOUTS = (
    "the MSD Task01 layout (dataset.json, imagesTr/<case>.nii.gz 4D (X, Y, Z, 4) FLAIR/T1w/t1gd/T2w, "
    "labelsTr/<case>.nii.gz) or the BraTS 2021 layout (one folder per case: <case>/<case>_{flair,t1,t1ce,t2,seg}"
    ".nii.gz)"
)


def _case_name(path: Path) -> str:
    """``BRATS_001.nii.gz`` -> ``BRATS_001``."""
    return next((path.name[: -len(s)] for s in NIFTI if path.name.endswith(s)), path.stem)


def _item(image: str | list[str], case: str, numbering: str, label: Path | None) -> dict:
    item = {"image": image, "case": case, "numbering": numbering}
    if label is not None:
        item["label"] = str(label)
    return item


def _msd_modalities(folder: Path, problems: list[str]) -> dict:
    """``dataset.json`` of an MSD folder (``{}`` without one); a wrong modality list is a problem."""
    if not (folder / "dataset.json").is_file():
        return {}
    try:
        meta = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{folder / 'dataset.json'}: not readable JSON ({e})")
        return {}
    names = [str(v) for _, v in sorted(meta.get("modality", {}).items(), key=lambda kv: int(kv[0]))]
    if names and [n.lower() for n in names] != [m.lower() for m in MSD_MODALITIES]:
        problems.append(
            f"{folder / 'dataset.json'}: modalities {names} (expected {list(MSD_MODALITIES)}: this is not the MSD "
            "brain tumour task)"
        )
    return meta


def _first(image: str | Sequence[str]) -> str:
    """The image file of an item, the first one of a BraTS list."""
    return os.fspath(image if isinstance(image, (str, os.PathLike)) else image[0])


def _msd_pairs(folder: Path, meta: dict, problems: list[str]) -> list[tuple[Path, Path | None]]:
    """(image, label) files of an MSD folder: ``dataset.json``'s ``"training"``, else ``imagesTr`` + ``labelsTr``."""
    if "training" not in meta:
        return [(p, folder / "labelsTr" / p.name) for p in visible_files(folder / "imagesTr", NIFTI)]
    entries = [e for e in meta["training"] if isinstance(e, dict) and isinstance(e.get("image"), str)]
    if len(entries) != len(meta["training"]):
        problems.append(f"{folder / 'dataset.json'}: 'training' entries must be {{'image': ..., 'label': ...}}")
    return [(folder / e["image"], folder / e["label"] if isinstance(e.get("label"), str) else None) for e in entries]


def _msd_cases(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    """The cases of an MSD folder; with ``labels`` each must have its label file."""
    pairs = _msd_pairs(folder, _msd_modalities(folder, problems), problems)
    if not pairs:
        problems.append(f"{folder}: no training images (expected dataset.json 'training' entries or imagesTr/*.nii.gz)")
    items = []
    for image, label in ((i, lab) for i, lab in pairs if not is_hidden(i)):
        if labels and label is None:
            problems.append(f"{image}: no label in dataset.json (expected 'label': './labelsTr/{image.name}')")
        elif labels and not label.is_file():
            problems.append(f"{label}: label not found (expected the label of {image})")
        else:
            label = Path(os.path.normpath(label)) if labels else None
            items.append(_item(os.path.normpath(image), _case_name(image), "msd", label))
    return items


def _brats_files(folder: Path, name: str) -> list[Path]:
    return [p for p in visible_files(folder, NIFTI) if any(p.name.endswith(f"_{name}{s}") for s in NIFTI)]


def _is_brats_case(folder: Path) -> bool:
    return any(_brats_files(folder, m) for m in (*BRATS_MODALITIES, "seg"))


def _brats_case(folder: Path, labels: bool, problems: list[str]) -> dict | None:
    """One BraTS case folder: its four modality files (and segmentation), or None with the problems noted."""
    found = {}
    for name in (*BRATS_MODALITIES, "seg") if labels else BRATS_MODALITIES:
        files = _brats_files(folder, name)
        if len(files) != 1:
            what = "missing" if not files else f"{len(files)} files for"
            problems.append(f"{folder}: {what} {name} (expected one {folder.name}_{name}.nii.gz or .nii)")
        else:
            found[name] = str(files[0])
    if len(found) < (5 if labels else 4):
        return None
    return _item([found[m] for m in BRATS_MODALITIES], folder.name, "brats", found.get("seg") and Path(found["seg"]))


def _brats_cases(folder: Path, labels: bool, problems: list[str]) -> list[dict]:
    items = []
    for sub in (p for p in visible_entries(folder) if p.is_dir()):
        if _is_brats_case(sub):
            items.append(_brats_case(sub, labels, problems))
        elif visible_files(sub, NIFTI):
            problems.append(f"{sub}: NIfTI files not named <case>_{{flair,t1,t1ce,t2,seg}}.nii.gz (BraTS 2021)")
    return [i for i in items if i is not None]


def _find(folder: Path, labels: bool) -> list[dict]:
    problems: list[str] = []
    if not folder.is_dir():
        raise folder_error(folder, "brain tumour dataset", LAYOUTS)
    if (folder / "dataset.json").is_file() or (folder / "imagesTr").is_dir():
        items = _msd_cases(folder, labels, problems)
    else:
        items = _brats_cases(folder, labels, problems)
    raise_problems(problems, f"brain tumour dataset {folder}", items)
    if not items:
        raise folder_error(folder, "brain tumour dataset", LAYOUTS)
    return items


def find_brain_tumor_cases(dataset_dir: str | os.PathLike) -> list[dict]:
    """The labelled cases of an MSD Task01 or BraTS 2021 folder (auto-detected), sorted as found.

    MSD: the ``"training"`` entries of ``dataset.json`` (paths relative to the folder), or without a
    ``dataset.json`` every ``imagesTr/*.nii.gz`` with the ``labelsTr`` file of the same name. Hidden files (macOS
    ``._BRATS_001.nii.gz``, ``.DS_Store``) are ignored. BraTS: every sub-folder holding ``<case>_flair.nii.gz`` etc.;
    other files (``name_mapping.csv``, ...) are ignored.

    Returns:
        items ``{"image", "label", "case", "numbering"}`` with absolute paths (see the module docstring).

    Raises:
        DatasetError: folder missing, empty or of neither layout (naming both layouts), or listing every missing
            or ambiguous file (a missing modality, a missing label).
    """
    return _find(Path(os.path.abspath(dataset_dir)), labels=True)


def find_brain_tumor_images(path: str | os.PathLike) -> list[dict]:
    """Inference inputs, labels not needed: items ``{"image", "case", "numbering"}`` without ``"label"``.

    ``path`` is one of: a 4D NIfTI file; a folder of 4D NIfTI files (e.g. MSD's ``imagesTs``); an MSD folder
    (``imagesTs`` if it holds images, else ``imagesTr``); a BraTS folder of case folders; one BraTS case folder; a
    JSON datalist (see :func:`read_image_datalist`). Every image is checked from its header.

    Raises:
        DatasetError: as :func:`find_brain_tumor_cases`.
    """
    path = Path(os.path.abspath(path))
    if path.is_file() and path.suffix == ".json":
        return check_brain_tumor_cases(read_image_datalist(path))
    if path.is_file() and path.name.endswith(NIFTI):
        return [_item(str(path), _case_name(path), "msd", None)]
    if _is_brats_case(path):
        problems: list[str] = []
        item = _brats_case(path, False, problems)
        raise_problems(problems, f"brain tumour case {path}")
        return [item]
    if (path / "imagesTr").is_dir() or (path / "imagesTs").is_dir():
        path = path / "imagesTs" if visible_files(path / "imagesTs", NIFTI) else path / "imagesTr"
        logger.info("inference inputs: the images of %s", path)
    if visible_files(path, NIFTI):
        return [_item(str(p), _case_name(p), "msd", None) for p in visible_files(path, NIFTI)]
    return _find(path, labels=False)


def read_image_datalist(path: str | os.PathLike) -> list[dict]:
    """Inference inputs listed in a JSON file: a list of entries, or a MONAI datalist with a ``"testing"``,
    ``"test"``, ``"validation"`` or ``"training"`` list (the first present). An entry is a 4D NIfTI path, or
    ``{"image": path}``, or ``{"image": [flair, t1, t1ce, t2]}`` (a BraTS case), optionally with a ``"case"`` name;
    relative paths are taken from the JSON file's folder.

    Raises:
        DatasetError: the file is not JSON, holds no such list, or an entry is malformed (each problem listed).
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable JSON datalist ({e})") from e
    if isinstance(content, dict):
        content = next((content[k] for k in ("testing", "test", "validation", "training") if k in content), None)
    if not isinstance(content, list) or not content:
        raise DatasetError(
            f"{path}: expected a non-empty list of images, or a datalist with a 'testing', 'test', 'validation' or "
            "'training' list"
        )

    def resolve(p) -> str:
        return os.path.normpath(os.path.join(path.parent, os.fspath(p)))

    items, problems = [], []
    for i, entry in enumerate(content):
        image = entry.get("image") if isinstance(entry, dict) else entry
        if isinstance(image, (str, os.PathLike)):
            image = resolve(image)
            case = _case_name(Path(image))
        elif isinstance(image, list) and len(image) == len(BRATS_MODALITIES):
            image = [resolve(p) for p in image]
            case = Path(image[0]).parent.name
        else:
            problems.append(f"{path}: entry {i} must be a NIfTI path or {{'image': path or [4 paths]}}, got {entry!r}")
            continue
        name = entry.get("case") if isinstance(entry, dict) else None
        items.append(_item(image, str(name or case), "msd", None))
    raise_problems(problems, f"datalist {path}")
    return items


def _spatial_shape(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The 3D shape of a 3D volume, also stored as ``(X, Y, Z, 1)``; None for anything else."""
    if len(shape) == 3 or (len(shape) == 4 and shape[3] == 1):
        return tuple(shape[:3])
    return None


def _header(path: str, problems: list[str]) -> Any:
    """The NIfTI image of ``path`` with its header read and the voxels left on disk, or None (problem noted)."""
    if not os.path.isfile(path):
        problems.append(f"{path}: file not found")
        return None
    try:
        image = nib.load(path)
    except Exception as e:  # nibabel raises several types for a bad file
        problems.append(f"{path}: not a readable NIfTI file ({type(e).__name__}: {e})")
        return None
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        problems.append(f"{path}: a {type(image).__name__} (expected NIfTI, .nii.gz or .nii)")
        return None
    return image


def _check_image(image: str | Sequence[str], problems: list[str]) -> tuple[str, Any, tuple[int, ...]] | None:
    """Check the image part of an item; returns (reference file, its NIfTI, 3D shape) for the label check."""
    if isinstance(image, (str, os.PathLike)):
        header = _header(os.fspath(image), problems)
        if header is None:
            return None
        if len(header.shape) != 4 or header.shape[3] != len(MSD_MODALITIES):
            problems.append(f"{image}: shape {header.shape} (expected 4D (X, Y, Z, 4): {', '.join(MSD_MODALITIES)})")
            return None
        return os.fspath(image), header, tuple(header.shape[:3])
    if len(image) != len(BRATS_MODALITIES):
        problems.append(f"{image}: {len(image)} files (expected 4: {', '.join(BRATS_MODALITIES)})")
        return None
    headers = [_header(os.fspath(p), problems) for p in image]
    if any(h is None for h in headers):
        return None
    shapes = [_spatial_shape(h.shape) for h in headers]
    ok = True
    for path, header, shape in zip(image, headers, shapes):
        if shape is None:
            problems.append(f"{path}: shape {header.shape} (expected a 3D volume)")
            ok = False
        elif shape != shapes[0] or not np.allclose(header.affine, headers[0].affine, atol=1e-3):
            problems.append(f"{path}: shape {shape} / affine differ from {image[0]} (expected the same grid)")
            ok = False
    return (os.fspath(image[0]), headers[0], shapes[0]) if ok else None


def _check_label(label: str, reference: tuple[str, Any, tuple[int, ...]], problems: list[str]) -> None:
    header = _header(label, problems)
    if header is None:
        return
    shape = _spatial_shape(header.shape)
    path, image, image_shape = reference
    if shape is None:
        problems.append(f"{label}: shape {header.shape} (expected a 3D label volume)")
    elif shape != image_shape:
        problems.append(f"{label}: shape {shape} (expected {image_shape}, the shape of {path})")
    elif not np.allclose(header.affine, image.affine, atol=1e-3):
        problems.append(f"{label}: affine differs from {path} by more than 1e-3 mm (expected the image's grid)")


def check_brain_tumor_cases(items: Sequence[dict]) -> list[dict]:
    """Check every case from the NIfTI headers alone (no voxel data is read).

    Checked: each file exists and is NIfTI; an MSD image is 4D with 4 channels; the four BraTS files share one
    3D shape and affine; the label is 3D (``(X, Y, Z)`` or ``(X, Y, Z, 1)``) with the image's shape and affine
    (within 1e-3 mm); case ids are unique.

    Returns:
        ``items``, unchanged, so that ``check_brain_tumor_cases(find_brain_tumor_cases(folder))`` chains.

    Raises:
        DatasetError: one error listing every problem, ``"path: problem (expected ...)"`` per line.
    """
    problems = duplicate_problems(items, "case")
    for item in items:
        reference = _check_image(item["image"], problems)
        if reference is not None and item.get("label") is not None:
            _check_label(os.fspath(item["label"]), reference, problems)
    raise_problems(problems, f"brain tumour dataset {common_folder(items)}")
    return list(items)


def _to_msd(label: MetaTensor, numbering: str, path: str) -> MetaTensor:
    """``label`` in the MSD numbering as uint8; values outside the numbering raise DatasetError naming ``path``."""
    if numbering not in LABEL_VALUES:
        raise ValueError(f"`numbering` must be one of {sorted(LABEL_VALUES)}, got {numbering!r} for {path}.")
    values = label.numpy()
    if values.dtype != np.uint8:
        try:
            values = as_label_array(values, "label")
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{path}: {e}") from e
        values = np.minimum(values, 255).astype(np.uint8)
    allowed = LABEL_VALUES[numbering]
    lut = np.full(256, 255, np.uint8)  # 255: a value outside the numbering (and any id above 255)
    lut[list(allowed)] = [BRATS_TO_MSD[v] for v in allowed] if numbering == "brats" else allowed
    mapped = lut[values]
    if (mapped == 255).any():
        found = sorted({int(v) for v in np.unique(label.numpy()[mapped == 255])})
        raise DatasetError(f"{path}: label values {found} (expected {list(allowed)}, the {numbering} numbering)")
    return convert_to_dst_type(mapped, label, dtype=torch.uint8)[0]


class LoadBrainTumorCased(MapTransform):
    """Load an MSD or BraTS case into channel-first MetaTensors with the NIfTI affine and header.

    - image: an MSD 4D file or the four BraTS files (stacked in FLAIR, T1, T1ce, T2 order) -> float32
      ``(4, X, Y, Z)``; its meta ``filename_or_obj`` is the (first) file, ``"case"`` the item's case id.
    - label: -> uint8 ``(1, X, Y, Z)`` in the MSD numbering (1 edema, 2 necrosis / non-enhancing, 3 enhancing),
      mapped from the BraTS numbering when ``item["numbering"] == "brats"`` (default ``"msd"``).

    MONAI's :class:`~monai.data.NibabelReader` reads the files (through :class:`~monai.transforms.LoadImage`,
    ``image_only``, ``ensure_channel_first``), so the meta holds the affine, ``original_affine`` and
    ``spatial_shape`` that ``Invertd`` and ``SaveImaged`` use to write predictions on the input's grid.

    Args:
        keys: the keys to load, image(s) and label.
        label_key: the key loaded as a label (numbering mapped, uint8).
        image_channels: channels every non-label key must have (4); None: any.
        allow_missing_keys: skip missing keys (e.g. ``"label"`` for inference items).

    Raises:
        DatasetError: a file that cannot be read (naming it), the wrong channel count, image and label of
            different shapes, label values outside the item's numbering.

    Example (bundle)::

        {"_target_": "medunet.data.brain.LoadBrainTumorCased", "keys": ["image", "label"]}
    """

    def __init__(
        self,
        keys: KeysCollection = ("image", "label"),
        label_key: str = "label",
        image_channels: int | None = len(MSD_MODALITIES),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_key = label_key
        self.image_channels = image_channels
        self.reader = NibabelReader()
        self.image_loader = LoadImage(image_only=True, ensure_channel_first=True, dtype=np.float32)
        self.label_loader = LoadImage(image_only=True, ensure_channel_first=True, dtype=None)

    def _load(self, paths: str | Sequence[str], label: bool) -> MetaTensor:
        loader = self.label_loader if label else self.image_loader
        try:
            return loader(paths, reader=self.reader)
        except Exception as e:  # nibabel / numpy raise many types for a bad file
            names = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
            problems: list[str] = []
            bad = next((p for p in names if _header(os.fspath(p), problems) is None), None)
            detail = problems[0] if bad is not None else f"{', '.join(map(str, names))}: {type(e).__name__}: {e}"
            raise DatasetError(f"cannot load {detail}") from e

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        first: tuple[Any, MetaTensor] | None = None
        for key in self.key_iterator(d):
            paths, is_label = d[key], key == self.label_key
            name = _first(paths)
            volume = self._load(paths, is_label)
            if is_label:
                volume = _to_msd(volume, d.get("numbering", "msd"), os.fspath(name))
            elif self.image_channels is not None and volume.shape[0] != self.image_channels:
                raise DatasetError(f"{name}: {volume.shape[0]} channel(s) (expected {self.image_channels})")
            if "case" in d:
                volume.meta["case"] = d["case"]
            if first is not None and volume.shape[1:] != first[1].shape[1:]:
                raise DatasetError(
                    f"{name}: shape {tuple(volume.shape[1:])} (expected {tuple(first[1].shape[1:])} like {first[0]})"
                )
            first = first or (name, volume)
            d[key] = volume
        return d


def case_name_formatter(metadict: dict, saver: Any) -> dict:
    """``output_name_formatter`` for ``SaveImage(d)``: names outputs by the case id that
    :class:`LoadBrainTumorCased` stored in the meta (``BraTS2021_00000_seg.nii.gz`` rather than
    ``BraTS2021_00000_flair_seg.nii.gz``), falling back to MONAI's file-name default."""
    names = default_name_formatter(metadict, saver)
    if metadict and metadict.get("case"):
        names["subject"] = str(metadict["case"])
    return names


def prepare_brain_tumor_dataset(dataset_dir: str | os.PathLike, make_synthetic: Any = None) -> list[dict]:
    """:func:`~medunet.data.discovery.prepare_dataset` for brain tumour data: the checked cases of
    ``dataset_dir``, after generating a synthetic dataset with ``make_synthetic(folder)`` when it is missing or
    empty. Raises DatasetError for a folder that holds anything else than a valid dataset."""
    return prepare_dataset(
        dataset_dir,
        make_synthetic,
        find=find_brain_tumor_cases,
        check=check_brain_tumor_cases,
        description="synthetic brain tumour",
    )
