"""Generation speed of the embedded synthetic datasets (targets: < 1 s per 512 x 512 cell image, well under 1 s per
96^3 brain case).

    python benchmarks/bench_synthetic_data.py          # best of 3 per row
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medunet, not an installed one

from _timing import best_time

from medunet.data.synthetic import make_brain_tumor_cases, make_cells, write_cell_dataset, write_msd_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(platform.processor() or platform.machine())
    print("| generator | size | seconds per item |")
    print("|---|---|---|")
    for style in ("fluorescence", "phase"):
        seconds = best_time(args.repeats, make_cells, 1, (512, 512), 0, style=style)[0]
        print(f"| make_cells(style={style!r}) | 512 x 512 | {seconds:.3f} |")
    for shape in ((64, 64, 48), (96, 96, 64), (96, 96, 96)):
        seconds = best_time(args.repeats, make_brain_tumor_cases, 1, shape, 0)[0]
        print(f"| make_brain_tumor_cases | {' x '.join(map(str, shape))} | {seconds:.3f} |")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = best_time(args.repeats, write_cell_dataset, Path(tmp) / "cells", 4)[0] / 4
        print(f"| write_cell_dataset (TIFF, zlib) | 512 x 512 | {seconds:.3f} |")
        seconds = best_time(args.repeats, write_msd_dataset, Path(tmp) / "msd", 4)[0] / 4
        print(f"| write_msd_dataset (NIfTI .gz) | 64 x 64 x 48 x 4 | {seconds:.3f} |")


if __name__ == "__main__":
    main()
