"""Transforms: the elastic deformations of the 2D and 3D U-Net papers (MONAI dictionary transforms)."""

from medunet.transforms.elastic import (
    GridElastic3Dd,
    GridElasticd,
    PaperElastic2Dd,
    control_grid_shape,
    dense_displacement,
)

__all__ = ["GridElastic3Dd", "GridElasticd", "PaperElastic2Dd", "control_grid_shape", "dense_displacement"]
