"""Transforms: BraTS label conventions (MSD labels <-> WT/TC/ET regions, BraTS numbering)."""

from medunet.transforms.brats import (
    REGION_NAMES,
    BratsRegionsToMSDLabel,
    BratsRegionsToMSDLabeld,
    ConvertMSDToBratsRegions,
    ConvertMSDToBratsRegionsd,
    MapBratsLabelsToMSD,
    MapBratsLabelsToMSDd,
)

__all__ = [
    "REGION_NAMES",
    "BratsRegionsToMSDLabel",
    "BratsRegionsToMSDLabeld",
    "ConvertMSDToBratsRegions",
    "ConvertMSDToBratsRegionsd",
    "MapBratsLabelsToMSD",
    "MapBratsLabelsToMSDd",
]
