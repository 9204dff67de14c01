"""Copy a bundle out of the repository as a self-contained folder to hand to another group.

In the repository a bundle's ``configs/shared`` is a link to the top-level ``configs/`` folder that all medunet
bundles share. The export replaces the link by the files, keeps configs, docs, licences and the trained weights
(``models/model.pt`` and its TorchScript / ONNX exports), and leaves out data, training checkpoints, TensorBoard
logs, evaluation outputs and predictions. The copy is made under a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["export_bundle", "main"]

logger = logging.getLogger(__name__)

KEEP_MODELS = ("model.pt", "model.ts", "model.onnx")
SKIP_DIRS = ("data", "data_test", "eval", "runs", "predictions", "__pycache__")


def _ignore(bundle: Path):
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {n for n in names if n.startswith(".")}
        if here == bundle:
            skipped |= {n for n in names if n in SKIP_DIRS}
        if here == bundle / "models":
            skipped |= {n for n in names if n not in KEEP_MODELS}
        return skipped

    return ignore


def export_bundle(bundle_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write a self-contained copy of ``bundle_dir`` to ``out_dir`` (which must not exist or be empty)."""
    bundle, out = Path(bundle_dir).resolve(), Path(out_dir)
    if not (bundle / "configs" / "metadata.json").is_file():
        raise ValueError(f"{bundle} is not a bundle: configs/metadata.json is missing.")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty; export into a new folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        shutil.copytree(bundle, staging / "bundle", symlinks=False, ignore=_ignore(bundle))
        if out.exists():
            out.rmdir()
        os.replace(staging / "bundle", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    weights = "with" if (out / "models" / "model.pt").exists() else "without"
    logger.info("exported %s to %s (%s trained weights)", bundle, out, weights)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m medunet.bundle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="self-contained copy of a bundle")
    export.add_argument("bundle_dir")
    export.add_argument("out_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        export_bundle(args.bundle_dir, args.out_dir)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
