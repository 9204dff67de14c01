"""The training recipe's per-sample costs against MONAI's closest built-ins, side by side in one process.

    python benchmarks/bench_training_recipe.py               # best of 3 after a warm-up, 1 thread
    python benchmarks/bench_training_recipe.py --threads 2 --repeats 5

Elastic deformation (image + label, one sample): medunet's ``PaperElastic2Dd`` against MONAI's ``Rand2DElasticd``
set up as close to the paper as it goes (spacing (size-1)/2, magnitude 10), and ``GridElastic3Dd`` against MONAI's
``Rand3DElasticd`` (a different scheme: dense noise smoothed by a Gaussian). The "shift at 0" column is the largest
displacement, in pixels, each transform applies when its random magnitude is zero (it should be 0).

Losses (forward + backward, one tile): ``WeightedCrossEntropyLoss`` against ``torch.nn.functional.cross_entropy``
(which has no pixel weights), ``WeightedDiceCELoss`` against MONAI's ``DiceCELoss`` (no pixel weights).
"""

from __future__ import annotations

import argparse
import platform

import torch
import torch.nn.functional as F
from _timing import best_time
from monai.losses import DiceCELoss
from monai.transforms import Rand2DElasticd, Rand3DElasticd

from medunet.losses import WeightedCrossEntropyLoss, WeightedDiceCELoss
from medunet.transforms import GridElastic3Dd, PaperElastic2Dd


def shift_at_zero(make, spatial) -> float:
    """Largest |output - input| of coordinate ramps warped with zero random magnitude (border padding)."""
    ramps = {}
    for axis in range(len(spatial)):
        shape = [1] * len(spatial)
        shape[axis] = spatial[axis]
        ramps[f"a{axis}"] = torch.arange(spatial[axis], dtype=torch.float32).reshape(shape).expand(spatial)[None]
    out = make(list(ramps))(dict(ramps))
    return max(float((out[k] - ramps[k]).abs().max()) for k in ramps)


def elastic_rows(repeats: int):
    size2d, size3d = (572, 572), (128, 128, 128)
    keys, modes = ["image", "label"], ("bilinear", "nearest")
    image2d, image3d = torch.rand(1, *size2d), torch.rand(1, *size3d)
    data2d = {"image": image2d, "label": (image2d > 0.5).float()}
    data3d = {"image": image3d, "label": (image3d > 0.5).float()}
    spacing2d = tuple((n - 1) / 2 for n in size2d)

    def monai2d(keys, magnitude=10.0, mode=modes):
        return Rand2DElasticd(keys, spacing2d, (magnitude, magnitude), prob=1.0, mode=mode, padding_mode="border")

    def ours2d(keys, magnitude=10.0, mode=modes):
        return PaperElastic2Dd(keys, magnitude=magnitude, mode=mode, padding_mode="border")

    def monai3d(keys, magnitude=100.0, mode=modes):
        return Rand3DElasticd(keys, (9, 13), (magnitude, magnitude), prob=1.0, mode=mode, padding_mode="border")

    def ours3d(keys, magnitude=4.0, mode=modes):
        return GridElastic3Dd(keys, sigma=magnitude, mode=mode, padding_mode="border")

    cases = [
        ("PaperElastic2Dd", "572x572", ours2d, data2d, size2d),
        ("MONAI Rand2DElasticd", "572x572", monai2d, data2d, size2d),
        ("GridElastic3Dd", "128^3", ours3d, data3d, size3d),
        ("MONAI Rand3DElasticd", "128^3", monai3d, data3d, size3d),
    ]
    for name, size, make, data, spatial in cases:
        t = make(keys).set_random_state(0)
        seconds = best_time(repeats, lambda t=t, data=data: t(data), warmup=True)[0]
        shift = shift_at_zero(lambda k, make=make: make(k, magnitude=0.0, mode="bilinear"), spatial)
        yield name, size, seconds, shift


LOSSES = {
    "WeightedCrossEntropyLoss": lambda pred, label, weight: WeightedCrossEntropyLoss()(pred, label, weight),
    "torch cross_entropy": lambda pred, label, weight: F.cross_entropy(pred, label[:, 0]),
    "WeightedDiceCELoss": lambda pred, label, weight: WeightedDiceCELoss()(pred, label, weight),
    "MONAI DiceCELoss": lambda pred, label, weight: DiceCELoss(to_onehot_y=True, softmax=True)(pred, label),
}


def loss_rows(repeats: int):
    torch.manual_seed(0)
    for size, classes, spatial in (("388x388, 2 classes", 2, (388, 388)), ("44x44x28, 3 classes", 3, (44, 44, 28))):
        pred = torch.randn(1, classes, *spatial, requires_grad=True)
        label = torch.randint(0, classes, (1, 1, *spatial))
        weight = torch.rand(1, 1, *spatial)
        for name, loss in LOSSES.items():

            def step(loss=loss, pred=pred, label=label, weight=weight):
                pred.grad = None
                loss(pred, label, weight).backward()

            yield name, size, best_time(repeats, step, warmup=True)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"cpu: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}")
    # rows come in pairs (medunet, its MONAI/torch counterpart); the ratio is counterpart time / medunet time
    header = f"{'elastic (image + label)':<24} {'size':<10} {'s/sample':>9} {'shift at 0 (px)':>16} {'MONAI/ours':>11}"
    print(header + "\n" + "-" * len(header))
    rows = list(elastic_rows(args.repeats))
    for i, (name, size, seconds, shift) in enumerate(rows):
        ratio = f"{rows[i + 1][2] / seconds:>10.1f}x" if i % 2 == 0 else ""
        print(f"{name:<24} {size:<10} {seconds:>9.3f} {shift:>16.2f} {ratio:>11}")
    header = f"{'loss (fwd + bwd)':<24} {'tile':<20} {'ms':>8} {'ours/base':>10}"
    print("\n" + header + "\n" + "-" * len(header))
    rows = list(loss_rows(args.repeats))
    for i, (name, size, seconds) in enumerate(rows):
        ratio = f"{seconds / rows[i + 1][2]:>9.2f}x" if i % 2 == 0 else ""
        print(f"{name:<24} {size:<20} {seconds * 1e3:>8.1f} {ratio:>10}")


if __name__ == "__main__":
    main()
