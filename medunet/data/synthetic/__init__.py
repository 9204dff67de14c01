"""The embedded synthetic datasets, the default data of medunet's bundles: no download, reproducible from a seed.

- 2D cell microscopy: :func:`make_cells` (arrays) and :func:`write_cell_dataset` (``images/`` + ``labels/`` TIFFs),
  see :mod:`medunet.data.synthetic.cells`.
- 3D brain tumour MRI: :func:`make_brain_tumor_cases` (arrays), :func:`write_msd_dataset` (MSD Task01 layout) and
  :func:`write_brats_dataset` (BraTS 2021 layout), see :mod:`medunet.data.synthetic.brain`.

Every writer writes each file atomically (a temporary name, then ``os.replace``).
"""

from medunet.data.synthetic.brain import (
    brain_affine,
    make_brain_tumor_cases,
    write_brats_dataset,
    write_msd_dataset,
)
from medunet.data.synthetic.cells import make_cells, write_cell_dataset

__all__ = [
    "brain_affine",
    "make_brain_tumor_cases",
    "make_cells",
    "write_brats_dataset",
    "write_cell_dataset",
    "write_msd_dataset",
]
