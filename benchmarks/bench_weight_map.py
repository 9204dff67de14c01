"""U-Net weight map: medunet against the naive definition (one full distance transform per instance), same images.

    python benchmarks/bench_weight_map.py                # 2D 512x512 ~125 cells, 3D 96^3 ~40 cells, best of 3
    python benchmarks/bench_weight_map.py --repeats 5 --sigma 5 --w0 10

The synthetic touching cells (seeded Voronoi cells cut to a radius around their seed) and the naive oracle live in
``tests/transforms/synthetic.py``. The max difference is taken over the whole map (``class_weights=None``).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.transforms.synthetic

from _timing import best_time

from medunet.transforms import unet_weight_map
from tests.transforms.synthetic import naive_separation_term, touching_cells

CASES = {
    "2d": dict(shape=(512, 512), count=125, radius=30, spacing=None),
    "3d": dict(shape=(96, 96, 96), count=40, radius=14, spacing=None),
    "3d-aniso": dict(shape=(48, 128, 128), count=40, radius=20, spacing=(2.5, 1.0, 1.0)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--w0", type=float, default=10.0)
    parser.add_argument("--sigma", type=float, default=5.0)
    args = parser.parse_args()
    print(
        f"cpu: {platform.processor() or platform.machine()}, numpy {np.__version__}, w0={args.w0}, sigma={args.sigma}"
    )
    header = (
        f"{'case':<9} {'shape':<12} {'cells':>5} {'naive s':>8} {'medunet s':>9} {'speed-up':>8} {'max |diff|':>10}"
    )
    print(header)
    print("-" * len(header))
    for name in args.cases:
        case = CASES[name]
        labels = touching_cells(case["shape"], case["count"], case["radius"], seed=0)
        spacing = case["spacing"]
        naive_s, naive = best_time(args.repeats, naive_separation_term, labels, args.w0, args.sigma, spacing)
        fast_s, fast = best_time(
            args.repeats, unet_weight_map, labels, args.w0, args.sigma, class_weights=None, spacing=spacing
        )
        diff = np.abs(fast - (1.0 + naive)).max()
        cells = np.unique(labels).size - 1
        shape = "x".join(map(str, labels.shape))
        print(
            f"{name:<9} {shape:<12} {cells:>5} {naive_s:>8.3f} {fast_s:>9.4f} {naive_s / fast_s:>7.1f}x {diff:>10.2e}"
        )


if __name__ == "__main__":
    main()
