"""How fast a small 3D U-Net learns the synthetic brain tumour task on a CPU (is it learnable, is it not trivial?).

    python benchmarks/bench_brain_learnability.py --minutes 9 --threads 2

Trains ``UNet(3, 4, 3, channels=(8, 16, 32, 64), padding="same", instance norm)`` on whole synthetic cases (regions
WT/TC/ET as sigmoid channels, DiceCE loss, AdamW 3e-3, batch 1) and prints the validation Dice per region once a
minute. Generation time is not counted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from monai.losses import DiceCELoss

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medunet, not an installed one

from medunet.data.synthetic import make_brain_tumor_cases
from medunet.metrics import BratsRegionDiceMetric, to_brats_regions
from medunet.networks import unet3d_mri


def standardise(images: np.ndarray) -> torch.Tensor:
    """Zero mean, unit variance per case and channel."""
    mean, std = images.mean(axis=(2, 3, 4), keepdims=True), images.std(axis=(2, 3, 4), keepdims=True)
    return torch.from_numpy((images - mean) / std)


def validate(net: torch.nn.Module, images: torch.Tensor, regions: torch.Tensor) -> list[float]:
    metric = BratsRegionDiceMetric(reduction="mean_batch")
    net.eval()
    with torch.no_grad():
        for x, y in zip(images, regions):
            metric((net(x[None]) > 0).float(), y[None])
    net.train()
    return metric.aggregate().tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--val", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    start = time.perf_counter()
    images, labels, _ = make_brain_tumor_cases(args.train + args.val, shape=tuple(args.shape), seed=0)
    print(f"generated {len(images)} cases of {tuple(args.shape)} in {time.perf_counter() - start:.1f} s")
    images = standardise(images)
    regions = to_brats_regions(torch.from_numpy(labels)[:, None])
    train, val = slice(0, args.train), slice(args.train, None)

    net = unet3d_mri(channels=(8, 16, 32, 64))
    optimiser = torch.optim.AdamW(net.parameters(), 3e-3)
    loss_fn = DiceCELoss(sigmoid=True)
    start, iterations, report = time.perf_counter(), 0, 60.0
    print("seconds  iterations  Dice WT  TC     ET     mean")
    while (elapsed := time.perf_counter() - start) < args.minutes * 60:
        i = rng.integers(args.train)
        loss = loss_fn(net(images[train][i : i + 1]), regions[train][i : i + 1])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        iterations += 1
        if elapsed >= report or time.perf_counter() - start >= args.minutes * 60:
            dice = validate(net, images[val], regions[val])
            scores = "  ".join(f"{d:.3f}" for d in [*dice, np.mean(dice)])
            print(f"{elapsed:7.0f}  {iterations:10d}  {scores}")
            report += 60.0


if __name__ == "__main__":
    main()
