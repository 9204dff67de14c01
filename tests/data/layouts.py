"""Tiny datasets of every supported layout, written into a test's ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from medunet.data.discovery import DatasetError

AFFINE = np.array([[-2.0, 0, 0, 90], [0, 2.0, 0, -120], [0, 0, 3.0, -60], [0, 0, 0, 1]])
SHAPE = (8, 7, 6)  # odd sizes on purpose
MSD_MODALITY = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path


def brain_label(shape=SHAPE, values=(1, 2, 3)) -> np.ndarray:
    """A label volume with one slab per value along the first axis, background first."""
    label = np.zeros(shape, np.uint8)
    for i, v in enumerate(values, start=1):
        label[i] = v
    return label


def write_msd(root: Path, n: int = 3, shape=SHAPE, dataset_json: bool = True, junk: bool = True) -> Path:
    """MSD Task01 layout: 4D images whose channel c holds c + 1 + case / 10, labels 1/2/3, macOS junk files."""
    training = []
    for i in range(1, n + 1):
        name = f"BRATS_{i:03d}.nii.gz"
        image = np.stack([np.full(shape, c + 1 + i / 10, np.float32) for c in range(4)], axis=-1)
        save_nifti(root / "imagesTr" / name, image)
        save_nifti(root / "labelsTr" / name, brain_label(shape))
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        if junk:
            (root / "imagesTr" / f"._{name}").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    if dataset_json:
        meta = {"name": "BRATS", "modality": MSD_MODALITY, "training": training, "test": []}
        (root / "dataset.json").write_text(json.dumps(meta))
    return root


def write_brats(root: Path, n: int = 2, shape=SHAPE, ext: str = ".nii.gz", seg: bool = True) -> Path:
    """BraTS 2021 layout: modality m (0 FLAIR .. 3 T2) holds m + 1; labels in the BraTS numbering 1, 2, 4."""
    for i in range(n):
        case = f"BraTS2021_{i:05d}"
        for m, name in enumerate(("flair", "t1", "t1ce", "t2")):
            save_nifti(root / case / f"{case}_{name}{ext}", np.full(shape, m + 1, np.float32))
        if seg:
            save_nifti(root / case / f"{case}_seg{ext}", brain_label(shape, (1, 2, 4)))
    (root / "name_mapping.csv").write_text("BraTS_2021_subject_ID\n")
    return root


def cell_labels(shape=(16, 20)) -> np.ndarray:
    """Instance ids 3 and 7 (not 1..N on purpose), two rectangles."""
    labels = np.zeros(shape, np.uint16)
    labels[2:6, 2:6] = 3
    labels[8:12, 8:15] = 7
    return labels


def save_image(path: Path, array: np.ndarray) -> Path:
    """TIFF (tifffile; a 3D array is a multipage stack) or PNG (Pillow) by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        Image.fromarray(array).save(path)
    else:  # a 3D array is a stack of grey pages unless its last axis holds RGB(A) samples
        rgb = array.ndim == 3 and array.shape[-1] in (3, 4)
        tifffile.imwrite(path, array, photometric="rgb" if rgb else "minisblack")
    return path


def write_folders(root: Path) -> Path:
    """``images/`` + ``labels/``: a 16-bit TIFF with 16-bit instance ids, an 8-bit PNG with a 0/255 mask."""
    rng = np.random.default_rng(0)
    save_image(root / "images" / "cell_a.tif", rng.integers(0, 4096, (16, 20)).astype(np.uint16))
    save_image(root / "labels" / "cell_a.tif", cell_labels())
    save_image(root / "images" / "cell_b.png", rng.integers(0, 256, (16, 20)).astype(np.uint8))
    save_image(root / "labels" / "cell_b.png", ((cell_labels() > 0) * 255).astype(np.uint8))
    return root


def write_ctc(root: Path) -> Path:
    """Sequence 01 with frames t000..t004; ground truth for t001 (3 digits) and t003 (written with 4 digits)."""
    for t in range(5):
        save_image(root / "01" / f"t{t:03d}.tif", np.full((16, 20), t, np.uint16))
    save_image(root / "01_GT" / "SEG" / "man_seg001.tif", cell_labels())
    save_image(root / "01_GT" / "SEG" / "man_seg0003.tif", cell_labels())
    (root / "01_GT" / "TRA").mkdir()
    return root


def membrane_labels(frames: int = 3) -> np.ndarray:
    """ISBI 2012 labels: 255 interior, 0 membrane; frame k splits the 16x16 image into k + 2 column bands."""
    labels = np.full((frames, 16, 16), 255, np.uint8)
    for k in range(frames):
        for column in np.linspace(0, 16, k + 3)[1:-1].astype(int):
            labels[k, :, column] = 0
    return labels


def write_isbi(root: Path, frames: int = 3) -> Path:
    save_image(root / "train-volume.tif", np.arange(frames * 256, dtype=np.uint8).reshape(frames, 16, 16))
    save_image(root / "train-labels.tif", membrane_labels(frames))
    save_image(root / "test-volume.tif", np.zeros((2, 16, 16), np.uint8))
    return root


def write_dsb(root: Path) -> Path:
    """Two DSB 2018 cases: RGBA PNG images, one binary PNG mask per nucleus."""
    for case, count in (("0a7d", 2), ("1b9e", 1)):
        image = np.zeros((16, 20, 4), np.uint8)
        image[..., 0], image[..., 1], image[..., 2], image[..., 3] = 10, 20, 30, 255
        save_image(root / case / "images" / f"{case}.png", image)
        for k in range(count):
            mask = np.zeros((16, 20), np.uint8)
            mask[2 + 6 * k : 6 + 6 * k, 3:9] = 255
            save_image(root / case / "masks" / f"m{k}.png", mask)
    return root


UNUSABLE = ("empty", "missing", "other files")


def unusable_folder(tmp_path: Path, state: str) -> Path:
    """A folder that holds no dataset: ``"empty"``, ``"missing"`` or ``"other files"`` (plus a macOS junk file)."""
    folder = tmp_path / "data"
    if state != "missing":
        folder.mkdir()
    if state == "other files":
        (folder / "notes.txt").write_text("x")
        (folder / "._notes.txt").write_text("x")
    return folder


def problems_of(call, *args, **kwargs) -> str:
    """The message of the DatasetError that ``call(*args, **kwargs)`` must raise."""
    with pytest.raises(DatasetError) as info:
        call(*args, **kwargs)
    return str(info.value)
