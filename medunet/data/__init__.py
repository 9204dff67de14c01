"""Data: the embedded synthetic datasets (:mod:`medunet.data.synthetic`) and atomic file writers."""

from medunet.data.synthetic import (
    MODALITIES,
    MSD_LABELS,
    MSD_MODALITIES,
    brain_affine,
    make_brain_tumor_cases,
    make_cells,
    write_brats_dataset,
    write_cell_dataset,
    write_msd_dataset,
)

__all__ = [
    "MODALITIES",
    "MSD_LABELS",
    "MSD_MODALITIES",
    "brain_affine",
    "make_brain_tumor_cases",
    "make_cells",
    "write_brats_dataset",
    "write_cell_dataset",
    "write_msd_dataset",
]
