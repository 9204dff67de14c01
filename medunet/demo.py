"""``python -m medunet.demo``: the main job, end to end on the brain tumour bundle, offline.

1. trains ``bundles/brain_tumor_segmentation`` on its embedded synthetic MSD-layout dataset (generated on first run),
2. evaluates the best model on a held-out synthetic test set (other seeds, never seen in training or model
   selection): per-case WT/TC/ET Dice and HD95 to ``eval/metrics.csv``, PNG overlays to ``eval/overlays``,
3. segments one held-out NIfTI volume into ``predictions/``,

each step with the ``python -m monai.bundle run`` command a user would type, printed before it runs. Re-running
continues an interrupted training (the bundle resumes from its last checkpoint) and re-does steps 2 and 3.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "brain_tumor_segmentation"
OUTPUTS = ("data", "data_test", "models", "eval", "runs", "predictions")


def bundle_command(configs: list[str], *overrides: str) -> list[str]:
    files = "[" + ",".join(f"'{c}'" for c in configs) + "]"
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
    with open(path) as f:
        return {row["metric"]: float(row["mean"]) for row in csv.DictReader(f)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="the brain tumour bundle folder")
    parser.add_argument("--fresh", action="store_true", help="delete earlier outputs (data, models, ...) first")
    parser.add_argument("overrides", nargs="*", help="extra --key value overrides for training, e.g. --num_epochs 5")
    args = parser.parse_args(argv)
    bundle = args.bundle.resolve()
    if args.fresh:
        for name in OUTPUTS:
            shutil.rmtree(bundle / name, ignore_errors=True)
    start = time.perf_counter()
    train = ["configs/shared/base_train.json", "configs/train.json"]
    run_step("1/3 train on the synthetic dataset", bundle_command(train, *args.overrides), bundle)
    evaluate = [*train, "configs/shared/base_evaluate.json", "configs/evaluate.json"]
    run_step(
        "2/3 evaluate on a held-out synthetic test set",
        bundle_command(evaluate, "--test_dir", "data_test", *args.overrides),
        bundle,
    )
    volume = "data_test/imagesTr/BRATS_001.nii.gz"
    inference = ["configs/shared/base_inference.json", "configs/inference.json"]
    run_step(
        "3/3 segment a held-out NIfTI volume",
        bundle_command(inference, "--input_path", volume, "--output_dir", "predictions"),
        bundle,
    )

    scores = summary(bundle / "eval" / "summary.csv")
    dice = [scores[f"{r}_dice"] for r in ("WT", "TC", "ET")]
    print(f"\nmedunet demo finished in {time.perf_counter() - start:.0f} s")
    print(f"  held-out Dice   WT {dice[0]:.3f}  TC {dice[1]:.3f}  ET {dice[2]:.3f}  mean {sum(dice) / 3:.3f}")
    print(f"  held-out HD95   WT {scores['WT_hd95']:.1f}  TC {scores['TC_hd95']:.1f}  ET {scores['ET_hd95']:.1f} mm")
    print(f"  per-case table  {bundle / 'eval' / 'metrics.csv'}")
    print(f"  overlays (PNG)  {bundle / 'eval' / 'overlays'}")
    print(f"  segmentation    {bundle / 'predictions' / 'BRATS_001_seg.nii.gz'} (from {bundle / volume})")
    print(f"  trained model   {bundle / 'models' / 'model.pt'}")


if __name__ == "__main__":
    main()
