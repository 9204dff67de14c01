"""Segmentation metrics: medunet against the usual reference implementations, on the synthetic data.

    python benchmarks/bench_metrics.py                 # best of 3 per row, 1 torch thread
    python benchmarks/bench_metrics.py --repeats 5 --threads 2

Rows: the adapted Rand error against ``skimage.metrics.adapted_rand_error``; instance matching (IoU >= 0.5) against a
per-object loop (for each predicted object, the IoU with every true object under its mask: what is usually written);
BraTS region Dice and HD95 on one default synthetic brain case. Each row also checks that both give the same result.

Metrics are many small tensor operations: on a CPU shared with other processes, torch's intra-op threads wait for
each other at every operation (on this 2-core machine under load, 2 threads made the BraTS Dice 70 times slower than
1 thread), so the default here is 1 thread, which is also what an evaluator's metric should use there.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import adapted_rand_error

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medunet, not an installed one

from _timing import best_time

from medunet.data.synthetic import make_brain_tumor_cases, make_cells
from medunet.metrics import brats_region_dice, brats_region_hd95, match_instances, rand_error


def per_object_matching(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> int:
    """The loop usually written: IoU of each predicted object with the true objects under it; returns TP."""
    tp = 0
    true_sizes = np.bincount(true.ravel())
    for p in np.unique(pred[pred > 0]):
        mask = pred == p
        ids, inter = np.unique(true[mask], return_counts=True)
        keep = ids > 0
        iou = inter[keep] / (mask.sum() + true_sizes[ids[keep]] - inter[keep])
        tp += int(np.any(iou >= threshold))
    return tp


def perturbed(labels: np.ndarray, seed: int) -> np.ndarray:
    """A plausible prediction: every object eroded or dilated by one voxel at random, a few objects missing."""
    rng = np.random.default_rng(seed)
    grown = ndimage.grey_dilation(labels, size=(3,) * labels.ndim)
    shrunk = np.where(ndimage.grey_erosion(labels, size=(3,) * labels.ndim) == labels, labels, 0)
    choice = rng.integers(0, 3, labels.max() + 1)[labels]
    pred = np.where(choice == 0, shrunk, np.where(choice == 1, np.where(labels > 0, labels, grown), labels))
    pred[np.isin(pred, rng.choice(labels.max(), labels.max() // 10) + 1)] = 0
    return pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| metric | data | medunet | reference | reference time | same result |")
    print("|---|---|---|---|---|---|")

    _, (cells,) = make_cells(1, seed=0)
    pred = perturbed(cells, 1)
    data = f"512 x 512, {cells.max()} cells"
    ours, r = best_time(args.repeats, rand_error, pred, cells, label_components="none")
    ref, (are, _, _) = best_time(args.repeats, adapted_rand_error, cells, pred)
    print(f"| Rand error | {data} | {ours * 1e3:.1f} ms | skimage | {ref * 1e3:.1f} ms | {np.isclose(r.error, are)} |")
    ours, m = best_time(args.repeats, match_instances, pred, cells, label_components="none")
    ref, tp = best_time(args.repeats, per_object_matching, pred, cells)
    print(f"| instance F1 | {data} | {ours * 1e3:.1f} ms | per-object loop | {ref * 1e3:.1f} ms | {m.tp == tp} |")

    rng = np.random.default_rng(0)
    seeds = np.zeros((96, 96, 96), dtype=np.int64)
    seeds[tuple(rng.integers(0, 96, (3, 60)))] = np.arange(1, 61)
    blobs = ndimage.grey_dilation(seeds, size=(9, 9, 9))
    pred3 = perturbed(blobs, 2)
    data = f"96^3, {len(np.unique(blobs)) - 1} objects"
    ours, m = best_time(args.repeats, match_instances, pred3, blobs, label_components="none")
    ref, tp = best_time(args.repeats, per_object_matching, pred3, blobs)
    print(f"| instance F1 | {data} | {ours * 1e3:.1f} ms | per-object loop | {ref * 1e3:.1f} ms | {m.tp == tp} |")

    _, (label,), affine = make_brain_tumor_cases(1, seed=0)
    pred_label = perturbed(label.astype(np.int64), 3).astype(np.uint8)
    spacing = tuple(np.diag(affine)[:3])
    ours, _ = best_time(args.repeats, brats_region_dice, pred_label, label)
    print(f"| BraTS region Dice | 64 x 64 x 48 case | {ours * 1e3:.1f} ms | - | - | - |")
    ours, _ = best_time(args.repeats, brats_region_hd95, pred_label, label, spacing=spacing)
    print(f"| BraTS region HD95 (MONAI) | 64 x 64 x 48 case | {ours * 1e3:.1f} ms | - | - | - |")


if __name__ == "__main__":
    main()
