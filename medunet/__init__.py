"""medunet: 2D and 3D U-Net segmentation on MONAI.

Subpackages, one concept each (imported on first use, so ``import medunet`` stays cheap and bundle configs can
write ``"$import medunet"`` and then ``medunet.data.brain...``):

- :mod:`medunet.networks`: the dimension-generic :class:`~medunet.networks.UNet` and the paper presets.
- :mod:`medunet.inferers`: overlap-tile sliding-window inference for valid and same-padded networks.
- :mod:`medunet.transforms`: weight map, touching-cell targets, elastic deformations, BraTS label conventions.
- :mod:`medunet.losses`, :mod:`medunet.engines`: pixel-weighted cross-entropy and its wiring into MONAI trainers.
- :mod:`medunet.metrics`: IoU, pixel and Rand error, instance F1, BraTS region Dice and HD95.
- :mod:`medunet.postprocessing`: probabilities back to instance labels.
- :mod:`medunet.data`: dataset layouts, splits, writers and the embedded synthetic datasets.
- :mod:`medunet.handlers`, :mod:`medunet.bundle`: what the MONAI bundles use (resume, progress, reports, export).
- :mod:`medunet.utils`: precision policy.
"""

import importlib

__version__ = "0.2.0"

_SUBPACKAGES = (
    "bundle",
    "data",
    "engines",
    "handlers",
    "inferers",
    "losses",
    "metrics",
    "networks",
    "postprocessing",
    "transforms",
    "utils",
)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
