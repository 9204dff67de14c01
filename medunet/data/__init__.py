"""Data: finding, checking and loading datasets, and the embedded synthetic datasets.

- :mod:`medunet.data.brain`: brain tumour MRI in the MSD Task01 and BraTS 2021 layouts (find, check, load).
- :mod:`medunet.data.cells`: 2D microscopy in the folders, Cell Tracking Challenge, ISBI 2012 and DSB 2018 layouts.
- :mod:`medunet.data.discovery`: ``DatasetError``, the folder helpers of the layouts, ``prepare_dataset``.
- :mod:`medunet.data.splits`: deterministic training / validation splits kept across runs.
- :mod:`medunet.data.writers`: atomic NIfTI / TIFF / PNG label writers that never write over an input.
- :mod:`medunet.data.synthetic`: the synthetic datasets the bundles use by default (``make_cells``,
  ``write_cell_dataset``, ``make_brain_tumor_cases``, ``write_msd_dataset``, ``write_brats_dataset``).
"""

import importlib

_MODULES = ("brain", "cells", "discovery", "splits", "synthetic", "writers")


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
