"""Transforms of the U-Net training recipe, as MONAI (dictionary) transforms.

- :func:`unet_weight_map` / :class:`UNetWeightMapd`: ``w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))``.
- :func:`instance_to_semantic` / :class:`InstanceToSemanticd`: instance labels -> background / cell / border.
- :class:`PaperElastic2Dd`, :class:`GridElastic3Dd`: the elastic deformations of the 2D and 3D U-Net papers.
- :class:`ConvertMSDToBratsRegionsd`, :class:`BratsRegionsToMSDLabeld`, :class:`MapBratsLabelsToMSDd`: BraTS label
  conventions (MSD labels <-> WT/TC/ET regions, original BraTS numbering).
- :class:`ForegroundLocationsd`: foreground/background voxel indices computed once per case for patch sampling.
"""

from medunet.transforms.brats import (
    REGION_NAMES,
    BratsRegionsToMSDLabel,
    BratsRegionsToMSDLabeld,
    ConvertMSDToBratsRegions,
    ConvertMSDToBratsRegionsd,
    MapBratsLabelsToMSD,
    MapBratsLabelsToMSDd,
)
from medunet.transforms.elastic import (
    GridElastic3Dd,
    GridElasticd,
    PaperElastic2Dd,
    control_grid_shape,
    dense_displacement,
)
from medunet.transforms.sampling import ForegroundLocationsd, strided_subset
from medunet.transforms.targets import (
    BACKGROUND,
    BORDER,
    CELL,
    InstanceToSemantic,
    InstanceToSemanticd,
    instance_border,
    instance_to_semantic,
)
from medunet.transforms.weight_map import (
    UNetWeightMap,
    UNetWeightMapd,
    class_weight_map,
    nearest_instance_distances,
    unet_weight_map,
)

__all__ = [
    "BACKGROUND",
    "BORDER",
    "CELL",
    "REGION_NAMES",
    "BratsRegionsToMSDLabel",
    "BratsRegionsToMSDLabeld",
    "ConvertMSDToBratsRegions",
    "ConvertMSDToBratsRegionsd",
    "ForegroundLocationsd",
    "GridElastic3Dd",
    "GridElasticd",
    "InstanceToSemantic",
    "InstanceToSemanticd",
    "MapBratsLabelsToMSD",
    "MapBratsLabelsToMSDd",
    "PaperElastic2Dd",
    "UNetWeightMap",
    "UNetWeightMapd",
    "class_weight_map",
    "control_grid_shape",
    "dense_displacement",
    "instance_border",
    "instance_to_semantic",
    "nearest_instance_distances",
    "strided_subset",
    "unet_weight_map",
]
