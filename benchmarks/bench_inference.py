"""Whole-volume inference: medunet's OverlapTileInferer against MONAI's sliding_window_inference, side by side.

    python benchmarks/bench_inference.py               # BraTS-size 3D case and the 2D paper-network case
    python benchmarks/bench_inference.py --only 3d     # just the 3D case
    python benchmarks/bench_inference.py --ct          # also a 1x1x512^3 CT with a 2-class network (peak RSS)

3D case: a 1x4x240x240x155 synthetic brain-tumour MRI at 1 mm (the BraTS geometry), ``unet3d_mri`` (4 classes) in
eval mode, ROI 96^3, overlap 0.5, Gaussian blending, for MONAI fp32, medunet fp32 and medunet bf16 autocast. The
network is first trained for a few minutes on other synthetic cases of that geometry (cached in --weights), because
an untrained network's near-tied logits make any argmax comparison meaningless. Each method runs in its own
subprocess, so each peak RSS is its own. "network alone" is the time of the same number of bare forward passes;
stitching overhead is the rest of the total. Agreement is the share of voxels whose argmax equals MONAI fp32's.
The "-crop" rows use ``crop_foreground=True``: only the bounding box of the non-zero (brain) voxels is tiled, as
nnU-Net crops skull-stripped MRI. medunet's inferer keeps freed CPU memory for reuse while it runs
(``reuse_cpu_memory=True``, see ``medunet.utils.memory``); the "-no-reuse" row switches that off and the "+reuse" row
runs MONAI inside the same ``cpu_memory_reuse()`` scope, so that the table separates the allocator from the
stitching. "network alone" is timed under the same allocator setting as its row. A second table times the stitching
alone, with a 1x1x1 convolution as the network.

2D case: the 2015 paper network on a 1024x1024 image at ROI 572 and at ROI 1212 (one tile): time, number of
windows, and the ratio of input pixels fed to the network to output pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROI, OVERLAP, SHAPE = (96, 96, 96), 0.5, (1, 4, 240, 240, 155)


def reset_peak_rss() -> None:
    """Restart the peak-RSS count of this process (Linux); ru_maxrss would include the parent's peak."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_gib(field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of this process, in GiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError(f"{field} not in /proc/self/status")


def brats_geometry_cases(n: int, seed: int):
    from medunet.data.synthetic import make_brain_tumor_cases

    images, labels, _ = make_brain_tumor_cases(n, shape=SHAPE[2:], spacing=1.0, skull_stripped=True, seed=seed)
    mean = images.mean(axis=(2, 3, 4), keepdims=True, where=images != 0)
    std = images.std(axis=(2, 3, 4), keepdims=True, where=images != 0)
    return np.where(images != 0, (images - mean) / std, 0).astype(np.float32), labels


def train_weights(path: str, minutes: float) -> None:
    """A few minutes of training on 96^3 foreground-centred patches of synthetic BraTS-geometry cases."""
    from monai.losses import DiceCELoss

    from medunet.networks import unet3d_mri

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images, labels = brats_geometry_cases(6, seed=100)
    net = unet3d_mri(out_channels=4)
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    start, iteration = time.perf_counter(), 0
    while time.perf_counter() - start < minutes * 60:
        case = rng.integers(len(images))
        centres = np.argwhere(labels[case] > 0) if rng.random() < 0.67 else np.argwhere(images[case, 0] != 0)
        c = centres[rng.integers(len(centres))]
        lo = [int(np.clip(c[i] - ROI[i] // 2, 0, SHAPE[i + 2] - ROI[i])) for i in range(3)]
        box = tuple(slice(a, a + r) for a, r in zip(lo, ROI))
        x = torch.from_numpy(images[case][(slice(None), *box)][None])
        y = torch.from_numpy(labels[case][box][None, None].astype(np.int64))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pred = net(x)
        loss = loss_fn(pred.float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        iteration += 1
    print(f"trained {iteration} iterations in {minutes} min (last loss {loss.item():.3f}); saved {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(net.state_dict(), path)


def build_3d(ct: bool, weights: str | None, case: str | None):
    from medunet.networks import unet3d_mri

    torch.manual_seed(0)
    if ct:
        return unet3d_mri(1, 2, channels=(8, 16, 32, 64)).eval(), torch.randn(1, 1, 512, 512, 512)
    net = unet3d_mri(out_channels=4)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.eval(), torch.from_numpy(np.load(case))


def network_alone(net, windows: int, autocast: bool, reuse: bool, roi=ROI, channels: int = 4) -> float:
    """Seconds for `windows` bare forward passes at batch 1 (median of 5, scaled)."""
    from medunet.utils import cpu_memory_reuse

    x = torch.randn(1, channels, *roi)
    times = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), cpu_memory_reuse(reuse):
        net(x)
        for _ in range(5):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times)) * windows


def worker(method: str, out: str, ct: bool, weights: str | None, case: str | None) -> None:
    from monai.inferers import sliding_window_inference

    from medunet.inferers import overlap_tile_inference
    from medunet.inferers.overlap_tile import _foreground_box
    from medunet.inferers.tiling import plan_same_axis
    from medunet.utils import cpu_memory_reuse

    net, image = build_3d(ct, weights, case)
    if method.endswith("stitching"):
        net = torch.nn.Conv3d(image.shape[1], 4, 1).eval()
    roi = (128, 128, 128) if ct else ROI
    crop = method.endswith("crop")
    reuse = method == "monai-fp32+reuse" or (method.startswith("medunet") and not method.endswith("no-reuse"))
    box = _foreground_box(image, roi) if crop else None
    tiled = image.shape[2:] if box is None else [b.stop - b.start for b in box]
    windows = int(np.prod([len(plan_same_axis(n, r, OVERLAP).starts) for n, r in zip(tiled, roi)]))
    base = rss_gib("VmRSS")
    reset_peak_rss()
    start = time.perf_counter()
    with torch.no_grad():
        if method.startswith("monai"):
            with cpu_memory_reuse(reuse):
                pred = sliding_window_inference(image, roi, 1, net, overlap=OVERLAP, mode="gaussian")
        else:
            autocast = "bf16" if "bf16" in method else None
            pred = overlap_tile_inference(
                image,
                net,
                roi,
                overlap=OVERLAP,
                mode="gaussian",
                autocast=autocast,
                crop_foreground=crop,
                reuse_cpu_memory=reuse,
            )
    total = time.perf_counter() - start
    peak = rss_gib("VmHWM")
    labels = pred.argmax(1).to(torch.uint8).numpy()
    alone = None if ct else network_alone(net, windows, "bf16" in method, reuse, roi, image.shape[1])
    np.save(out + ".npy", labels)
    with open(out + ".json", "w") as f:
        json.dump({"total": total, "alone": alone, "windows": windows, "peak": peak, "base": base}, f)


def run_worker(method: str, ct: bool, tmp: str, weights: str) -> tuple[dict, np.ndarray]:
    out = os.path.join(tmp, method)
    cmd = [sys.executable, __file__, "--worker", method, "--out", out, "--weights", weights]
    cmd += ["--ct"] if ct else ["--case", os.path.join(tmp, "case.npy")]
    subprocess.run(cmd, check=True)
    with open(out + ".json") as f:
        stats = json.load(f)
    return stats, np.load(out + ".npy")


def bench_3d(ct: bool, weights: str) -> None:
    title = "1x1x512^3 CT, 2-class unet3d_mri(8..64), ROI 128^3" if ct else "1x4x240x240x155, unet3d_mri, ROI 96^3"
    print(f"\n## 3D: {title}, overlap {OVERLAP}, Gaussian\n")
    methods = ["monai-fp32", "medunet-fp32"]
    if not ct:
        methods += [
            "medunet-bf16",
            "medunet-fp32-no-reuse",
            "monai-fp32+reuse",
            "medunet-fp32-crop",
            "medunet-bf16-crop",
        ]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not ct:
            np.save(os.path.join(tmp, "case.npy"), brats_geometry_cases(1, seed=7)[0])
        for method in methods:
            rows[method] = run_worker(method, ct, tmp, weights)
        stitching = {} if ct else {m: run_worker(m, ct, tmp, weights) for m in ("monai-stitching", "medunet-stitching")}
    print_table(rows, "monai-fp32")
    if stitching:
        print("\nStitching alone (the same windows, a 1x1x1 convolution as the network):\n")
        print_table(stitching, "monai-stitching")


def print_table(rows: dict, baseline: str) -> None:
    reference = rows[baseline][1]
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
            f"{rows[baseline][0]['total'] / stats['total']:.2f}x | {(labels == reference).mean():.4%} | "
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
    parser.add_argument(
        "--weights",
        default=os.path.join(os.path.dirname(__file__), ".cache", "unet3d_mri_brats.pt"),
        help="trained unet3d_mri weights; trained and saved there first when missing",
    )
    parser.add_argument("--train-minutes", type=float, default=12.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.out, args.ct, args.weights, args.case)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.only in (None, "3d"):
        if not os.path.exists(args.weights):
            train_weights(args.weights, args.train_minutes)
        bench_3d(ct=False, weights=args.weights)
        if args.ct:
            bench_3d(ct=True, weights=args.weights)
    if args.only in (None, "2d"):
        bench_2d()


if __name__ == "__main__":
    main()
