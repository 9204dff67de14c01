"""Transforms: the U-Net weight map and the touching-cell training targets.

- :func:`unet_weight_map` / :class:`UNetWeightMapd`: ``w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))``.
- :func:`instance_to_semantic` / :class:`InstanceToSemanticd`: instance labels -> background / cell / border.
"""

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
    "InstanceToSemantic",
    "InstanceToSemanticd",
    "UNetWeightMap",
    "UNetWeightMapd",
    "class_weight_map",
    "instance_border",
    "instance_to_semantic",
    "nearest_instance_distances",
    "unet_weight_map",
]
