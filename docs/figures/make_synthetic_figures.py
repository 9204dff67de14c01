"""Draw the figures of docs/synthetic_data.md from the synthetic generators (a few seconds on a CPU).

python docs/figures/make_synthetic_figures.py          # writes docs/figures/synthetic_{cells,brain}.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from skimage.color import label2rgb
from skimage.segmentation import find_boundaries

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's medunet, not an installed one

from medunet.data.synthetic import make_brain_tumor_cases, make_cells
from medunet.transforms.brats import MSD_MODALITIES

HERE = Path(__file__).resolve().parent
# BraTS colours: edema green, necrosis / non-enhancing red, enhancing yellow
TUMOUR_COLOURS = ListedColormap([(0, 0, 0, 0), (0.1, 0.8, 0.2, 0.55), (0.9, 0.1, 0.1, 0.6), (1.0, 0.9, 0.0, 0.6)])


def cells_figure(path: Path, seed: int = 0, zoom: int = 160) -> None:
    (fluo,), (labels,) = make_cells(1, seed=seed)
    (phase,), _ = make_cells(1, seed=seed, style="phase")
    overlay = label2rgb(labels, bg_label=0, alpha=1.0)
    overlay[find_boundaries(labels, mode="inner")] = 0
    panels = [
        (fluo, "fluorescence", "gray"),
        (overlay, f"instance labels ({labels.max()} cells)", None),
        (phase, "phase contrast (same cells)", "gray"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 7.2))
    for column, (image, title, cmap) in enumerate(panels):
        axes[0, column].imshow(image, cmap=cmap)
        axes[0, column].set_title(title, fontsize=10)
        axes[0, column].add_patch(plt.Rectangle((0, 0), zoom, zoom, fill=False, color="tab:orange", lw=1.2))
        axes[1, column].imshow(image[:zoom, :zoom], cmap=cmap, interpolation="nearest")
        axes[1, column].set_title(f"top-left {zoom} x {zoom} px", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"make_cells(1, size=(512, 512), seed={seed})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=64)
    plt.close(fig)


def brain_figure(path: Path, seed: int = 0, cases: int = 3) -> None:
    images, labels, _ = make_brain_tumor_cases(cases, seed=seed)
    fig, axes = plt.subplots(cases, 6, figsize=(12, 2.2 * cases + 0.4))
    for row, (image, label) in enumerate(zip(images, labels)):
        z = int(np.argmax(np.count_nonzero(label, axis=(0, 1))))  # the axial slice with the most tumour
        for column, name in enumerate(MSD_MODALITIES):
            view = image[column, :, :, z].T  # x to the right, anterior up (radiological flip not applied)
            axes[row, column].imshow(view, cmap="gray", origin="lower", vmin=0, vmax=np.percentile(image[column], 99.7))
            axes[row, column].set_title(f"case {row}: {name}" if column == 0 else name, fontsize=9)
        axes[row, 4].imshow(image[2, :, :, z].T, cmap="gray", origin="lower", vmax=np.percentile(image[2], 99.7))
        axes[row, 4].imshow(
            label[:, :, z].T, cmap=TUMOUR_COLOURS, origin="lower", vmin=0, vmax=3, interpolation="nearest"
        )
        axes[row, 4].set_title("labels on T1gd", fontsize=9)
        x = int(np.argmax(np.count_nonzero(label, axis=(1, 2))))
        axes[row, 5].imshow(image[1, x].T, cmap="gray", origin="lower", vmax=np.percentile(image[1], 99.7))
        axes[row, 5].set_title("T1w, sagittal", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(
        f"make_brain_tumor_cases({cases}, seed={seed}): 64 x 64 x 48 voxels of 3 mm; "
        "edema green, necrosis red, enhancing yellow",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=64)
    plt.close(fig)


if __name__ == "__main__":
    cells_figure(HERE / "synthetic_cells.png")
    brain_figure(HERE / "synthetic_brain.png")
