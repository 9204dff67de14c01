"""Atomic file writes: a file either appears complete under its final name or not at all.

Each writer saves to a temporary name in the destination folder and then ``os.replace``-s it, so an interrupted run
or a reader in another process never sees a half-written image (``os.replace`` is atomic within one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile

__all__ = ["atomic_path", "write_json", "write_nifti", "write_tiff"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffixes); on success move it onto ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name.split('.')[0]}-", suffix="".join(path.suffixes))
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=4) + "\n")
    return Path(path)


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
