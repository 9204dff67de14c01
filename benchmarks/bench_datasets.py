"""Dataset checks and loading at real sizes: the header-only check against a full load, and medunet's loaders against
the plain MONAI loading they wrap.

    python benchmarks/bench_datasets.py                  # 2 BraTS-sized cases (240x240x155, 4 modalities), best of 3
    python benchmarks/bench_datasets.py --cases 4 --repeats 5

Brain: ``check_brain_tumor_cases`` (headers only) against ``LoadBrainTumorCased`` (voxels, BraTS -> MSD label
mapping) against MONAI's ``LoadImaged(ensure_channel_first=True)`` of the same files (no label mapping).
Cells: ``LoadCellImaged`` of a 512x512 16-bit TIFF with percentile normalisation against MONAI's ``LoadImaged`` +
``ScaleIntensityRangePercentilesd`` of the same file, and the ISBI 2012 stack (30 frames) find + check.
The files are written to a temporary folder first (not timed).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile
from monai.transforms import Compose, LoadImaged, ScaleIntensityRangePercentilesd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_time

from medunet.data.brain import LoadBrainTumorCased, check_brain_tumor_cases, find_brain_tumor_cases
from medunet.data.cells import LoadCellImaged, check_cell_images, find_cell_images


def write_brats_cases(root: Path, cases: int, shape=(240, 240, 155)) -> None:
    """BraTS 2021 layout with smooth MRI-like volumes (so gzip sees realistic data) and labels 0/1/2/4."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(0))
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    for i in range(cases):
        case = root / f"BraTS2021_{i:05d}"
        case.mkdir(parents=True)
        for m, name in enumerate(("flair", "t1", "t1ce", "t2")):
            volume = (1000 * (radius < 0.8) * (1 + 0.1 * m) + rng.normal(0, 20, shape)).astype(np.float32)
            nib.save(
                nib.Nifti1Image(np.clip(volume, 0, None).astype(np.int16), affine), case / f"{case.name}_{name}.nii.gz"
            )
        seg = np.select([radius < 0.1, radius < 0.15, radius < 0.25], [1, 4, 2], 0).astype(np.uint8)
        nib.save(nib.Nifti1Image(seg, affine), case / f"{case.name}_seg.nii.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.machine()} {platform.processor() or ''}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_brats_cases(root / "brats", args.cases)
        items = find_brain_tumor_cases(root / "brats")
        medunet_load, monai_load = LoadBrainTumorCased(), LoadImaged(["image", "label"], ensure_channel_first=True)
        rows = [
            ("brain: check_brain_tumor_cases (headers)", lambda: check_brain_tumor_cases(items), len(items)),
            ("brain: LoadBrainTumorCased", lambda: [medunet_load(i) for i in items], len(items)),
            ("brain: MONAI LoadImaged", lambda: [monai_load(i) for i in items], len(items)),
        ]
        cells = root / "cells"
        (cells / "images").mkdir(parents=True)
        (cells / "labels").mkdir()
        rng = np.random.default_rng(0)
        tifffile.imwrite(cells / "images" / "a.tif", rng.integers(0, 65535, (512, 512)).astype(np.uint16))
        tifffile.imwrite(cells / "labels" / "a.tif", rng.integers(0, 150, (512, 512)).astype(np.uint16))
        cell = find_cell_images(cells)[0]
        monai_cell = Compose(
            [
                LoadImaged(["image", "label"], ensure_channel_first=True),
                ScaleIntensityRangePercentilesd("image", 1, 99.8, 0, 1),
            ]
        )
        isbi = root / "isbi"
        isbi.mkdir()
        tifffile.imwrite(isbi / "train-volume.tif", rng.integers(0, 255, (30, 512, 512)).astype(np.uint8))
        tifffile.imwrite(isbi / "train-labels.tif", (rng.random((30, 512, 512)) > 0.2).astype(np.uint8) * 255)
        rows += [
            ("cells: LoadCellImaged 512x512 16-bit", lambda: LoadCellImaged()(cell), 1),
            ("cells: MONAI LoadImaged + percentiles", lambda: monai_cell(cell), 1),
            ("cells: ISBI 2012 find + check (30 frames)", lambda: check_cell_images(find_cell_images(isbi)), 30),
        ]
        print("| step | items | s total | ms / item |")
        print("|---|---|---|---|")
        for name, fn, count in rows:
            seconds, _ = best_time(args.repeats, fn, warmup=True)
            print(f"| {name} | {count} | {seconds:.3f} | {1000 * seconds / count:.1f} |")


if __name__ == "__main__":
    main()
