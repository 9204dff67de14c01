"""Whole-volume inference: medunet's OverlapTileInferer against MONAI's sliding_window_inference, side by side.

    python benchmarks/bench_inference.py               # BraTS-size 3D case and the 2D paper-network case
    python benchmarks/bench_inference.py --only 3d     # just the 3D case
    python benchmarks/bench_inference.py --ct          # also a 1x1x512^3 CT with a 2-class network (peak RSS)

3D case: a 1x4x240x240x155 volume, ``unet3d_mri`` in eval mode, ROI 96^3, overlap 0.5, Gaussian blending, for
MONAI fp32, medunet fp32 and medunet bf16 autocast. Each method runs in its own subprocess, so each peak RSS is its
own. "network alone" is the time of the same number of bare forward passes on a window batch; stitching overhead
is the rest of the total. Agreement is the share of voxels whose argmax equals MONAI fp32's.

2D case: the 2015 paper network on a 1024x1024 image at ROI 572 and at ROI 1212 (one tile): time, number of
windows, and the ratio of input pixels fed to the network to output pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROI, OVERLAP, SHAPE = (96, 96, 96), 0.5, (1, 4, 240, 240, 155)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def build_3d(ct: bool):
    from medunet.networks import unet3d_mri

    torch.manual_seed(0)
    if ct:
        net = unet3d_mri(1, 2, channels=(8, 16, 32, 64))
        image = torch.randn(1, 1, 512, 512, 512)
    else:
        net = unet3d_mri()
        image = torch.randn(SHAPE)
        image = torch.nn.functional.avg_pool3d(image, 5, 1, 2)  # smooth: a prediction with structure, not noise
    return net.eval(), image


def network_alone(net, windows: int, autocast: bool, roi=ROI, channels: int = 4) -> float:
    """Seconds for `windows` bare forward passes at batch 1 (median of 5, scaled)."""
    x = torch.randn(1, channels, *roi)
    times = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        net(x)
        for _ in range(5):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times)) * windows


def worker(method: str, out: str, ct: bool) -> None:
    from monai.inferers import sliding_window_inference

    from medunet.inferers import overlap_tile_inference
    from medunet.inferers.tiling import plan_same_axis

    net, image = build_3d(ct)
    roi = (128, 128, 128) if ct else ROI
    windows = int(np.prod([len(plan_same_axis(n, r, OVERLAP).starts) for n, r in zip(image.shape[2:], roi)]))
    base = peak_rss_gib()
    start = time.perf_counter()
    with torch.no_grad():
        if method == "monai-fp32":
            pred = sliding_window_inference(image, roi, 1, net, overlap=OVERLAP, mode="gaussian")
        else:
            pred = overlap_tile_inference(
                image, net, roi, overlap=OVERLAP, mode="gaussian", autocast="bf16" if "bf16" in method else None
            )
    total = time.perf_counter() - start
    peak = peak_rss_gib()
    labels = pred.argmax(1).to(torch.uint8).numpy()
    alone = None if ct else network_alone(net, windows, "bf16" in method)
    np.save(out + ".npy", labels)
    with open(out + ".json", "w") as f:
        json.dump({"total": total, "alone": alone, "windows": windows, "peak": peak, "base": base}, f)


def run_worker(method: str, ct: bool, tmp: str) -> tuple[dict, np.ndarray]:
    out = os.path.join(tmp, method)
    cmd = [sys.executable, __file__, "--worker", method, "--out", out] + (["--ct"] if ct else [])
    subprocess.run(cmd, check=True)
    with open(out + ".json") as f:
        stats = json.load(f)
    return stats, np.load(out + ".npy")


def bench_3d(ct: bool) -> None:
    title = "1x1x512^3 CT, 2-class unet3d_mri(8..64), ROI 128^3" if ct else "1x4x240x240x155, unet3d_mri, ROI 96^3"
    print(f"\n## 3D: {title}, overlap {OVERLAP}, Gaussian\n")
    methods = ["monai-fp32", "medunet-fp32"] if ct else ["monai-fp32", "medunet-fp32", "medunet-bf16"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            rows[method] = run_worker(method, ct, tmp)
    reference = rows["monai-fp32"][1]
    print(
        "| method | windows | total s | network alone s | stitching overhead | vs MONAI fp32 | argmax agreement "
        "| peak RSS GiB (before) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method, (stats, labels) in rows.items():
        alone = stats["alone"]
        overhead = "-" if alone is None else f"{max(stats['total'] - alone, 0) / stats['total']:.1%}"
        alone_s = "-" if alone is None else f"{alone:.1f}"
        print(
            f"| {method} | {stats['windows']} | {stats['total']:.1f} | {alone_s} | {overhead} | "
            f"{rows['monai-fp32'][0]['total'] / stats['total']:.2f}x | {(labels == reference).mean():.4%} | "
            f"{stats['peak']:.2f} ({stats['base']:.2f}) |"
        )


def bench_2d() -> None:
    from medunet.inferers import overlap_tile_inference
    from medunet.inferers.overlap_tile import _plan
    from medunet.networks import unet2d_paper

    print("\n## 2D: unet2d_paper on 1x1x1024x1024, bf16 autocast\n")
    torch.manual_seed(0)
    net = unet2d_paper().eval()
    image = torch.randn(1, 1, 1024, 1024)
    print("| ROI | windows | input px / output px | total s |")
    print("|---|---|---|---|")
    for roi in (572, 1212):
        plans = _plan(net, image.shape[2:], (roi, roi), None, OVERLAP)
        windows = int(np.prod([len(p.starts) for p in plans]))
        fed = windows * np.prod([p.in_size for p in plans])
        start = time.perf_counter()
        with torch.no_grad():
            overlap_tile_inference(image, net, roi, autocast="bf16")
        total = time.perf_counter() - start
        print(f"| {roi} | {windows} | {fed / 1024**2:.2f} | {total:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["3d", "2d"])
    parser.add_argument("--ct", action="store_true", help="add the 512^3 CT memory case")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.out, args.ct)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only in (None, "3d"):
        bench_3d(ct=False)
        if args.ct:
            bench_3d(ct=True)
    if args.only in (None, "2d"):
        bench_2d()


if __name__ == "__main__":
    main()
