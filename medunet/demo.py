"""``python -m medunet.demo``: the main job, end to end on a medunet bundle, offline.

1. trains the bundle on its embedded synthetic dataset (generated on first run),
2. evaluates the best model on a held-out synthetic test set (another seed, never seen in training or model
   selection): per-case metrics to ``eval/metrics.csv``, a box plot to ``eval/metrics.png``, PNG overlays to
   ``eval/overlays``,
3. segments one held-out image into ``predictions/``,

each step with the ``python -m monai.bundle run`` command a user would type, printed before it runs. Re-running
continues an interrupted training (the bundles resume from their last checkpoint) and re-does steps 2 and 3.

In a source checkout the demo runs in the repository's bundle folder (its outputs are ignored by git); from an
installed wheel it first copies the bundle to ``./medunet-demo/<bundle>`` (``--bundle-dir`` chooses another folder).

``--bundle brain`` (default, the README's main job): brain tumour MRI, WT/TC/ET Dice and HD95, a NIfTI segmentation.
``--bundle cells``: the 2015 paper's recipe on touching cells, foreground IoU and instance F1, 16-bit label images.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from medunet.bundle.export import export_bundle
from medunet.bundle.files import bundles_dir

OUTPUTS = ("data", "data_test", "models", "eval", "runs", "predictions")


class Demo(NamedTuple):
    """What the demo needs to know of a bundle: its folder, the held-out file it segments, the files inference writes
    for it, and the summary lines it prints (label, format over the summary.csv means)."""

    folder: str
    test_input: str
    outputs: tuple[str, ...]
    scores: tuple[tuple[str, str], ...]


DEMOS = {
    "brain": Demo(
        "brain_tumor_segmentation",
        "data_test/imagesTr/BRATS_001.nii.gz",
        ("BRATS_001_seg.nii.gz",),
        (
            ("held-out Dice", "WT {WT_dice:.3f}  TC {TC_dice:.3f}  ET {ET_dice:.3f}  mean {mean_dice:.3f}"),
            ("held-out HD95", "WT {WT_hd95:.1f}  TC {TC_hd95:.1f}  ET {ET_hd95:.1f} mm"),
        ),
    ),
    "cells": Demo(
        "cell_segmentation",
        "data_test/images/cell_000.tif",
        ("cell_000_instances.tif", "cell_000_semantic.tif", "cell_000_overlay.png"),
        (
            ("held-out IoU", "foreground {foreground_iou:.3f}"),
            ("instances", "F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f} (IoU >= 0.5)"),
            ("errors", "Rand {rand_error:.4f}  pixel {pixel_error:.4f}"),
        ),
    ),
}


def bundle_command(configs: list[str], *overrides: str) -> list[str]:
    files = configs[0] if len(configs) == 1 else "[" + ",".join(f"'{c}'" for c in configs) + "]"
    return [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        files,
        "--meta_file",
        "configs/metadata.json",
        "--logging_file",
        "configs/logging.conf",
        *overrides,
    ]


def run_step(title: str, command: list[str], bundle: Path) -> None:
    shown = " ".join(f'"{c}"' if ("[" in c or " " in c) else c for c in ["python", *command[1:]])
    print(f"\n==> {title}\n    (in {bundle})\n    {shown}\n", flush=True)
    result = subprocess.run(command, cwd=bundle)
    if result.returncode != 0:
        sys.exit(f"medunet demo: step '{title}' failed with exit code {result.returncode} (see the log above)")


def summary(path: Path) -> dict[str, float]:
    """Column -> mean of a MetricsReport summary.csv, plus ``mean_dice`` over the ``*_dice`` columns."""
    with open(path) as f:
        scores = {row["metric"]: float(row["mean"]) for row in csv.DictReader(f)}
    dice = [v for k, v in scores.items() if k.endswith("_dice")]
    if dice:
        scores["mean_dice"] = sum(dice) / len(dice)
    return scores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", choices=sorted(DEMOS), default="brain", help="which bundle to run")
    parser.add_argument(
        "--bundle-dir", type=Path, help="where to run the bundle (default: the checkout's, or ./medunet-demo/<bundle>)"
    )
    parser.add_argument("--fresh", action="store_true", help="delete earlier outputs (data, models, ...) first")
    parser.add_argument(
        "overrides", nargs="*", help="--key value overrides for every step, after --, e.g. -- --num_epochs 5"
    )


def _working_bundle(demo: Demo, bundle_dir: Path | None) -> Path:
    """The folder the demo runs in: ``bundle_dir`` (a copy of the bundle is made there if it holds none), the
    checkout's bundle folder, or a copy in ``./medunet-demo``."""
    source = bundles_dir() / demo.folder
    in_checkout = (source.parents[1] / "pyproject.toml").is_file()
    target = bundle_dir or (source if in_checkout else Path("medunet-demo") / demo.folder)
    if not (target / "configs" / "metadata.json").is_file():
        export_bundle(source, target, weights=False)
        print(f"copied the {demo.folder} bundle to {target}", flush=True)
    return target.resolve()


def run(args: argparse.Namespace) -> int:
    demo = DEMOS[args.bundle]
    bundle = _working_bundle(demo, args.bundle_dir)
    if args.fresh:
        for name in OUTPUTS:
            shutil.rmtree(bundle / name, ignore_errors=True)
    start = time.perf_counter()
    train = ["configs/train.json"]
    run_step("1/3 train on the synthetic dataset", bundle_command(train, *args.overrides), bundle)
    evaluate = [*train, "configs/evaluate.json"]
    run_step(
        "2/3 evaluate on a held-out synthetic test set",
        bundle_command(evaluate, "--test_dir", "data_test", *args.overrides),
        bundle,
    )
    inference = ["configs/inference.json"]
    run_step(
        f"3/3 segment a held-out {'NIfTI volume' if args.bundle == 'brain' else 'image'}",
        bundle_command(inference, "--input_path", demo.test_input, "--output_dir", "predictions", *args.overrides),
        bundle,
    )

    scores = summary(bundle / "eval" / "summary.csv")
    print(f"\nmedunet demo ({demo.folder}) finished in {time.perf_counter() - start:.0f} s")
    for label, line in demo.scores:
        print(f"  {label:<15} {line.format(**scores)}")
    print(f"  per-case table  {bundle / 'eval' / 'metrics.csv'}")
    print(f"  box plot (PNG)  {bundle / 'eval' / 'metrics.png'}")
    print(f"  overlays (PNG)  {bundle / 'eval' / 'overlays'}")
    for name in demo.outputs:
        print(f"  prediction      {bundle / 'predictions' / name}")
    print(f"  from            {bundle / demo.test_input}")
    print(f"  trained model   {bundle / 'models' / 'model.pt'}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
