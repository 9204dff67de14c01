"""Copy a bundle as a self-contained folder, to hand to another group or to train in elsewhere.

The copy holds what the bundle ships (:func:`medunet.bundle.files.bundle_files`: licence, configs, docs and the
trained weights) and leaves out data, training checkpoints, TensorBoard logs, evaluation outputs and predictions. A
link inside the bundle is refused, never followed. The copy is made under a temporary name and renamed into place.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from medunet.bundle.files import bundle_files

__all__ = ["export_bundle"]

logger = logging.getLogger(__name__)


def export_bundle(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike, weights: bool = True) -> Path:
    """Write a self-contained copy of ``bundle_dir`` to ``out_dir`` (which must not exist or be empty).

    Args:
        bundle_dir: the bundle folder.
        out_dir: the new folder.
        weights: copy ``models/model.pt`` (and its exports) too.
    """
    bundle, out = Path(bundle_dir), Path(out_dir)
    files = bundle_files(bundle, weights=weights)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder; export into a new folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundle / name, staging / name, follow_symlinks=False)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    has_weights = "with" if (out / "models" / "model.pt").exists() else "without"
    logger.info("exported %s to %s (%s trained weights)", bundle, out, has_weights)
    return out
