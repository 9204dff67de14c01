"""Which files make up a bundle, and where medunet's own bundles are.

A bundle folder holds what it ships (``LICENSE``, ``configs/``, ``docs/``, the trained weights in ``models/``) next to
what its runs write there (``data/``, ``eval/``, ``runs/``, ``predictions/``, training checkpoints). Everything that
copies, packs, hashes or installs a bundle uses :func:`bundle_files`, so they agree on what a bundle is.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OUTPUT_DIRS", "WEIGHTS", "BundleFileError", "bundle_files", "bundles_dir", "find_bundle"]

OUTPUT_DIRS = ("data", "data_test", "eval", "runs", "predictions")
WEIGHTS = ("model.pt", "model.safetensors", "model.ts", "model.onnx")  # the files of models/ that ship


class BundleFileError(ValueError):
    """A bundle folder that cannot be copied as it is (a link, a special file), or no bundle at all."""


def bundles_dir() -> Path:
    """The folder of medunet's own bundles: ``medunet/bundles`` in an installed wheel, ``bundles/`` in a checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "bundles", package.parent / "bundles"):
        if candidate.is_dir():
            return candidate
    raise BundleFileError(
        f"medunet's bundles are missing: neither {package / 'bundles'} nor {package.parent / 'bundles'}"
    )


def find_bundle(name: str | os.PathLike) -> Path:
    """A bundle folder: ``name`` itself when it is a folder with ``configs/metadata.json``, else medunet's bundle of
    that name."""
    path = Path(name)
    if (path / "configs" / "metadata.json").is_file():
        return path.resolve()
    if path.name == str(name) and (bundles_dir() / path.name / "configs" / "metadata.json").is_file():
        return bundles_dir() / path.name
    known = sorted(p.name for p in bundles_dir().iterdir() if (p / "configs" / "metadata.json").is_file())
    raise BundleFileError(
        f"{name}: not a bundle folder (no configs/metadata.json) nor one of medunet's bundles {known}"
    )


def bundle_files(folder: str | os.PathLike, weights: bool = True) -> list[str]:
    """The files a bundle ships, as sorted POSIX paths relative to ``folder``.

    Left out: hidden files and folders, ``__pycache__``, the run outputs :data:`OUTPUT_DIRS` and, in ``models/``,
    everything but :data:`WEIGHTS` (checkpoints, the split); with ``weights=False`` all of ``models/``.

    Raises:
        BundleFileError: ``folder`` has no ``configs/metadata.json``, or a shipped entry is a link or not a regular
            file (links are never followed: a link could copy a file from outside the bundle into it).
    """
    root = Path(folder)
    if not (root / "configs" / "metadata.json").is_file() or (root / "configs").is_symlink():
        raise BundleFileError(f"{root}: not a bundle folder (expected configs/metadata.json)")
    found = []
    for here, dirs, files in os.walk(root):
        rel = Path(here).relative_to(root)
        keep = []
        for d in sorted(dirs):
            if d.startswith(".") or d == "__pycache__" or (rel == Path() and d in OUTPUT_DIRS):
                continue
            if rel == Path() and d == "models" and not weights:
                continue
            if (Path(here) / d).is_symlink():
                raise BundleFileError(f"{Path(here) / d}: a link inside the bundle (expected a plain folder)")
            keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            path = Path(here) / f
            if f.startswith(".") or (rel == Path("models") and f not in WEIGHTS):
                continue
            if path.is_symlink() or not path.is_file():
                raise BundleFileError(
                    f"{path}: {'a link' if path.is_symlink() else 'not a regular file'} inside the bundle"
                )
            found.append((rel / f).as_posix())
    return sorted(found)
